"""`abacus sync` / `abacus backfill` against the fake vendor servers, then `abacus report`, compared with
totals computed by hand from the scripted data (tests/sync/scenario.py) — on SQLite and Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from tests.sync import scenario as sc
from tests.sync.helpers import assert_no_secret, dump_text, stable_dump

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def _range(days) -> list[str]:
    return ["--from", days[0].isoformat(), "--to", days[-1].isoformat()]


def _assert_reports(report, contributions) -> None:
    assert report("user") == sc.expected_rows(contributions, "user")
    assert report("model") == sc.expected_rows(contributions, "model")


def test_sync_matches_hand_totals_and_rerun_changes_nothing(sync_env, cli, report, scenario, database_url):
    days = scenario.days
    first = cli("sync", *_range(days), "--format", "json", "--quiet")
    assert first.code == 0, first.err
    summary = first.json()
    assert summary["ok"] is True
    by_source = {(r["source"], r["org"]): r for r in summary["results"]}
    assert by_source[("anthropic", sc.ORG_ID)]["inserted"] == 11  # 7 analytics + 4 messages (D3)
    # D1/D2 Claude Code messages rows: superseded by the analytics rows of those days; the rows of
    # non-Claude-Code keys (prod-backend on D1 and D3, Console usage on D3) are dropped
    messages = by_source[("anthropic", sc.ORG_ID)]["streams"]["messages"]
    assert (messages["superseded"], messages["dropped"]) == (2, 3)
    _assert_reports(report, scenario.expected)
    before = stable_dump(database_url)

    again = cli("sync", *_range(days), "--format", "json", "--quiet")
    assert again.code == 0, again.err
    for r in again.json()["results"]:
        assert r["inserted"] == 0 and r["replaced"] == 0, r
        assert r["already_present"] + r["superseded"] == r["records_read"]
    assert stable_dump(database_url) == before
    _assert_reports(report, scenario.expected)


def test_overlapping_and_incremental_windows_change_nothing(sync_env, cli, report, scenario, database_url):
    d1, d2, d3, d4 = scenario.days
    assert cli("sync", "--from", d1.isoformat(), "--to", d3.isoformat(), "--quiet").code == 0
    assert cli("sync", "--from", d2.isoformat(), "--to", d4.isoformat(), "--quiet").code == 0
    _assert_reports(report, scenario.expected)
    before = stable_dump(database_url)
    incremental = cli("sync", "--quiet")  # since the watermarks, with overlap
    assert incremental.code == 0, incremental.err
    assert "inserted 0" in incremental.out
    assert stable_dump(database_url) == before


def test_incremental_first_sync_and_several_teams(sync_env, cli, report, scenario):
    res = cli("sync", "--quiet")  # no watermark yet: the last 7 days
    assert res.code == 0, res.err
    lines = res.out.strip().splitlines()
    assert len(lines) == 3  # one org + two teams, one line each
    assert all("read" in line and "inserted" in line and "already present" in line for line in lines)
    _assert_reports(report, scenario.expected)


def test_precedence_analytics_arriving_later_replaces_messages_rows(sync_env, cli, report, scenario, fake_anthropic):
    """D3 first has only messages-report rows; when Claude Code analytics rows for D3 show up, they become
    the day's Claude Code usage and the messages-derived rows of D3 are removed."""
    d1, d2, d3, d4 = scenario.days
    assert cli("sync", *_range(scenario.days), "--quiet").code == 0
    _assert_reports(report, scenario.expected)

    scenario.org.claude_code[d3.isoformat()] = [sc._cc_row(
        d3, {"type": "user_actor", "email_address": "dave.smith@example.com"},
        [sc._mb("claude-sonnet-4-20250514", 1500, 500, 200, 1500, 2)])]
    res = cli("sync", "--from", d3.isoformat(), "--to", d3.isoformat(), "--format", "json", "--quiet")
    assert res.code == 0, res.err
    anth = next(r for r in res.json()["results"] if r["source"] == "anthropic")
    assert anth["streams"]["claude_code"]["inserted"] == 1
    # the four stored D3 messages records went away (replaced), and re-read they are superseded
    assert (anth["streams"]["messages"]["replaced"], anth["streams"]["messages"]["superseded"]) == (4, 4)

    messages_d3 = {("dave.smith@example.com", "sonnet-4"), ("unmapped:cc-workspace-key", "haiku-4.5"),
                   ("dave.smith@example.com", "sonnet-4.5"), ("alice@example.com", "sonnet-4")}
    expected = [e for e in scenario.expected
                if not (e.day == d3 and e.requests == 0 and (e.person, e.model) in messages_d3)]
    expected.append(sc.Expect("dave.smith@example.com", "sonnet-4", d3, 1500, 1500, 200, 500, Decimal("0.02")))
    _assert_reports(report, expected)


