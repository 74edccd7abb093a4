"""Builders of the report messages: view model in → blocks out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.adoption import CursorAnalyticsSummary, CursorUserAnalytics
from core.incidents import IncidentView, format_duration
from core.periods import DateRange, period_text
from core.reconciliation import Reconciliation
from core.report import live_note
from core.usage import NANOS_PER_USD

from ..ids import ActionId, BlockId
from . import common as c
from .payloads import UsersPage

if TYPE_CHECKING:
    from bot.services.reports import (
        AdoptionView,
        DashboardView,
        ForecastView,
        GroupsView,
        IncidentsView,
        ModelsView,
        TopView,
        UsersView,
        UserView,
    )

SEVERITY_ICON = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
MAX_TABLE_ROWS = 40


def period_label(period: DateRange) -> str:
    return period_text(period.start, period.end)


def who(email: str, name: str | None = None) -> str:
    """A person for mrkdwn text: escaped, name first when known."""
    if email.startswith("unmapped:"):
        return f"_{c.escape(email)}_"
    return f"{c.escape(name)} ({c.escape(email)})" if name else c.escape(email)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- dashboard -------------------------------------------------------------------------------------

def dashboard(view: DashboardView) -> list[dict]:
    cur, prev = view.current, view.previous
    avg = cur.cost_nanos // cur.active_people if cur.active_people else 0
    prev_avg = prev.cost_nanos // prev.active_people if prev.active_people else 0
    blocks = [
        c.header("AI coding spend"),
        c.context(period_label(view.period)),
        *c.fields([
            ("Spend", f"{c.usd(cur.cost_nanos)}  {c.delta(cur.cost_nanos, prev.cost_nanos)}"),
            ("Tokens", f"{c.tokens(cur.total_tokens)}  {c.delta(cur.total_tokens, prev.total_tokens)}"),
            ("Active people", f"{cur.active_people:,}  {c.delta(cur.active_people, prev.active_people)}"),
            ("Average per person", f"{c.usd(avg)}  {c.delta(avg, prev_avg)}"),
            *[(c.tool(src), f"{c.usd(t.cost_nanos)} · {c.tokens(t.total_tokens)} tokens")
              for src, t in sorted(cur.by_source.items())],
        ]),
    ]
    if view.top_people or view.top_models:
        people = "\n".join(f"{i}. {who(p.person, view.names.get(p.person))} — {c.usd(p.cost_nanos)}"
                           for i, p in enumerate(view.top_people, 1)) or "—"
        models = "\n".join(f"{i}. {c.escape(m.model)} — {c.usd(m.cost_nanos)}"
                           for i, m in enumerate(view.top_models, 1)) or "—"
        blocks += [c.divider(), *c.fields([("Top people", people), ("Top models", models)])]
    else:
        blocks.append(c.section("No usage in this period."))
    blocks.append(c.context(f"Δ compares with {period_label(view.period.previous())}."))
    if view.live_days:
        blocks.append(c.context(c.escape(live_note(view.live_days)) + "."))
    return blocks


def dashboard_text(view: DashboardView) -> str:
    return (f"AI coding spend {view.period}: {c.usd(view.current.cost_nanos)} "
            f"({c.delta(view.current.cost_nanos, view.previous.cost_nanos)}), "
            f"{view.current.active_people} active people")


# --- top -------------------------------------------------------------------------------------------

def top(view: TopView) -> list[dict]:
    title = f"Top {view.n} by spend" + (f" · {c.tool(view.source)}" if view.source else "")
    blocks = [c.header(title), c.context(period_label(view.period))]
    if not view.rows:
        return [*blocks, c.section("No usage in this period.")]
    cols = [("#", 2, ">"), ("person", 28, "<"), ("spend", 11, ">"), ("share", 6, ">"), ("tokens", 7, ">"),
            ("top model", 18, "<"), ("Δ", 8, ">")]
    rows = [(r.rank, r.person, c.usd(r.cost_nanos), c.percent(r.share), c.tokens(r.total_tokens),
             r.top_model or "—", c.delta(r.cost_nanos, r.previous_nanos)) for r in view.rows]
    blocks += [c.section(chunk) for chunk in c.code_table(cols, rows)]
    blocks.append(c.context(f"Top {len(view.rows)} of {view.ranked_among()} with usage, {c.usd(view.total_nanos)} "
                            "in total. Δ compares with the previous period of the same length."))
    return c.cap_blocks(blocks)


def top_text(view: TopView) -> str:
    lead = view.rows[0] if view.rows else None
    return (f"Top {view.n} by spend {view.period}"
            + (f": #1 {c.escape(lead.person)} {c.usd(lead.cost_nanos)}" if lead else ": no usage"))


# --- one person ------------------------------------------------------------------------------------

def user(view: UserView) -> list[dict]:
    cur, prev = view.current, view.previous
    title = view.name or view.email
    blocks = [c.header(title), c.context(c.escape(view.email) + (f" · {c.escape(view.group)}" if view.group else "")
                                         + f" · {period_label(view.period)}")]
    if not cur.cost_nanos and not cur.total_tokens:
        blocks.append(c.section("No usage in this period."))
    split = " · ".join(f"{c.tool(src)} {c.usd(t.cost_nanos)} ({c.percent(_share(t.cost_nanos, cur.cost_nanos), 0)})"
                       for src, t in sorted(cur.by_source.items())) or "—"
    blocks += c.fields([
        ("Spend", f"{c.usd(cur.cost_nanos)}  {c.delta(cur.cost_nanos, prev.cost_nanos)}"),
        ("Tokens", f"{c.tokens(cur.total_tokens)}  {c.delta(cur.total_tokens, prev.total_tokens)}"),
        ("Active days", f"{cur.active_days} of {view.period.days}"),
        ("Team rank", f"#{view.team_rank} of {view.team_size}" if view.team_rank else "—"),
        ("Tool split", split),
        ("Requests", f"{cur.requests:,}"),
    ])
    if view.models:
        cols = [("model", 26, "<"), ("spend", 11, ">"), ("share", 6, ">"), ("tokens", 7, ">")]
        rows = [(m.model, c.usd(m.cost_nanos), c.percent(_share(m.cost_nanos, cur.cost_nanos)),
                 c.tokens(m.total_tokens)) for m in view.models[:10]]
        blocks += [c.section("*Model mix*"), *[c.section(t) for t in c.code_table(cols, rows)]]
    blocks += productivity_blocks(view)
    if view.cursor_analytics is not None:
        blocks += cursor_user_blocks(view.cursor_analytics, view.period)
    if view.incidents:
        blocks.append(c.section("*Open incidents*\n" + "\n".join(incident_line(i) for i in view.incidents[:5])))
    if view.live_days:
        blocks.append(c.context(c.escape(live_note(view.live_days)) + "."))
    return c.cap_blocks(blocks)


def cursor_user_blocks(a: CursorUserAnalytics, period: DateRange) -> list[dict]:
    """One person's Cursor Analytics API figures (its by-user endpoints), in their own view."""
    models = "\n".join(f"{c.escape(m)} — {n:,} messages" for m, n in a.top_models) or "—"
    tools = "\n".join(f"{c.escape(t)} — {n:,} calls" for t, n in a.top_mcp_tools) or "—"
    exts = "\n".join(f"{c.escape(e)} — {f:,} files, {lines:,} lines accepted"
                     for e, f, lines in a.top_extensions) or "—"
    versions = ", ".join(c.escape(v) for v in a.client_versions) or "—"
    return [
        c.section("*Cursor, as its Analytics API counts it*"),
        *c.fields([
            ("Active days (Cursor)", f"{a.active_days} of {period.days}"),
            ("Messages", f"{a.messages:,}"),
            ("Top models", models),
            ("Top MCP tools", tools),
            ("Top file extensions", exts),
            ("Client version" + (f" on {a.versions_day.isoformat()}" if a.versions_day else ""), versions),
        ]),
    ]


