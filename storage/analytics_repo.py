"""Read queries of the Slack bot: summaries over the daily rollup, people, seats, productivity,
incidents and sync runs. Every function takes `*, session`, returns plain dataclasses and writes
nothing. Sums are exact integers (tokens, nano-dollars)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, text
from sqlmodel import Session

from core.periods import DateRange
from core.report import NO_GROUP
from core.sync import RunStatus
from core.usage import Source
from storage.job_lock import SYNC_LOCK, live_holders
from storage.rollup_sql import FULL, MODEL_DAY, PERSON_DAY
from storage.rollup_sql import period_where as _where
from storage.rollup_sql import run_rollup_query as _run

UNMAPPED_LIKE = "unmapped:%"
_TOKENS = "(d.input_tokens + d.output_tokens + d.cache_write_tokens + d.cache_read_tokens)"
# Claude Code's and Cursor's spend as two columns; the query binds :cc and :cu (see _tool_params).
_SPEND_PER_TOOL = ("SUM(CASE WHEN d.source = :cc THEN d.cost_nanos ELSE 0 END), "
                   "SUM(CASE WHEN d.source = :cu THEN d.cost_nanos ELSE 0 END) ")


def _d(value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _ts(value) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _i(value) -> int:
    return int(value or 0)


def _nonempty(people: Sequence[str] | None) -> list[str] | None:
    """A people filter that SQL can take: an empty group matches nobody (not everybody)."""
    if people is None:
        return None
    return list(people) or [""]


def group_members(*, session: Session, name: str) -> list[str] | None:
    """The emails of a group's members (case-insensitive name); None when there is no such group."""
    group = session.connection().execute(
        text("SELECT id FROM billing_group WHERE LOWER(name) = LOWER(:n)"), {"n": name.strip()}).first()
    if group is None:
        return None
    return [e for (e,) in session.connection().execute(
        text("SELECT email FROM person WHERE group_id = :g ORDER BY email"), {"g": group[0]})]


def group_names(*, session: Session) -> list[str]:
    return [n for (n,) in session.connection().execute(text("SELECT name FROM billing_group ORDER BY name"))]


def _tool_params(params: dict) -> dict:
    params["cc"], params["cu"] = Source.CLAUDE_CODE.value, Source.CURSOR.value
    return params


def _spend_per_person(session: Session, where: str, params: dict) -> list[tuple[str, int]]:
    rows = _run(session, f"SELECT d.person, SUM(d.cost_nanos) FROM {PERSON_DAY} d WHERE {where} GROUP BY d.person",
                params)
    return [(str(p), _i(c)) for p, c in rows]


# --- usage -----------------------------------------------------------------------------------------

@dataclass(slots=True)
class SourceTotals:
    cost_nanos: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(slots=True)
class PeriodSummary:
    period: DateRange
    cost_nanos: int
    total_tokens: int
    requests: int
    active_people: int  # distinct people (unattributed keys not counted)
    active_days: int
    by_source: dict[str, SourceTotals] = field(default_factory=dict)


def period_summary(*, session: Session, period: DateRange, source: str | None = None,
                   person: str | None = None, people: Sequence[str] | None = None) -> PeriodSummary:
    """`people`: only these people (a group's members)."""
    where, params = _where(period, source=source, person=person, people=_nonempty(people))
    by_source: dict[str, SourceTotals] = {}
    totals_table = PERSON_DAY if person or people is not None else MODEL_DAY
    for row in _run(session, "SELECT d.source, SUM(d.cost_nanos), SUM(d.input_tokens), SUM(d.output_tokens), "
                             "SUM(d.cache_write_tokens), SUM(d.cache_read_tokens), SUM(d.requests) "
                             f"FROM {totals_table} d WHERE {where} GROUP BY d.source", params):
        by_source[str(row[0])] = SourceTotals(*(_i(v) for v in row[1:]))
    days = _run(session, f"SELECT COUNT(DISTINCT d.day) FROM {totals_table} d WHERE {where}", params).scalar_one()
    # DISTINCT in a subquery: Postgres hashes it (COUNT(DISTINCT …) sorts, 2-3× slower here)
    people = _run(session, f"SELECT COUNT(*) FROM (SELECT DISTINCT d.person FROM {PERSON_DAY} d WHERE {where}) x "
                           f"WHERE x.person NOT LIKE '{UNMAPPED_LIKE}'", params).scalar_one()
    return PeriodSummary(period=period, cost_nanos=sum(s.cost_nanos for s in by_source.values()),
                         total_tokens=sum(s.total_tokens for s in by_source.values()),
                         requests=sum(s.requests for s in by_source.values()), active_people=_i(people),
                         active_days=_i(days), by_source=by_source)