def test_vendor_mappings_people_groups_spend_activity_and_cost(sync_env, cli, scenario, engine):
    from storage.tables import ApiKey, BillingGroup, Person, PersonActivity, SpendSnapshot, SyncRun, VendorCost

    assert cli("sync", *_range(scenario.days), "--quiet").code == 0
    with Session(engine) as s:
        keys = {k.external_id: k for k in s.exec(select(ApiKey))}
        assert keys["apikey_02ci"].email == "bob@example.com" and keys["apikey_02ci"].mapped_how == "vendor"
        assert keys["apikey_01dave"].email is None  # no creator: resolved by the name pattern at read time
        people = {p.email: p for p in s.exec(select(Person))}
        assert people["frank@example.com"].has_cursor_seat is False
        assert people["gina@example.com"].cursor_user_id == "42"
        assert people["carol@example.com"].anthropic_user_id == "user_03carol"
        eng = s.exec(select(BillingGroup).where(BillingGroup.name == "Engineering")).one()
        assert eng.source == "cursor" and eng.cycle_start == scenario.days[0]
        assert people["alice@example.com"].group_id == eng.id and people["frank@example.com"].group_id is None
        spend = {(x.org.split("…")[-1], x.email): x for x in s.exec(select(SpendSnapshot))}
        alice = spend[(scenario.cursor_keys[0][-4:], "alice@example.com")]
        assert (alice.on_demand_nanos, alice.overall_nanos) == (24_501_254_870, 32_007_504_560)  # 2450.125487 ¢ …
        gina = spend[(scenario.cursor_keys[1][-4:], "gina@example.com")]  # old shape: total 1000 ¢, 800 ¢ included
        assert (gina.on_demand_nanos, gina.overall_nanos) == (2_000_000_000, 10_000_000_000)
        costs = sorted(c.cost_nanos for c in s.exec(select(VendorCost)))
        assert costs == [100_000_000, 1_237_891_200]  # "10" ¢ and "123.78912" ¢
        acts = s.exec(select(PersonActivity)).all()
        cc = [a for a in acts if a.source == "claude_code"]
        assert len(cc) == 6 and sum(a.sessions for a in cc) == 5 + 1 + 1 + 1 + 1 + 1
        assert sum(a.edits_accepted for a in cc) == 6 * 6 and sum(a.edits_rejected for a in cc) == 6
        cursor = [a for a in acts if a.source == "cursor"]
        assert len(cursor) == 9 and sum(1 for a in cursor if a.is_active) == 5
        runs = s.exec(select(SyncRun)).all()
        assert len(runs) == 3 and all(r.status == "ok" and r.finished_at for r in runs)
        assert sum(r.inserted for r in runs) == len(scenario.expected)


def test_mapping_learned_later_reattributes_stored_usage(sync_env, cli, report, scenario):
    """A key the vendor did not attribute becomes attributable when its creator appears."""
    d1, d2, d3, d4 = scenario.days
    assert cli("sync", *_range(scenario.days), "--quiet").code == 0
    assert "unmapped:cc-workspace-key" in report("user")
    for k in scenario.org.api_keys:
        if k["id"] == "apikey_04ccws":
            k["created_by"] = {"id": "user_03carol", "type": "user"}
    assert cli("sync", "--from", d4.isoformat(), "--quiet").code == 0
    users = report("user")
    assert "unmapped:cc-workspace-key" not in users
    moved = [e for e in scenario.expected if e.person == "unmapped:cc-workspace-key"]
    expected = [e for e in scenario.expected if e not in moved] + [
        sc.Expect("carol@example.com", e.model, e.day, e.input, e.cache_write, e.cache_read, e.output, e.cost,
                  e.requests) for e in moved]
    assert users == sc.expected_rows(expected, "user")