def productivity_blocks(view: UserView) -> list[dict]:
    p = view.productivity
    if not p.rows:
        return [c.context("No productivity data (lines, commits, PRs) for this period.")]
    dollars = view.current.cost_nanos / NANOS_PER_USD
    pairs = [("Lines accepted", f"{p.accepted_lines_added:,} added · {p.accepted_lines_removed:,} removed"),
             ("Accept rate", c.percent(p.accept_rate, 0))]
    if p.commits or p.pull_requests:
        per = (lambda n: f" ({n / dollars * 100:,.1f} per $100)") if dollars > 0 else (lambda n: "")
        pairs.append(("Commits", f"{p.commits:,}{per(p.commits)}"))
        pairs.append(("Pull requests", f"{p.pull_requests:,}{per(p.pull_requests)}"))
    if p.tabs_shown:
        pairs.append(("Tab completions", f"{p.tabs_accepted:,} of {p.tabs_shown:,} accepted"))
    if dollars > 0 and p.accepted_lines_added:
        pairs.append(("Cost per accepted line", c.usd_value(dollars / p.accepted_lines_added)))
    return [c.section("*Productivity*"), *c.fields(pairs)]


def user_text(view: UserView) -> str:
    return (f"{c.escape(view.email)} {view.period}: {c.usd(view.current.cost_nanos)}, "
            f"{c.tokens(view.current.total_tokens)} tokens")