@dataclass(frozen=True, slots=True)
class DailySpend:
    day: date
    source: str
    cost_nanos: int
    tokens: int


def daily_spend(*, session: Session, period: DateRange, source: str | None = None,
                person: str | None = None, people: Sequence[str] | None = None) -> list[DailySpend]:
    """Spend and tokens per day and tool, chronological (days without usage are absent)."""
    where, params = _where(period, source=source, person=person, people=_nonempty(people))
    table = PERSON_DAY if person or people is not None else MODEL_DAY
    rows = _run(session, f"SELECT d.day, d.source, SUM(d.cost_nanos), SUM({_TOKENS}) FROM {table} d "
                         f"WHERE {where} GROUP BY d.day, d.source ORDER BY d.day, d.source", params)
    return [DailySpend(_d(r[0]), str(r[1]), _i(r[2]), _i(r[3])) for r in rows]


@dataclass(slots=True)
class PersonUsage:
    person: str  # email, or `unmapped:<key>`
    cost_nanos: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    requests: int = 0
    active_days: int = 0
    last_day: date | None = None
    claude_code_nanos: int = 0
    cursor_nanos: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def is_unmapped(self) -> bool:
        return self.person.startswith("unmapped:")


def people_usage(*, session: Session, period: DateRange, source: str | None = None,
                 people: Sequence[str] | None = None) -> list[PersonUsage]:
    """One row per person with usage in the period, most expensive first."""
    if people is not None and not people:
        return []
    where, params = _where(period, source=source, people=people)
    rows = _run(session, "SELECT d.person, SUM(d.cost_nanos), SUM(d.input_tokens), SUM(d.output_tokens), "
                         "SUM(d.cache_write_tokens), SUM(d.cache_read_tokens), SUM(d.requests), COUNT(DISTINCT d.day), "
                         f"MAX(d.day), {_SPEND_PER_TOOL}"
                         f"FROM {PERSON_DAY} d WHERE {where} GROUP BY d.person", _tool_params(params))
    out = [PersonUsage(person=str(r[0]), cost_nanos=_i(r[1]), input_tokens=_i(r[2]), output_tokens=_i(r[3]),
                       cache_write_tokens=_i(r[4]), cache_read_tokens=_i(r[5]), requests=_i(r[6]),
                       active_days=_i(r[7]), last_day=_d(r[8]), claude_code_nanos=_i(r[9]), cursor_nanos=_i(r[10]))
           for r in rows]
    out.sort(key=lambda p: (-p.cost_nanos, -p.total_tokens, p.person))
    return out