def test_secrets_never_in_output_logs_or_database(sync_env, cli, scenario, database_url, fake_cursor, monkeypatch,
                                                  caplog):
    caplog.set_level("DEBUG")
    fake_cursor.faults.add("/teams/filtered-usage-events", "500", times=2)
    ok = cli("-v", "sync", *_range(scenario.days))
    bad_key = "sk-ant-admin01-" + "Q" * 60
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", f"{scenario.anthropic_key},{bad_key}")
    failed = cli("sync", "--source", "anthropic", "--days", "1", "--quiet")
    assert ok.code == 0 and failed.code == 1
    assert failed.err.count("\n") == 1 and "HTTP 401" in failed.err  # one line, the reason
    blob = "\n".join([ok.out, ok.err, failed.out, failed.err, caplog.text, dump_text(database_url)])
    assert_no_secret(blob, [*scenario.secrets, bad_key])


def _subprocess_env(sync_env, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE"))}
    env.update(sync_env)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env


def _abacus(args: list[str], env: dict, cwd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, **kw)


def test_real_process_sync_and_report(sync_env, scenario, tmp_path):
    env = _subprocess_env(sync_env)
    res = _abacus(["sync", *_range(scenario.days)], env, tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 3
    assert "day(s) to sync" in res.stderr  # plain progress lines on a non-terminal stderr
    import json

    for by in ("user", "model"):
        rep = _abacus(["report", "--format", "json", "--by", by, *_range(scenario.days)], env, tmp_path)
        assert rep.returncode == 0, rep.stderr
        assert sc.report_rows(json.loads(rep.stdout)) == sc.expected_rows(scenario.expected, by)
    assert_no_secret(res.stdout + res.stderr, scenario.secrets)


def test_backfill_killed_mid_page_resumes_exactly(sync_env, scenario, tmp_path, fake_cursor, engine):
    """SIGKILL the backfill while it waits for a Cursor events page of D2; the same backfill again
    resumes after the last completed day and ends with exact totals — no partial page, no duplicate.
    (The events are fetched ahead in a worker process: the page of D2 can be asked for while D1 is
    still being written, so the kill waits until D1 is recorded as done.)"""
    from storage.tables import SyncState

    d1, d2, d3, d4 = scenario.days
    reached, release = threading.Event(), threading.Event()
    d2_start = sc.day_ms(d2)

    def on_page(page: int) -> None:
        entry = fake_cursor.log[-1] if fake_cursor.log else None
        if entry and page == 2 and entry.body and entry.body.get("startDate") == d2_start and not release.is_set():
            reached.set()
            release.wait(20)

    fake_cursor.on_events_page = on_page
    fake_cursor.page_size = 2  # D2 has three events: two pages
    env = _subprocess_env(sync_env, ABACUS_SYNC_COMMIT_EVENTS="2", CURSOR_ADMIN_KEY=scenario.cursor_keys[0])
    proc = subprocess.Popen([sys.executable, "-m", "bot", "backfill", *_range(scenario.days), "--source", "cursor"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reached.wait(60), "the backfill never reached page 2 of D2"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Session(engine) as s:
                done = s.exec(select(SyncState.watermark).where(SyncState.source == "cursor",
                                                                SyncState.stream == "backfill:usage_events")).first()
            if done == d1.isoformat():
                break
            time.sleep(0.05)
        assert done == d1.isoformat(), "D1 was never recorded as done"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    fake_cursor.on_events_page = None
    mark = len(fake_cursor.log)

    res = _abacus(["backfill", *_range(scenario.days), "--source", "cursor"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    refetched = {e.body["startDate"] for e in fake_cursor.log[mark:] if e.path == "/teams/filtered-usage-events"}
    assert sc.day_ms(d1) not in refetched and d2_start in refetched  # resumed at D2, D1 was done

    import json

    cursor_only = [e for e in scenario.expected if e.requests and e.person != "gina@example.com"]  # team 1
    for by in ("user", "model"):
        rep = _abacus(["report", "--format", "json", "--by", by, "--source", "cursor", *_range(scenario.days)],
                      env, tmp_path)
        assert sc.report_rows(json.loads(rep.stdout)) == sc.expected_rows(cursor_only, by)


def test_backfill_is_resumable_and_reports_progress(sync_env, cli, report, scenario, engine):
    from storage.tables import SyncState

    res = cli("backfill", *_range(scenario.days))
    assert res.code == 0, res.err
    assert "done (" in res.err  # progress lines on stderr (not a terminal)
    _assert_reports(report, scenario.expected)
    with Session(engine) as s:
        states = {(x.source, x.stream): x.watermark for x in s.exec(select(SyncState))
                  if x.stream.startswith("backfill:")}
    assert states[("anthropic", "backfill:claude_code")] == scenario.days[-1].isoformat()
    again = cli("backfill", *_range(scenario.days), "--format", "json", "--quiet")
    assert again.code == 0
    assert all(r["records_read"] == 0 for r in again.json()["results"])  # nothing left to do


def test_usage_errors_exit_2_and_write_nothing(sync_env, cli, database_url):
    assert cli("backfill").code == 2
    assert cli("sync", "--source", "nope").code == 2
    assert cli("sync", "--from", "2026-13-01").code == 2
    future = (time.gmtime().tm_year + 1)
    assert cli("sync", "--from", f"{future}-01-01", "--to", f"{future}-01-02").code == 2
    assert cli("sync", "--days", "3", "--from", "2026-01-01").code == 2


def test_missing_key_for_requested_source_is_one_line(abacus_env, cli, monkeypatch):
    res = cli("sync", "--source", "cursor")
    assert res.code == 1 and res.err.strip() == "abacus: CURSOR_ADMIN_KEY is not set: cannot sync cursor"


def test_incremental_watermark_never_runs_ahead_of_now(sync_env, cli, engine, scenario):
    from core.sources.cursor import to_ms
    from storage.tables import SyncState

    t0 = to_ms(datetime.now(UTC))
    assert cli("sync", "--from", scenario.days[-1].isoformat(), "--quiet").code == 0
    with Session(engine) as s:
        marks = [int(x.watermark) for x in s.exec(select(SyncState).where(SyncState.stream == "usage_events"))]
    assert marks and all(t0 - 60_000 <= m <= t0 + 60_000 for m in marks)


def test_two_syncs_at_once_take_turns_and_count_once(sync_env, report, scenario, tmp_path):
    """Two `abacus sync` processes started together on a new database (a replica's scheduled sync
    and an admin's command, say): they migrate and sync one after the other, both succeed, and
    every total is exact. (Before the sync lock, one of them failed on a unique key.)"""
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "bot", "sync", "--from", scenario.days[0].isoformat(), "--to",
            scenario.days[-1].isoformat(), "--quiet"]
    env = {**os.environ, **sync_env}
    procs = [subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("Traceback" in err for _, err in outs)
    assert report("user") == sc.expected_rows(scenario.expected, "user")
    assert report("model") == sc.expected_rows(scenario.expected, "model")


def test_a_manual_mapping_made_before_the_vendor_lists_the_key_still_wins(sync_env, cli, report, scenario):
    """Usage seen under a key's name, mapped by hand, and only later listed by the vendor with a
    creator: the manual owner keeps all of it (was: the stored usage moved to the vendor's creator
    while new usage stayed with the manual owner — one key split between two people)."""
    d4 = scenario.days[-1]
    listed = next(k for k in scenario.org.api_keys if k["id"] == "apikey_02ci")  # "ci-bot-key", created by bob
    scenario.org.api_keys.remove(listed)
    assert cli("sync", *_range(scenario.days), "--quiet").code == 0
    assert "unmapped:ci-bot-key" in report("user")
    assert cli("map", "ci-bot-key", "dave@example.com", "--new-person").code == 0
    scenario.org.api_keys.append(listed)
    assert cli("sync", "--from", d4.isoformat(), "--quiet").code == 0
    ci = [e for e in scenario.expected if e.person == "bob@example.com" and e.model == "haiku-4.5"]
    assert len(ci) == 1
    expected = [e for e in scenario.expected if e not in ci] + [
        sc.Expect("dave@example.com", e.model, e.day, e.input, e.cache_write, e.cache_read, e.output, e.cost,
                  e.requests) for e in ci]
    assert report("user") == sc.expected_rows(expected, "user")