# --- models, groups --------------------------------------------------------------------------------

def models(view: ModelsView) -> list[dict]:
    blocks = [c.header("Models by spend"), c.context(period_label(view.period))]
    if not view.rows:
        return [*blocks, c.section("No usage in this period.")]
    shown, rest = view.rows[:MAX_TABLE_ROWS], view.rows[MAX_TABLE_ROWS:]
    cols = [("model", 28, "<"), ("spend", 11, ">"), ("share", 6, ">"), ("tokens", 7, ">"), ("people", 6, ">"),
            ("Claude", 10, ">"), ("Cursor", 10, ">")]
    rows = [(m.model, c.usd(m.cost_nanos), c.percent(_share(m.cost_nanos, view.total_nanos)),
             c.tokens(m.total_tokens), m.people, c.usd(m.claude_code_nanos), c.usd(m.cursor_nanos)) for m in shown]
    blocks += [c.section(t) for t in c.code_table(cols, rows)]
    note = f"{len(view.rows)} models, {c.usd(view.total_nanos)} in total."
    if rest:
        note += f" {len(rest)} more models ({c.usd(sum(m.cost_nanos for m in rest))}) not shown."
    blocks.append(c.context(note))
    if view.reconciliation is not None:
        blocks += reconciliation_blocks(view.reconciliation)
    return c.cap_blocks(blocks)


def reconciliation_blocks(recon: Reconciliation, *, max_rows: int = 8) -> list[dict]:
    """Billed (Anthropic cost report) versus Abacus' Claude Code figures, per model and per day —
    for `/abacus models` and the digest."""
    cols = [("model", 24, "<"), ("billed", 11, ">"), ("Claude Code", 11, ">"), ("gap", 11, ">"), ("est/bill", 8, ">")]
    rows = [(r.key, c.usd(r.billed_nanos), c.usd(r.estimated_nanos), c.usd(r.gap_nanos),
             c.percent(r.estimated_share, 0)) for r in recon.by_model[:max_rows]]
    worst = sorted((d for d in recon.by_day if d.billed_nanos or d.estimated_nanos),
                   key=lambda d: -abs(d.gap_nanos))[:3]
    days = "; ".join(f"{d.key}: billed {c.usd(d.billed_nanos)}, Claude Code {c.usd(d.estimated_nanos)}"
                     for d in worst)
    blocks = [c.divider(), c.section("*Billed vs estimated* (Anthropic cost report)"),
              *[c.section(t) for t in c.code_table(cols, rows)]]
    text = (f"Billed {c.usd(recon.billed_nanos)} over {recon.billed_days} day(s) with a bill; Claude Code "
            f"{c.usd(recon.estimated_nanos)} on those days. The bill covers all API usage of the organisation, "
            "Claude Code only what Claude Code used.")
    if days:
        text += f" Largest gaps: {days}."
    blocks.append(c.context(text))
    return blocks