def person_costs(*, session: Session, period: DateRange, source: str | None = None,
                 people: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """(person, spend) for everyone with usage in the period, most expensive first. The lean
    query behind rankings: one sum per person, details are fetched for the few shown."""
    where, params = _where(period, source=source, people=_nonempty(people))
    return sorted(_spend_per_person(session, where, params), key=lambda r: (-r[1], r[0]))


def cost_by_person(*, session: Session, period: DateRange, people: Sequence[str],
                   source: str | None = None) -> dict[str, int]:
    if not people:
        return {}
    where, params = _where(period, source=source, people=people)
    return dict(_spend_per_person(session, where, params))


def top_model_by_person(*, session: Session, period: DateRange, people: Sequence[str],
                        source: str | None = None) -> dict[str, str]:
    """Each person's most expensive model in the period (ties: more tokens, then name)."""
    if not people:
        return {}
    where, params = _where(period, source=source, people=people)
    best: dict[str, tuple[int, int, str]] = {}
    for person, model, cost, tokens in _run(
            session, f"SELECT d.person, d.model, SUM(d.cost_nanos), SUM({_TOKENS}) FROM {FULL} d "
                     f"WHERE {where} GROUP BY d.person, d.model", params):
        rank = (-_i(cost), -_i(tokens), str(model))  # smaller is better
        if person not in best or rank < best[person]:
            best[person] = rank
    return {p: rank[2] for p, rank in best.items()}


@dataclass(slots=True)
class ModelUsage:
    model: str
    cost_nanos: int
    total_tokens: int
    requests: int
    people: int
    claude_code_nanos: int
    cursor_nanos: int


def models_usage(*, session: Session, period: DateRange, source: str | None = None,
                 person: str | None = None, people: Sequence[str] | None = None) -> list[ModelUsage]:
    where, params = _where(period, source=source, person=person, people=_nonempty(people))
    rows = _run(session, f"SELECT d.model, SUM(d.cost_nanos), SUM({_TOKENS}), SUM(d.requests), "
                         f"COUNT(DISTINCT CASE WHEN d.person NOT LIKE '{UNMAPPED_LIKE}' THEN d.person END), "
                         f"{_SPEND_PER_TOOL}"
                         f"FROM {FULL} d WHERE {where} GROUP BY d.model", _tool_params(params))
    out = [ModelUsage(str(r[0]), *(_i(v) for v in r[1:])) for r in rows]
    out.sort(key=lambda m: (-m.cost_nanos, -m.total_tokens, m.model))
    return out


@dataclass(frozen=True, slots=True)
class ModelCost:
    model: str
    cost_nanos: int
    total_tokens: int


def model_costs(*, session: Session, period: DateRange, limit: int | None = None,
                people: Sequence[str] | None = None) -> list[ModelCost]:
    """Spend per model from the per-model rollup, most expensive first (cheap: no people count);
    with `people`, from the full rollup for just them."""
    where, params = _where(period, people=_nonempty(people))
    table = FULL if people is not None else MODEL_DAY
    rows = _run(session, f"SELECT d.model, SUM(d.cost_nanos), SUM({_TOKENS}) FROM {table} d WHERE {where} "
                         "GROUP BY d.model", params)
    out = sorted((ModelCost(str(m), _i(c), _i(t)) for m, c, t in rows),
                 key=lambda r: (-r.cost_nanos, -r.total_tokens, r.model))
    return out[:limit] if limit else out


@dataclass(slots=True)
class GroupUsage:
    name: str
    members: int
    active_people: int
    cost_nanos: int
    total_tokens: int
    budget_nanos: int | None


def groups_usage(*, session: Session, period: DateRange) -> list[GroupUsage]:
    """Spend per billing group (people without a group under NO_GROUP), with member counts."""
    where, params = _where(period)
    spend = {}
    for name, cost, tokens, people in _run(
            session, f"SELECT COALESCE(g.name, '{NO_GROUP}'), SUM(d.cost_nanos), SUM({_TOKENS}), "
                     f"COUNT(DISTINCT CASE WHEN d.person NOT LIKE '{UNMAPPED_LIKE}' THEN d.person END) "
                     f"FROM {PERSON_DAY} d LEFT JOIN person p ON p.email = d.person "
                     f"LEFT JOIN billing_group g ON g.id = p.group_id WHERE {where} "
                     f"GROUP BY COALESCE(g.name, '{NO_GROUP}')", params):
        spend[str(name)] = (_i(cost), _i(tokens), _i(people))
    groups = {}
    for name, budget, members in session.connection().execute(text(
            "SELECT g.name, g.budget_nanos, COUNT(p.id) FROM billing_group g "
            "LEFT JOIN person p ON p.group_id = g.id AND p.is_removed = :no GROUP BY g.name, g.budget_nanos"),
            {"no": False}):
        groups[str(name)] = (None if budget is None else int(budget), _i(members))
    ungrouped = session.connection().execute(text(
        "SELECT COUNT(*) FROM person WHERE group_id IS NULL AND is_removed = :no"), {"no": False}).scalar_one()
    out = []
    for name in sorted(set(spend) | set(groups)):
        cost, tokens, active = spend.get(name, (0, 0, 0))
        budget, members = groups.get(name, (None, _i(ungrouped) if name == NO_GROUP else 0))
        if name == NO_GROUP and not cost and not members:
            continue
        out.append(GroupUsage(name=name, members=members, active_people=active, cost_nanos=cost, total_tokens=tokens,
                              budget_nanos=budget))
    out.sort(key=lambda g: (-g.cost_nanos, g.name))
    return out


@dataclass(frozen=True, slots=True)
class DailyActive:
    day: date
    source: str | None  # None = either tool
    people: int


def daily_active_people(*, session: Session, period: DateRange) -> list[DailyActive]:
    """Distinct active people per day, per tool and overall (unattributed keys not counted)."""
    where, params = _where(period)
    where += f" AND d.person NOT LIKE '{UNMAPPED_LIKE}'"
    out = [DailyActive(_d(r[0]), str(r[1]), _i(r[2])) for r in _run(
        session, f"SELECT d.day, d.source, COUNT(DISTINCT d.person) FROM {PERSON_DAY} d WHERE {where} "
                 "GROUP BY d.day, d.source ORDER BY d.day, d.source", params)]
    out += [DailyActive(_d(r[0]), None, _i(r[1])) for r in _run(
        session, f"SELECT d.day, COUNT(DISTINCT d.person) FROM {PERSON_DAY} d WHERE {where} "
                 "GROUP BY d.day ORDER BY d.day", params)]
    return out


@dataclass(frozen=True, slots=True)
class Seat:
    email: str
    name: str | None
    cursor_seat: bool
    claude_seat: bool
    last_day: date | None  # last day with any usage, ever


def seats(*, session: Session) -> list[Seat]:
    """Everyone on the team (not removed) with their seats and last day of use."""
    rows = session.connection().execute(text(
        "SELECT p.email, p.name, p.has_cursor_seat, p.has_claude_seat, "
        f"(SELECT MAX(d.day) FROM {PERSON_DAY} d WHERE d.person = p.email) "
        "FROM person p WHERE p.is_removed = :no ORDER BY p.email"), {"no": False})
    return [Seat(str(r[0]), r[1], bool(r[2]), bool(r[3]), _d(r[4])) for r in rows]


# --- people and productivity -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PersonInfo:
    email: str
    name: str | None
    role: str
    slack_user_id: str | None
    group: str | None


def find_person(*, session: Session, email: str | None = None, slack_user_id: str | None = None
                ) -> PersonInfo | None:
    if not email and not slack_user_id:
        return None
    clauses, params = [], {"no": False}
    if email:
        clauses.append("p.email = :email")
        params["email"] = email.lower()
    if slack_user_id:
        clauses.append("p.slack_user_id = :sid")
        params["sid"] = slack_user_id
    row = session.connection().execute(text(
        "SELECT p.email, p.name, p.role, p.slack_user_id, g.name FROM person p "
        f"LEFT JOIN billing_group g ON g.id = p.group_id WHERE ({' OR '.join(clauses)}) "
        "ORDER BY p.is_removed, p.id LIMIT 1"), params).first()
    return None if row is None else PersonInfo(str(row[0]), row[1], str(row[2] or "member"), row[3], row[4])


def person_names(*, session: Session, emails: Sequence[str]) -> dict[str, str]:
    emails = [e for e in emails if e and not e.startswith("unmapped:")]
    if not emails:
        return {}
    rows = session.connection().execute(
        text("SELECT email, name FROM person WHERE email IN :people AND name IS NOT NULL")
        .bindparams(bindparam("people", expanding=True)), {"people": emails})
    return {str(e): str(n) for e, n in rows if n}


def has_any_usage(*, session: Session, person: str) -> bool:
    return session.connection().execute(text(f"SELECT 1 FROM {PERSON_DAY} WHERE person = :p LIMIT 1"),
                                        {"p": person}).first() is not None


@dataclass(slots=True)
class Productivity:
    rows: int = 0
    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    accepted_lines_added: int = 0
    accepted_lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0
    edits_accepted: int = 0
    edits_rejected: int = 0
    tabs_shown: int = 0
    tabs_accepted: int = 0

    @property
    def accept_rate(self) -> float | None:
        """Share of suggested lines/edits/tabs that were accepted, where any were offered."""
        offered = self.lines_added + self.edits_accepted + self.edits_rejected + self.tabs_shown
        if offered <= 0:
            return None
        accepted = self.accepted_lines_added + self.edits_accepted + self.tabs_accepted
        return min(1.0, accepted / offered)


_PRODUCTIVITY_FIELDS = ("sessions", "lines_added", "lines_removed", "accepted_lines_added", "accepted_lines_removed",
                        "commits", "pull_requests", "edits_accepted", "edits_rejected", "tabs_shown", "tabs_accepted")


def productivity(*, session: Session, period: DateRange, person: str) -> Productivity:
    sums = ", ".join(f"SUM({f})" for f in _PRODUCTIVITY_FIELDS)
    row = session.connection().execute(text(
        f"SELECT COUNT(*), {sums} FROM person_activity WHERE person = :p AND day >= :start AND day <= :end"),
        {"p": person, "start": period.start, "end": period.end}).one()
    return Productivity(*(_i(v) for v in row))


# --- sync runs -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SyncStatus:
    source: str
    status: str  # core.sync.RunStatus; "running" only while its process still holds the sync lock
    started_at: datetime | None
    finished_at: datetime | None
    inserted: int
    error: str | None
    last_ok_at: datetime | None
    org: str | None = None  # the organisation (Anthropic) or team (Cursor) label


_STALE_ORG = timedelta(days=7)  # an organisation not synced for a week longer than its source's newest: gone


def sync_status(*, session: Session) -> list[SyncStatus]:
    """The newest run of every organisation/team, with when it last synced successfully — one
    failing organisation is not hidden behind a healthy one of the same vendor. A run still marked
    running whose process no longer holds the sync lock (it died) is reported as interrupted."""
    conn = session.connection()
    last_ok = {(str(s), o): _ts(t) for s, o, t in conn.execute(text(
        "SELECT source, org, MAX(finished_at) FROM sync_run WHERE status = :ok GROUP BY source, org"),
        {"ok": RunStatus.OK.value})}
    rows = conn.execute(text(
        "SELECT r.source, r.org, r.status, r.started_at, r.finished_at, r.inserted, r.error, r.holder "
        "FROM sync_run r WHERE r.id IN (SELECT MAX(id) FROM sync_run GROUP BY source, org) "
        "ORDER BY r.source, r.org")).all()
    holder = live_holders(session).get(SYNC_LOCK)
    newest: dict[str, datetime] = {}
    for r in rows:
        started = _ts(r[3])
        if started is not None and (r[0] not in newest or started > newest[r[0]]):
            newest[r[0]] = started
    out = []
    for source, org, status, started_at, finished_at, inserted, error, run_holder in rows:
        started = _ts(started_at)
        if started is not None and started < newest[source] - _STALE_ORG:
            continue
        if status == RunStatus.RUNNING.value and (holder is None or (run_holder is not None and run_holder != holder)):
            status = RunStatus.INTERRUPTED.value
            error = error or "interrupted: its process stopped before the run finished"
        out.append(SyncStatus(str(source), str(status), started, _ts(finished_at), _i(inserted), error,
                              last_ok.get((str(source), org)), org))
    return out


def cursor_cycle_spend(*, session: Session) -> tuple[date, int] | None:
    """Cursor's own figure for the current billing cycle (the newest spend snapshots), if any."""
    row = session.connection().execute(text(
        "SELECT cycle_start, SUM(COALESCE(overall_nanos, on_demand_nanos)) FROM spend_snapshot "
        "WHERE cycle_start = (SELECT MAX(cycle_start) FROM spend_snapshot) GROUP BY cycle_start")).first()
    return None if row is None else (_d(row[0]), _i(row[1]))
