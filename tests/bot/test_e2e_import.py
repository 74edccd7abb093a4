"""End to end: CSV files shared with the real `python -m bot run` process through the fake Slack
(Web API, Socket Mode, authenticated file hosting). Totals are worked out by hand from the CSV."""

from __future__ import annotations

import json
import time

import pytest

from bot.ids import ActionId, BlockId
from storage.db import make_engine, upgrade
from tests.fakes.slack_pytest import launch_bot_process

pytestmark = pytest.mark.e2e

ADMIN = "U0IMPADMIN"
MEMBER = "U0IMPMEMBER"
TEAM_CSV = (
    b"Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
    b"Total Tokens,Cost\n"
    b'"2025-11-13T18:36:05.846Z","developer@company.com","Included","auto","No","28342","775","105891","21282",'
    b'"156290","0.19"\n'
    b'"2025-11-13T13:35:04.658Z","developer@company.com","On-Demand","gpt-5-codex","No","0","8263","66964","1612",'
    b'"76839","0.03"\n'
    b'"2025-12-16T03:02:51.377Z","admin@company.com","Included","claude-4.5-opus-high-thinking","No","55747",'
    b'"14237","1529932","14842","1614758","1.78"\n'
)


@pytest.fixture(scope="module")
def env(fake_slack_module, tmp_path_factory):
    fake = fake_slack_module
    folder = tmp_path_factory.mktemp("bot-import")
    url = f"sqlite:///{folder / 'abacus.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    fake.register_user(ADMIN, "boss@example.com", "boss")
    fake.register_user(MEMBER, "member@example.com", "member")
    bot = launch_bot_process(fake, {"DATABASE_URL": url, "ABACUS_ADMINS": ADMIN}, log_dir=folder)
    yield {"fake": fake, "url": url}
    code = bot.stop()
    assert code == 0, bot.describe()
    assert "Traceback" not in bot.stderr(), bot.describe()