def groups(view: GroupsView) -> list[dict]:
    blocks = [c.header("Spend by group"), c.context(period_label(view.period))]
    if not view.rows:
        return [*blocks, c.section("No groups and no usage in this period.")]
    cols = [("group", 26, "<"), ("members", 7, ">"), ("active", 6, ">"), ("spend", 11, ">"), ("share", 6, ">"),
            ("tokens", 7, ">"), ("budget", 11, ">")]
    rows = [(g.name, g.members, g.active_people, c.usd(g.cost_nanos), c.percent(_share(g.cost_nanos, view.total_nanos)),
             c.tokens(g.total_tokens), c.usd(g.budget_nanos) if g.budget_nanos else "—")
            for g in view.rows[:MAX_TABLE_ROWS]]
    blocks += [c.section(t) for t in c.code_table(cols, rows)]
    blocks.append(c.context(f"{len(view.rows)} groups, {c.usd(view.total_nanos)} in total."))
    return c.cap_blocks(blocks)


# --- users pivot -----------------------------------------------------------------------------------

SORT_LABELS = {"spend": "spend", "tokens": "tokens", "claude": "Claude Code spend", "cursor": "Cursor spend",
               "days": "active days", "avg": "spend per active day", "last": "last active", "name": "name"}


def users(view: UsersView) -> list[dict]:
    first = view.offset + 1 if view.matched else 0
    last = min(view.offset + view.page_size, view.matched)
    filt = f' · filter "{c.escape(view.query)}"' if view.query else ""
    blocks = [
        c.header("People"),
        c.context(f"{period_label(view.period)} · sorted by {SORT_LABELS[view.sort.value]} "
                  f"{'↓' if view.descending else '↑'}{filt} · {first}–{last} of {view.matched}"),
    ]
    if not view.rows:
        blocks.append(c.section("Nobody matches." if view.query else "No usage in this period."))
    else:
        cols = [("person", 28, "<"), ("spend", 11, ">"), ("tokens", 7, ">"), ("Claude", 10, ">"),
                ("Cursor", 10, ">"), ("days", 4, ">"), ("per day", 9, ">"), ("last", 10, "<")]
        rows = [(r.name or r.person, c.usd(r.cost_nanos), c.tokens(r.total_tokens), c.usd(r.claude_code_nanos),
                 c.usd(r.cursor_nanos), r.active_days, c.usd(r.avg_per_day_nanos), c.day(r.last_day))
                for r in view.rows]
        t = view.totals
        rows.append(("TOTAL (all matches)", c.usd(t.cost_nanos), c.tokens(t.total_tokens), c.usd(t.claude_code_nanos),
                     c.usd(t.cursor_nanos), "", "", ""))
        tables = c.code_table(cols, rows)
        blocks.append(c.section(tables[0], block_id=BlockId.USERS_TABLE))
        blocks += [c.section(x) for x in tables[1:]]
    nav = users_nav(view)
    if nav is not None:
        blocks.append(nav)
    return blocks


def users_page(view: UsersView, offset: int, *, sort: str | None = None, descending: bool | None = None) -> str:
    return UsersPage(period=view.period_text, sort=sort or view.sort.value,
                     descending=view.descending if descending is None else descending,
                     query=view.query, offset=offset, group=view.group or "").encode()


def users_nav(view: UsersView) -> dict | None:
    """Previous / Next (their values carry the whole page state) and the sort menu, whose state
    rides in the block id. A state that cannot fit there (a group name of ~180 characters) gets no
    menu: read back cut short it named no group, and a sort showed the whole team's 30 days."""
    elements = []
    if view.has_prev:
        elements.append(c.button("◀ Previous", ActionId.USERS_PREV, users_page(view, view.offset - view.page_size)))
    if view.has_next:
        elements.append(c.button("Next ▶", ActionId.USERS_NEXT, users_page(view, view.offset + view.page_size)))
    options, current = [], None
    for field, label in SORT_LABELS.items():
        for desc in (True, False):
            text = f"{label} {'↓' if desc else '↑'}"
            opt = c.option(text, f"{field}:{'desc' if desc else 'asc'}")
            options.append(opt)
            if field == view.sort.value and desc == view.descending:
                current = opt
    select = {"type": "static_select", "action_id": ActionId.USERS_SORT,
              "placeholder": {"type": "plain_text", "text": "Sort by"}, "options": options}
    if current:
        select["initial_option"] = current
    block_id = users_nav_block_id(view)
    if block_id is not None:
        elements.append(select)
    if not elements:
        return None
    return c.actions(elements, block_id=block_id or BlockId.USERS_NAV)


