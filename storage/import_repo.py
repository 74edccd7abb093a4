"""Import batches, Claude cost-export lines (and attaching their dollars to usage), Slack file
shares, and directory groups. Usage rows themselves go through `storage.usage_repo.write_usage`,
the same write path and natural keys as the API sync."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, text
from sqlmodel import Session, select

from core.groups import GroupPlan
from core.importers.claude import CostLine
from core.importers.costs import StoredUsage, split_cost
from core.importers.share import ShareStatus
from core.usage import CostBasis, Feed, Source
from storage.tables import BillingGroup, ImportBatch, Person, SlackFileImport, utcnow
from storage.usage_repo import _as_date, rebuild_rollup

COST_CSV_SOURCE = Feed.CLAUDE_COST_CSV.value
API_FEEDS = (Feed.CLAUDE_CODE_ANALYTICS.value, Feed.ANTHROPIC_MESSAGES.value)


# -- batches ---------------------------------------------------------------------------------------

def start_batch(*, session: Session, filename: str, sha256: str, fmt: str, created_by: str | None,
                via: str) -> ImportBatch:
    batch = ImportBatch(filename=filename[:255], sha256=sha256, format=fmt, created_by=created_by, via=via)
    session.add(batch)
    session.flush()
    return batch


def list_batches(*, session: Session, limit: int = 50) -> list[ImportBatch]:
    return list(session.exec(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)))


# -- Claude: API precedence and the cost export ----------------------------------------------------

def api_covered_person_days(*, session: Session, days: Iterable[date]) -> set[tuple[date, str]]:
    """(day, person) whose Claude Code usage came from the API sync (analytics or messages report):
    the API is the more detailed source, and an export of the same person-days would count the
    usage twice (a sync after an import removes the imported rows the same way)."""
    wanted = sorted(set(days))
    found: set[tuple[date, str]] = set()
    conn = session.connection()
    for i in range(0, len(wanted), 500):
        rows = conn.execute(text(
            "SELECT DISTINCT day, person FROM usage_event WHERE source = :s AND feed IN :feeds AND day IN :days")
            .bindparams(bindparam("feeds", expanding=True), bindparam("days", expanding=True)),
            {"s": Source.CLAUDE_CODE.value, "feeds": list(API_FEEDS), "days": wanted[i:i + 500]})
        found |= {(_as_date(d), str(p)) for d, p in rows}
    return found


def save_cost_lines(*, session: Session, lines: list[CostLine]) -> int:
    """Store cost-export lines (idempotent by natural key); returns how many were new."""
    if not lines:
        return 0
    conn = session.connection()
    keys = [line.natural_key for line in lines]
    stored: set[str] = set()
    for i in range(0, len(keys), 500):
        stored |= {k for (k,) in conn.execute(
            text("SELECT natural_key FROM vendor_cost WHERE source = :s AND natural_key IN :keys")
            .bindparams(bindparam("keys", expanding=True)), {"s": COST_CSV_SOURCE, "keys": keys[i:i + 500]})}
    new = [line for line in lines if line.natural_key not in stored]
    if new:
        conn.execute(text(
            "INSERT INTO vendor_cost (source, natural_key, org, day, description, model, workspace_id, cost_type, "
            "token_type, cost_nanos, person, api_key) VALUES (:source, :key, NULL, :day, :description, :model, "
            ":workspace, :cost_type, :token_type, :cost, :person, :api_key)"),
            [{"source": COST_CSV_SOURCE, "key": x.natural_key, "day": x.day, "description": x.display_model[:255],
              "model": x.model[:255], "workspace": x.workspace[:255] or None, "cost_type": x.cost_type or None,
              "token_type": x.token_type or None, "cost": x.cost_nanos, "person": x.person, "api_key": x.api_key}
             for x in new])
    return len(new)


def attach_vendor_costs(*, session: Session, days: Iterable[date]) -> tuple[int, int]:
    """Give the Claude Code usage of these days the vendor's dollars from stored cost-export lines
    (per person-day-model, `core.importers.costs.split_cost`), then rebuild the days' rollups.
    Returns (records now at the vendor's cost, cost lines with no matching usage)."""
    day_list = sorted(set(days))
    if not day_list:
        return 0, 0
    conn = session.connection()
    dollars: dict[tuple[date, str, str], int] = defaultdict(int)
    usage: dict[tuple[date, str, str], list[StoredUsage]] = defaultdict(list)
    for i in range(0, len(day_list), 500):
        chunk = {"days": day_list[i:i + 500]}
        for d, person, model, cost in conn.execute(text(
                "SELECT day, person, model, SUM(cost_nanos) FROM vendor_cost WHERE source = :s AND day IN :days "
                "GROUP BY day, person, model").bindparams(bindparam("days", expanding=True)),
                {"s": COST_CSV_SOURCE, **chunk}):
            dollars[(_as_date(d), person, model)] += int(cost)
        for d, person, model, ts_ms, key, estimated, tokens in conn.execute(text(
                "SELECT day, person, model, ts_ms, natural_key, estimated_cost_nanos, "
                "input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens + output_tokens "
                "FROM usage_event WHERE source = :s AND day IN :days").bindparams(bindparam("days", expanding=True)),
                {"s": Source.CLAUDE_CODE.value, **chunk}):
            usage[(_as_date(d), person, model)].append(StoredUsage(int(ts_ms), key, int(estimated or 0), int(tokens)))
    updates = []
    unmatched = 0
    for pdm, total in dollars.items():
        records = usage.get(pdm)
        if not records:
            unmatched += 1
            continue
        for (ts_ms, key), cost in split_cost(total, records).items():
            updates.append({"s": Source.CLAUDE_CODE.value, "d": pdm[0], "t": ts_ms, "k": key, "c": cost,
                            "b": CostBasis.VENDOR.value})
    if updates:
        conn.execute(text("UPDATE usage_event SET cost_nanos = :c, cost_basis = :b WHERE source = :s AND day = :d "
                          "AND ts_ms = :t AND natural_key = :k"), updates)
        rebuild_rollup(session=session, source=Source.CLAUDE_CODE.value, days=day_list)
    return len(updates), unmatched


def cost_line_days(*, session: Session, days: Iterable[date]) -> set[date]:
    """Which of these days have cost-export lines stored."""
    wanted = sorted(set(days))
    found: set[date] = set()
    for i in range(0, len(wanted), 500):
        found |= {_as_date(d) for (d,) in session.connection().execute(
            text("SELECT DISTINCT day FROM vendor_cost WHERE source = :s AND day IN :days")
            .bindparams(bindparam("days", expanding=True)), {"s": COST_CSV_SOURCE, "days": wanted[i:i + 500]})}
    return found


# -- directory groups -------------------------------------------------------------------------------

def directory_state(*, session: Session) -> tuple[dict[str, tuple[str | None, str | None]], dict[str, str]]:
    """(every person's email → (name, group name)), (every group name → its source)."""
    groups = {g.id: g for g in session.exec(select(BillingGroup))}
    people = {p.email: (p.name, groups[p.group_id].name if p.group_id in groups else None)
              for p in session.exec(select(Person).where(Person.is_removed == False))}  # noqa: E712
    # people with usage are known too, even before any vendor listed them as members
    for (email,) in session.connection().execute(text(
            "SELECT DISTINCT person FROM usage_person_total_day WHERE person NOT LIKE 'unmapped:%'")):
        people.setdefault(email, (None, None))
    return people, {g.name: g.source for g in groups.values()}


def apply_group_plan(*, session: Session, plan: GroupPlan) -> dict[str, int]:
    """Write the plan: create missing groups, set memberships, take leavers out of directory groups,
    delete directory groups left empty. Set-based: one statement per kind of change."""
    conn = session.connection()
    existing = {g.name: g for g in session.exec(select(BillingGroup))}
    created = 0
    for name in sorted(set(plan.assignments.values()) - set(existing)):
        group = BillingGroup(name=name, source="hibob")
        session.add(group)
        existing[name] = group
        created += 1
    session.flush()
    now = utcnow()
    current = dict(conn.execute(text("SELECT email, group_id FROM person")).all())
    missing = [e for e in plan.assignments if e not in current]  # known from their usage only
    if missing:
        conn.execute(text("INSERT INTO person (email, role, has_cursor_seat, has_claude_seat, is_removed, updated_at) "
                          "VALUES (:e, 'member', false, false, false, :now)"), [{"e": e, "now": now} for e in missing])
        current.update({e: None for e in missing})
    changes = [{"e": email, "g": existing[name].id, "now": now} for email, name in plan.assignments.items()
               if current.get(email, -1) != existing[name].id]
    if changes:
        conn.execute(text("UPDATE person SET group_id = :g, updated_at = :now WHERE email = :e"), changes)
    if plan.cleared:
        directory_ids = [g.id for g in existing.values() if g.source == "hibob"]
        conn.execute(text("UPDATE person SET group_id = NULL, updated_at = :now WHERE email IN :emails "
                          "AND group_id IN :ids").bindparams(bindparam("emails", expanding=True),
                                                            bindparam("ids", expanding=True)),
                     {"emails": plan.cleared, "ids": directory_ids or [-1], "now": now})
    removed = conn.execute(text(
        "DELETE FROM billing_group WHERE source = 'hibob' AND NOT EXISTS "
        "(SELECT 1 FROM person p WHERE p.group_id = billing_group.id)")).rowcount or 0
    return {"created": created, "moved": len(changes), "cleared": len(plan.cleared), "removed": removed}


# -- Slack file shares ------------------------------------------------------------------------------

CLAIM_LEASE = timedelta(minutes=15)  # a claim still `claimed` after this: its process died before the preview


# a share whose handling ended: another person sharing the same file (Slack keeps its id) is a new share
_SHARE_DONE = (ShareStatus.REFUSED, ShareStatus.IMPORTED, ShareStatus.CANCELLED)


def claim_shared_file(*, session: Session, file_id: str, user_id: str, channel: str | None) -> bool:
    """True for the first claim of a file id (any replica, any event); later claims see it taken —
    unless the first claimer died before its preview (still `claimed` after CLAIM_LEASE), or the
    earlier share ended and someone else shares the file now (a member's share was refused with
    "ask an admin to share it": the admin's share of the same file is previewed). The same
    person's second event of one share (`file_shared` and `message`) still finds it taken."""
    now = utcnow()
    result = session.connection().execute(text(
        "INSERT INTO slack_file_import (file_id, status, user_id, channel, created_at, updated_at) "
        "VALUES (:f, 'claimed', :u, :c, :now, :now) ON CONFLICT (file_id) DO UPDATE "
        "SET status = 'claimed', user_id = excluded.user_id, channel = excluded.channel, "
        "updated_at = excluded.updated_at "
        "WHERE (slack_file_import.status = 'claimed' AND slack_file_import.updated_at < :stale) "
        "OR (slack_file_import.status IN :done AND slack_file_import.user_id <> excluded.user_id)"
        ).bindparams(bindparam("done", expanding=True)),
        {"f": file_id, "u": user_id, "c": channel, "now": now, "stale": now - CLAIM_LEASE,
         "done": [s.value for s in _SHARE_DONE]})
    return (result.rowcount or 0) == 1


def release_shared_file(*, session: Session, file_id: str) -> None:
    """Give back a claim whose preview failed for a reason outside the file (Slack, the database):
    the next share of the file is handled as a first one."""
    session.connection().execute(text("DELETE FROM slack_file_import WHERE file_id = :f AND status = :s"),
                                 {"f": file_id, "s": ShareStatus.CLAIMED.value})


def shared_file(*, session: Session, file_id: str) -> SlackFileImport | None:
    return session.get(SlackFileImport, file_id)


def move_shared_file(*, session: Session, file_id: str, from_status: Iterable[str], to_status: str,
                     stale: tuple[str, datetime] | None = None, **fields) -> bool:
    """Compare-and-set the status (a double click or a retry finds it already moved: False).
    `stale` = (status, before): also take a row left in that status since before then (the
    process that set it died)."""
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    where = "status IN :from" + (" OR (status = :stale_status AND updated_at < :stale_before)" if stale else "")
    params = {"to": to_status, "now": utcnow(), "f": file_id, "from": list(from_status), **fields}
    if stale:
        params |= {"stale_status": stale[0], "stale_before": stale[1]}
    result = session.connection().execute(text(
        f"UPDATE slack_file_import SET status = :to, updated_at = :now{', ' + sets if sets else ''} "
        f"WHERE file_id = :f AND ({where})").bindparams(bindparam("from", expanding=True)), params)
    return (result.rowcount or 0) == 1


def note_preview_message(*, session: Session, file_id: str, channel: str, ts: str) -> None:
    session.connection().execute(text(
        "UPDATE slack_file_import SET channel = :c, message_ts = :ts, updated_at = :now WHERE file_id = :f"),
        {"c": channel, "ts": ts, "now": utcnow(), "f": file_id})