def _report(url: str, monkeypatch, capsys) -> dict:
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", url)
    capsys.readouterr()
    code = main(["report", "--format", "json", "--from", "2025-11-01", "--to", "2025-12-31"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    return {r["key"]: r for r in data["rows"]} | {"TOTAL": data["totals"]}


def _usage_events(url: str) -> int:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()
    finally:
        engine.dispose()


def _previews(fake, since: int) -> list:
    return [c for c in fake.calls("chat.postMessage", since=since) if "Import preview" in (c.get("text") or "")]


def _share_both_events(fake, file_id: str, user: str) -> None:
    fake.send(fake.file_shared(file_id, user_id=user))
    fake.send(fake.message_with_file(file_id, user_id=user))


def test_cursor_csv_preview_import_report_then_same_file_again(env, monkeypatch, capsys):
    fake = env["fake"]
    shared = fake.register_file("team.csv", TEAM_CSV, "text/csv", user_id=ADMIN, channels=[fake.dm_channel(ADMIN)])
    mark = fake.mark()
    _share_both_events(fake, shared["id"], ADMIN)
    preview = fake.wait_call("chat.postMessage", lambda c: "Import preview" in (c.get("text") or ""), timeout=30,
                             since=mark)
    time.sleep(1.5)  # the second event has been handled by now
    assert len(_previews(fake, mark)) == 1
    assert [d.file_id for d in fake.downloads()].count(shared["id"]) == 1
    assert all(d.authorized for d in fake.downloads())
    blocks = json.dumps(preview["blocks"], ensure_ascii=False)
    assert "Cursor usage export" in blocks and "2025-11-13 → 2025-12-16" in blocks and "1,847,887" in blocks
    assert _usage_events(env["url"]) == 0  # a preview writes nothing

    click = fake.mark()
    fake.send(fake.block_actions(ActionId.IMPORT_CONFIRM, user_id=ADMIN, message_ts=preview.response["ts"],
                                 channel_id=preview.response["channel"]))
    update = fake.wait_call("chat.update", timeout=30, since=click)
    assert update["ts"] == preview.response["ts"]
    assert update["text"].startswith("Imported team.csv: 3 new, 0 already present")
    assert BlockId.IMPORT_ACTIONS not in json.dumps(update["blocks"])  # the buttons are gone
    # a double click imports nothing more and posts nothing
    fake.send(fake.block_actions(ActionId.IMPORT_CONFIRM, user_id=ADMIN, message_ts=preview.response["ts"],
                                 channel_id=preview.response["channel"]))
    time.sleep(1.0)
    assert len(fake.calls("chat.update", since=click)) == 1

    rows = _report(env["url"], monkeypatch, capsys)
    # developer: 775 + 8263 input, 28342 cache write, 105891 + 66964 cache read, 21282 + 1612 output
    assert rows["developer@company.com"]["input_tokens"] == 9038
    assert rows["developer@company.com"]["cache_write_tokens"] == 28342
    assert rows["developer@company.com"]["cache_read_tokens"] == 172855
    assert rows["developer@company.com"]["output_tokens"] == 22894
    assert rows["developer@company.com"]["cost_usd"] == 0.22 and rows["developer@company.com"]["requests"] == 2
    assert rows["admin@company.com"]["total_tokens"] == 1614758 and rows["admin@company.com"]["cost_usd"] == 1.78
    assert rows["TOTAL"]["total_tokens"] == 1847887 and rows["TOTAL"]["cost_usd"] == 2.0

    again = fake.register_file("team (1).csv", TEAM_CSV, "text/csv", user_id=ADMIN,
                               channels=[fake.dm_channel(ADMIN)])
    mark = fake.mark()
    _share_both_events(fake, again["id"], ADMIN)
    preview2 = fake.wait_call("chat.postMessage", lambda c: "Import preview" in (c.get("text") or ""), timeout=30,
                              since=mark)
    assert "0 new" in preview2["text"]
    click = fake.mark()
    fake.send(fake.block_actions(ActionId.IMPORT_CONFIRM, user_id=ADMIN, message_ts=preview2.response["ts"],
                                 channel_id=preview2.response["channel"]))
    update = fake.wait_call("chat.update", timeout=30, since=click)
    assert update["text"].startswith("Imported team (1).csv: 0 new, 3 already present")
    assert _report(env["url"], monkeypatch, capsys) == rows
    assert fake.violations == []


def test_a_members_share_is_refused_without_download(env):
    fake = env["fake"]
    shared = fake.register_file("mine.csv", TEAM_CSV, "text/csv", user_id=MEMBER, channels=["C0GENERAL"])
    mark = fake.mark()
    fake.send(fake.file_shared(shared["id"], user_id=MEMBER, channel_id="C0GENERAL"))
    fake.send(fake.message_with_file(shared["id"], user_id=MEMBER, channel_id="C0GENERAL"))
    reply = fake.wait_call("chat.postEphemeral", lambda c: "only Abacus admins" in (c.get("text") or ""), timeout=30,
                           since=mark)
    assert reply["user"] == MEMBER and reply["channel"] == "C0GENERAL"
    time.sleep(1.0)
    assert len([c for c in fake.calls("chat.postEphemeral", since=mark) if "admins" in (c.get("text") or "")]) == 1
    assert shared["id"] not in [d.file_id for d in fake.downloads()]
    assert _previews(fake, mark) == []


def test_non_csv_and_oversized_files_are_refused_without_download(env):
    fake = env["fake"]
    png = fake.register_file("chart.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", user_id=ADMIN)
    big = fake.register_file("huge.csv", b"Date,User\n", "text/csv", user_id=ADMIN)
    mark = fake.mark()
    fake.send(fake.file_shared(png["id"], user_id=ADMIN))
    fake.wait_call("chat.postMessage", lambda c: "only CSV files" in (c.get("text") or ""), timeout=30, since=mark)
    fake.send(fake.user_message("", user_id=ADMIN, subtype="file_share", files=[{**big, "size": 60 * 1024 * 1024}]))
    fake.wait_call("chat.postMessage", lambda c: "over 50 MB" in (c.get("text") or ""), timeout=30, since=mark)
    downloaded = [d.file_id for d in fake.downloads()]
    assert png["id"] not in downloaded and big["id"] not in downloaded


def test_a_file_that_is_no_export_gets_the_expected_headers_and_cancel_closes_a_preview(env):
    fake = env["fake"]
    junk = fake.register_file("notes.csv", b"Day,Person,Spend\n2026-01-01,x@example.com,1\n", "text/csv",
                              user_id=ADMIN)
    mark = fake.mark()
    fake.send(fake.file_shared(junk["id"], user_id=ADMIN))
    refusal = fake.wait_call("chat.postMessage", lambda c: "Cannot import notes.csv" in (c.get("text") or ""),
                             timeout=30, since=mark)
    assert "Email,Department" in json.dumps(refusal["blocks"])
    ok = fake.register_file("cancel-me.csv", TEAM_CSV, "text/csv", user_id=ADMIN)
    fake.send(fake.file_shared(ok["id"], user_id=ADMIN))
    preview = fake.wait_call("chat.postMessage", lambda c: "Import preview: cancel-me.csv" in (c.get("text") or ""),
                             timeout=30, since=mark)
    click = fake.mark()
    fake.send(fake.block_actions(ActionId.IMPORT_CANCEL, user_id=ADMIN, message_ts=preview.response["ts"],
                                 channel_id=preview.response["channel"]))
    update = fake.wait_call("chat.update", timeout=30, since=click)
    assert "cancelled" in update["text"]


def _groups(url: str) -> dict[str, list[str]]:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[str]] = {n: [] for (n,) in conn.execute(text("SELECT name FROM billing_group"))}
            for name, email in conn.execute(text("SELECT g.name, p.email FROM person p JOIN billing_group g "
                                                 "ON g.id = p.group_id ORDER BY p.email")):
                out[name].append(email)
            return out
    finally:
        engine.dispose()


def _group_id(url: str, name: str) -> int:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT id FROM billing_group WHERE name = :n"), {"n": name}).scalar_one()
    finally:
        engine.dispose()


def test_app_home_groups_create_rename_move(env):
    from bot.ids import CallbackId

    fake, url = env["fake"], env["url"]
    mark = fake.mark()
    fake.send(fake.app_home_opened(ADMIN))
    fake.wait_call("views.publish", lambda c: c["user_id"] == ADMIN, since=mark, timeout=30)
    home = fake.home_view(ADMIN)
    assert "*Groups*" in json.dumps(home["blocks"]) and ActionId.GROUP_CREATE.value in json.dumps(home["blocks"])

    def open_modal(action: str, value: str | None = None) -> str:
        m = fake.mark()
        fake.send(fake.block_actions(action, value, user_id=ADMIN, view_id=fake.home_view(ADMIN)["id"]))
        opened = fake.wait_call("views.open", since=m, timeout=30)
        assert opened.ok
        return opened.response["view"]["id"]

    view_id = open_modal(ActionId.GROUP_CREATE)
    name = {BlockId.GROUP_NAME: {ActionId.GROUP_NAME_INPUT: "Platform"}}
    ok = fake.send(fake.view_submission(CallbackId.GROUP_NAME_MODAL, name, user_id=ADMIN, view_id=view_id))
    assert not (ok.get("payload") or {}).get("response_action")
    assert "Platform" in _groups(url)
    # the same name again (any case) and a formula are refused on the field, nothing changes
    for bad, why in (("platform", "already exists"), ("=HYPERLINK(1)", "spreadsheet formula"), ("  ", "name")):
        view_id = open_modal(ActionId.GROUP_CREATE)
        res = fake.send(fake.view_submission(CallbackId.GROUP_NAME_MODAL, {
            BlockId.GROUP_NAME: {ActionId.GROUP_NAME_INPUT: bad}}, user_id=ADMIN, view_id=view_id))
        assert res["payload"]["response_action"] == "errors"
        assert why in res["payload"]["errors"][BlockId.GROUP_NAME]
    assert list(_groups(url)) == ["Platform"]

    platform = _group_id(url, "Platform")
    view_id = open_modal(ActionId.GROUP_RENAME, str(platform))
    fake.send(fake.view_submission(CallbackId.GROUP_NAME_MODAL, {
        BlockId.GROUP_NAME: {ActionId.GROUP_NAME_INPUT: "Platform > Infra"}}, user_id=ADMIN, view_id=view_id))
    assert list(_groups(url)) == ["Platform > Infra"]

    view_id = open_modal(ActionId.GROUP_ASSIGN)
    move = {BlockId.GROUP_EMAIL: {ActionId.GROUP_EMAIL_INPUT: "Developer@Company.com"},
            BlockId.GROUP_CHOICE: {ActionId.GROUP_SELECT: {"type": "static_select",
                                                           "selected_option": {"value": str(platform)}}}}
    ok = fake.send(fake.view_submission(CallbackId.GROUP_ASSIGN_MODAL, move, user_id=ADMIN, view_id=view_id))
    assert not (ok.get("payload") or {}).get("response_action")
    assert _groups(url) == {"Platform > Infra": ["developer@company.com"]}

    # a member can neither open the modals nor forge a submission
    forged = fake.send(fake.view_submission(CallbackId.GROUP_NAME_MODAL, {
        BlockId.GROUP_NAME: {ActionId.GROUP_NAME_INPUT: "Mine"}}, user_id=MEMBER, private_metadata='{"v":1,"g":null}'))
    assert forged["payload"]["response_action"] == "errors"
    m = fake.mark()
    fake.send(fake.block_actions(ActionId.GROUP_CREATE, user_id=MEMBER, channel_id=fake.dm_channel(MEMBER)))
    time.sleep(1.0)
    assert fake.calls("views.open", since=m) == []
    assert _groups(url) == {"Platform > Infra": ["developer@company.com"]}
    assert fake.violations == []


def test_hibob_share_applies_only_the_ticked_moves(env):
    fake, url = env["fake"], env["url"]
    directory = (b"Email,Department,Group,Team\n"
                 b"developer@company.com,Eng,Platform,Tools\nadmin@company.com,Eng,Platform,Tools\n"
                 b"someone@company.com,Eng,Platform,Tools\n")
    shared = fake.register_file("people.csv", directory, "text/csv", user_id=ADMIN)
    mark = fake.mark()
    fake.send(fake.file_shared(shared["id"], user_id=ADMIN))
    preview = fake.wait_call("chat.postMessage", lambda c: "Import preview: people.csv" in (c.get("text") or ""),
                             timeout=30, since=mark)
    text = json.dumps(preview["blocks"], ensure_ascii=False)
    assert "HiBob people directory" in text and "someone@company.com" in text  # not matched
    assert _groups(url) == {"Platform > Infra": ["developer@company.com"]}  # the preview wrote nothing
    click = fake.block_actions(ActionId.IMPORT_CONFIRM, user_id=ADMIN, message_ts=preview.response["ts"],
                               channel_id=preview.response["channel"])
    # untick the developer's move: only admin@company.com moves to Platform > Tools
    click["state"] = {"values": {f"{BlockId.IMPORT_MOVES_PREFIX}0": {ActionId.IMPORT_MOVES: {
        "type": "checkboxes", "selected_options": [{"value": "admin@company.com"}]}}}}
    m = fake.mark()
    fake.send(click)
    update = fake.wait_call("chat.update", timeout=30, since=m)
    assert "1 moved" in update["text"]
    assert _groups(url) == {"Platform > Infra": ["developer@company.com"], "Platform > Tools": ["admin@company.com"]}


def test_a_file_with_no_valid_row_is_refused_with_its_errors(env):
    fake = env["fake"]
    bad = (b"Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
           b"Total Tokens,Cost\n2026-01-01T00:00:00Z,dev@example.com,Included,auto,No,x,1,1,1,4,0.01\n")
    shared = fake.register_file("broken.csv", bad, "text/csv", user_id=ADMIN)
    mark = fake.mark()
    fake.send(fake.file_shared(shared["id"], user_id=ADMIN))
    refusal = fake.wait_call("chat.postMessage", lambda c: "Cannot import broken.csv" in (c.get("text") or ""),
                             timeout=30, since=mark)
    assert "row 2, Input (w/ Cache Write)" in json.dumps(refusal["blocks"])
    assert _previews(fake, mark) == []