def users_nav_block_id(view: UsersView) -> str | None:
    """The nav block carries the page state in its id, for the sort menu (whose option values
    are limited to 150 characters). Block ids are limited to 255: the filter text is cut to fit;
    None when the state does not fit even without it."""
    query = view.query
    while True:
        state = UsersPage(period=view.period_text, sort=view.sort.value, descending=view.descending, query=query,
                          offset=0, group=view.group or "").encode()
        block_id = f"{BlockId.USERS_NAV}:{state}"
        if len(block_id) <= 255:
            return block_id
        if not query:
            return None
        query = query[:-8]


def users_page_from_block_id(block_id: str | None) -> UsersPage | None:
    prefix = f"{BlockId.USERS_NAV}:"
    if not block_id or not block_id.startswith(prefix):
        return None
    return UsersPage.decode(block_id[len(prefix):])


def users_text(view: UsersView) -> str:
    return f"People {view.period}: {view.matched} with usage, page {view.offset // view.page_size + 1}"


# --- adoption, forecast ----------------------------------------------------------------------------

def _names(seats, limit: int) -> str:
    shown = ", ".join(c.escape(s.email) for s in seats[:limit])
    more = len(seats) - limit
    return shown + (f" … and {more} more" if more > 0 else "")


def adoption(view: AdoptionView) -> list[dict]:
    holders = view.seat_holders
    blocks = [
        c.header("Adoption"),
        c.context(period_label(view.period)),
        *c.fields([
            ("Team", f"{view.team_size:,} people"),
            ("Seats", f"Cursor {view.cursor_seats:,} · Claude Code {view.claude_seats:,}"),
            ("Active in period", f"{view.active_people:,}"
             + (f" ({view.active_with_seat} of {holders} seat holders, "
                f"{c.percent(view.active_with_seat / holders, 0)})" if holders else "")),
            ("Daily active people", f"{view.average_dau:,.1f} on average · peak {view.peak_dau:,}"),
        ]),
    ]
    if view.never_used:
        blocks.append(c.section(f"*Never used ({len(view.never_used)})*\n" + _names(view.never_used, 30)))
    if view.idle_in_period:
        blocks.append(c.section(f"*Not active in this period ({len(view.idle_in_period)})*\n"
                                + _names(view.idle_in_period, 30)))
    if not view.team_size:
        blocks.append(c.context("No people are known yet: seats come from the vendor member lists on sync."))
    if view.cursor_analytics is not None:
        blocks += cursor_analytics_blocks(view.cursor_analytics)
    return blocks


_DAU_KINDS = {"cli_dau": "CLI", "cloud_agent_dau": "cloud agents", "bugbot_dau": "Bugbot"}


def cursor_analytics_blocks(a: CursorAnalyticsSummary) -> list[dict]:
    """What the Cursor Analytics API says about the period (team level, as Cursor counts it)."""
    kinds = " · ".join(f"{label} {a.average_by_kind.get(k, 0):,.1f}" for k, label in _DAU_KINDS.items())
    models = "\n".join(f"{c.escape(m)} — {n:,} messages, up to {u:,} people" for m, n, u in a.top_models) or "—"
    tools = "\n".join(f"{c.escape(t)} — {n:,} calls" for t, n in a.top_mcp_tools) or "—"
    exts = "\n".join(f"{c.escape(e)} — {f:,} files, {lines:,} lines accepted"
                     for e, f, lines in a.top_extensions) or "—"
    versions = (", ".join(f"{c.escape(v)} ({n:,})" for v, n in a.client_versions) or "—")
    return [
        c.divider(),
        c.section("*Cursor, as its Analytics API counts it*"),
        *c.fields([
            ("Daily active users", f"{a.average_dau:,.1f} on average · peak {a.peak_dau:,} "
                                   f"({a.dau_days} of {a.period_days} days reported)"),
            ("Of which, on average", kinds),
            ("Top models", models),
            ("Top MCP tools", tools),
            ("Top file extensions", exts),
            ("Client versions" + (f" on {a.versions_day.isoformat()}" if a.versions_day else ""), versions),
        ]),
    ]


def forecast(view: ForecastView) -> list[dict]:
    word = view.cycle_word  # "month", or "cycle" when the billing cycle is not a calendar month
    pairs = [
        (f"{word.capitalize()} to date",
         f"{c.usd(view.mtd_nanos)} ({view.elapsed_shown} of {view.days_in_month} days)"),
        ("Run rate", f"{c.usd(view.run_rate_nanos)} per day ({word} to date)"),
        (f"Projected {word}", c.usd(view.projected_nanos) if view.settled else view.too_early.capitalize()),
        (f"Last {word}" if word == "month" else "Previous cycle", c.usd(view.previous_month_nanos)),
    ]
    if view.budget_nanos and not view.settled:
        pairs.append(("Budget", f"{c.usd(view.budget_nanos)} · {c.percent(view.budget_used, 0)} used"))
    elif view.budget_nanos:
        ratio = view.projected_vs_budget or 0
        status = (f":warning: over by {c.usd(view.projected_nanos - view.budget_nanos)}" if ratio > 1
                  else f"{c.usd(view.budget_nanos - view.projected_nanos)} headroom")
        pairs += [("Budget", f"{c.usd(view.budget_nanos)} · {c.percent(view.budget_used, 0)} used"),
                  ("Projected vs budget", f"{c.percent(ratio, 0)} · {status}")]
    else:
        pairs.append(("Budget", "not set (admins: App Home → Edit settings)"))
    pairs += [(f"{c.tool(src)} this {word}", c.usd(n)) for src, n in sorted(view.mtd_by_source.items())]
    blocks = [c.header(f"Forecast · {view.cycle_label}"), *c.fields(pairs)]
    if view.cursor_cycle:
        start, nanos = view.cursor_cycle
        blocks.append(c.context(f"Cursor's own figure for the billing cycle since {start}: {c.usd(nanos)}."))
    blocks.append(c.context(f"Projection = {word} to date + run rate × the {view.days_left_shown} days left "
                            "(today counts for the part of it that has passed)"
                            + ("." if view.settled else f", once {view.min_days:g} days of the cycle have passed "
                               "(admins: App Home → settings).")))
    return blocks


def forecast_text(view: ForecastView) -> str:
    return (f"Forecast {view.cycle_label}: {c.usd(view.mtd_nanos)} so far, "
            + (f"{c.usd(view.projected_nanos)} projected" if view.settled else view.too_early))


# --- incidents -------------------------------------------------------------------------------------

def incident_line(i: IncidentView) -> str:
    icon = SEVERITY_ICON.get(i.severity.value, ":white_circle:")
    subject = c.escape(i.user) if i.user else "team"
    message = c.escape(c.clip(i.message, 300)) if i.message else ""
    extra = f" · MTTD {format_duration(i.mttd)}" if i.mttd is not None else ""
    if i.snoozed_until is not None and i.snoozed_until > datetime.now(UTC):
        extra += f" · snoozed until {i.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return (f"{icon} *#{i.id}* {c.escape(i.kind.label)} · {subject} · _{i.status.value}_{extra}"
            + (f"\n{message}" if message else ""))


def _timing(stat) -> str:
    if not stat.count:
        return "–"
    return f"{format_duration(stat.mean_seconds)} (median {format_duration(stat.median_seconds)})"


def incidents(view: IncidentsView) -> list[dict]:
    blocks = [c.header("Incidents"), c.section(f"*Open:* {view.open_count:,}")]
    rows = []
    for t in view.timings:
        rows.append(f"*Last {t.window_days} days:* {t.incidents:,} incidents · MTTD {_timing(t.mttd)} · "
                    f"MTTI {_timing(t.mtti)} · MTTR {_timing(t.mttr)}")
    blocks.append(c.section("\n".join(rows)))
    blocks.append(c.context("MTTD: data → alert · MTTI: alert → acknowledged · MTTR: data → resolved; "
                            "mean (median)"))
    if not view.open:
        blocks.append(c.section(":white_check_mark: No open incidents."))
    else:
        for i in view.open[:20]:
            blocks.append(c.section(incident_line(i)))
        if view.open_count > len(view.open[:20]):
            blocks.append(c.context(f"{view.open_count - 20} more open incidents not shown."))
    return c.cap_blocks(blocks)
