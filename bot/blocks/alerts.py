"""Alert messages, built from the incident as it is now (re-render from state).

Pure: `IncidentView`s in → text + blocks out. The same builder renders the first post and every
`chat.update` after a click or a detection change, so the buttons always follow the status:
open → Acknowledge / Resolve / Snooze / Details; acknowledged → Resolve / Snooze / Details (and
who took it, when); resolved → Details only (who resolved it, and the MTTR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.blocks import common as c
from bot.blocks.payloads import IncidentRef
from bot.ids import ActionId, BlockId
from core.incidents import (
    SNOOZE_CHOICES,
    SUMMARY_PER_MESSAGE,
    TEAM_SUBJECT,
    AlertKind,
    AnomalyKind,
    IncidentStatus,
    IncidentView,
    Severity,
    Signal,
    format_duration,
)
from core.usage import is_unmapped

SEVERITY_EMOJI = {Severity.CRITICAL: ":rotating_light:", Severity.WARNING: ":warning:",
                  Severity.INFO: ":information_source:"}
STATUS_LABEL = {IncidentStatus.DETECTED: "Open", IncidentStatus.ALERTED: "Open",
                IncidentStatus.ACKNOWLEDGED: "Acknowledged", IncidentStatus.RESOLVED: "Resolved"}
SNOOZE_LABELS = {"1h": "1 hour", "4h": "4 hours", "1d": "1 day", "7d": "7 days"}
SUMMARY_FULL = 20  # up to this many: a line and the buttons per incident (2 blocks each, + 4 under 50)
# beyond: the lines ten to a section, each incident's buttons (labelled with its number) in its own
# actions block — the contract's action ids must be unique within a block: 42 + 5 + 3 = 50 blocks
# (SUMMARY_FROM and SUMMARY_PER_MESSAGE, the grouping rule, live in core.incidents)
_LINES_PER_SECTION = 10
MARKER_EVENT = "abacus_alert"  # message metadata event_type: finds a message again after a crash


@dataclass(frozen=True, slots=True)
class AlertMessage:
    text: str  # the notification / screen-reader fallback
    blocks: list[dict]
    files: tuple = ()  # charts posted in the message's thread (the digest)


# --- pieces -------------------------------------------------------------------------------------------

def who(actor: str | None) -> str:
    """An actor as stored (`slack:U123 (a@b.c)`, `cli`, `system`) → a mention or plain words."""
    if not actor:
        return "someone"
    if actor.startswith("slack:"):
        user_id = actor[len("slack:"):].split(" ", 1)[0]
        if user_id.isalnum():
            return f"<@{user_id}>"
    if actor in ("system", "detection", "cool-down"):
        return "Abacus (the condition cleared)"
    return c.escape(actor)


def subject_label(view: IncidentView) -> str:
    if view.subject == TEAM_SUBJECT or view.user is None:
        return "The team"
    return c.escape(view.name or view.user)


def value_text(value: float, unit: str) -> str:
    if unit == "usd":
        return c.usd_value(value)
    if unit == "tokens":
        return f"{c.tokens(int(value))} tokens"
    if unit == "requests":
        return f"{value:,.0f} requests"
    return f"{value:,.2f}"


def _primary_unit(view: IncidentView) -> str:
    primary = view.primary
    return primary.unit if primary else "usd"


def _model_line(signal: Signal | None) -> str:
    if signal is None or not signal.model:
        return "—"
    share = f" ({signal.model_share * 100:.0f} %)" if signal.model_share is not None else ""
    return c.escape(signal.model) + share


def status_line(view: IncidentView, now: datetime) -> str:
    """What the incident's state is, in words: who took it, who closed it, the snooze."""
    if view.status is IncidentStatus.RESOLVED:
        return (f":white_check_mark: Resolved by {who(view.resolved_by)} at {c.when(view.resolved_at)}"
                f" · MTTR {format_duration(view.mttr)}")
    parts = []
    if view.status is IncidentStatus.ACKNOWLEDGED:
        parts.append(f":eyes: Acknowledged by {who(view.acknowledged_by)} at {c.when(view.acknowledged_at)}")
    if view.is_snoozed(now):
        parts.append(f":zzz: Snoozed until {c.when(view.snoozed_until)} by {who(view.snoozed_by)}")
    return " · ".join(parts)


def snooze_select(incident: int) -> dict:
    return {"type": "static_select", "action_id": ActionId.INCIDENT_SNOOZE.value,
            "placeholder": {"type": "plain_text", "text": "Snooze…"},
            "options": [c.option(f"Snooze {SNOOZE_LABELS.get(k, k)}", IncidentRef(incident, k).encode())
                        for k in SNOOZE_CHOICES]}


def incident_actions(view: IncidentView, *, details: bool = True, numbered: bool = False) -> dict | None:
    """The buttons that fit the incident's status (None: nothing left to do and no details).
    `numbered`: the labels name the incident (buttons set apart from its line, in a big summary)."""
    ref = IncidentRef(view.id).encode()
    suffix = f" #{view.id}" if numbered else ""
    elements = []
    if view.status in (IncidentStatus.DETECTED, IncidentStatus.ALERTED):
        elements.append(c.button(f"Acknowledge{suffix}", ActionId.INCIDENT_ACK, ref, style="primary"))
    if view.status.is_open:
        elements.append(c.button(f"Resolve{suffix}", ActionId.INCIDENT_RESOLVE, ref))
        select = snooze_select(view.id)
        if numbered:
            select["placeholder"]["text"] = f"Snooze #{view.id}…"
        elements.append(select)
    if details and view.user is not None and not is_unmapped(view.user):  # a key nobody owns has no report
        elements.append(c.button("Details", ActionId.INCIDENT_DETAILS, ref))
    if not elements:
        return None
    return c.actions(elements, block_id=f"{BlockId.INCIDENT_PREFIX}{view.id}")


def headline(view: IncidentView) -> str:
    label = view.kind.label if view.signals else view.kind.value
    state = "" if view.status.is_open else " (resolved)"
    return f"{SEVERITY_EMOJI[view.severity]} {view.severity.value.capitalize()}: {label}{state}"


def _story(view: IncidentView) -> str:
    """The primary signal's sentence in bold, the other signals listed under it (Slack's bold does
    not span a line break, so only the first line is wrapped)."""
    story = f"*{c.escape(view.message or '')}*" if view.message else ""
    extra = [s for s in view.signals if s.kind != view.kind]
    if extra:
        story += "\n" + "\n".join(f"• {c.escape(s.message)}" for s in extra[:5])
        if len(extra) > 5:
            story += f"\n• …and {len(extra) - 5} more signals"
    return story


def _fields(view: IncidentView) -> list[tuple[str, str]]:
    primary = view.primary
    unit = _primary_unit(view)
    baseline_label = primary.baseline_label if primary else "threshold"
    return [
        ("Person", "the team" if view.user is None else subject_label(view)),
        ("Kind", f"`{view.kind.value}`" + (f" +{len(view.signals) - 1}" if len(view.signals) > 1 else "")),
        ("Value", value_text(view.value, unit)),
        (c.escape(baseline_label.capitalize()), value_text(view.threshold, unit)),
        ("Tool", c.tool(primary.tool) if primary and primary.tool else "—"),
        ("Model", _model_line(primary)),
        ("Incident", f"#{view.id} · {STATUS_LABEL[view.status]}"),
    ]


def _times(view: IncidentView) -> str:
    return (f"Data at {c.when(view.data_at)} · detected {c.when(view.opened_at)}"
            + (f" · alerted {c.when(view.alerted_at)} (MTTD {format_duration(view.mttd)})" if view.alerted_at else ""))


def fallback_text(view: IncidentView) -> str:
    state = "" if view.status.is_open else f" [{STATUS_LABEL[view.status].lower()}]"
    return c.fallback(f"{view.severity.value.upper()} #{view.id}{state}: {view.message}", 3000)


# --- messages -----------------------------------------------------------------------------------------

def incident_message(view: IncidentView, *, now: datetime) -> AlertMessage:
    """The alert of one incident, in its current state."""
    blocks = [c.header(headline(view)), c.section(_story(view))]
    blocks += c.fields(_fields(view))
    context = [_times(view)]
    state = status_line(view, now)
    if state:
        context.insert(0, state)
    blocks.append(c.context(*context))
    buttons = incident_actions(view)
    if buttons:
        blocks.append(buttons)
    return AlertMessage(text=fallback_text(view), blocks=blocks)


def summary_line(view: IncidentView, now: datetime) -> str:
    state = status_line(view, now)
    line = (f"{SEVERITY_EMOJI[view.severity]} *#{view.id} {subject_label(view)}* — {c.escape(view.message)}"
            f"\n_{view.kind.value} · data at {c.when(view.data_at)}_")
    return line + (f"\n{state}" if state else "")


def _compact_line(view: IncidentView, now: datetime) -> str:
    state = status_line(view, now)
    line = (f"{SEVERITY_EMOJI[view.severity]} *#{view.id} {c.clip(subject_label(view), 60)}* — "
            f"{c.escape(c.clip(view.message, 160))}")
    return line + (f" · {state}" if state else "")


def summary_message(views: Sequence[IncidentView], *, now: datetime) -> AlertMessage:
    """Several first alerts of one detection run in one message, each incident with its buttons:
    a line and the buttons per incident up to SUMMARY_FULL; beyond, the lines ten to a section and
    the buttons (labelled with the incident's number) one block per incident, up to
    SUMMARY_PER_MESSAGE — within Slack's 50 blocks either way."""
    views = list(views)[:SUMMARY_PER_MESSAGE]
    open_count = sum(1 for v in views if v.is_open)
    critical = sum(1 for v in views if v.severity is Severity.CRITICAL)
    title = f":rotating_light: {len(views)} new incidents" if critical else f":warning: {len(views)} new incidents"
    detected = c.when(max(v.opened_at for v in views))
    blocks = [c.header(title), c.context(f"{open_count} open · {critical} critical · detected {detected}")]
    if len(views) <= SUMMARY_FULL:
        for view in views:
            blocks.append(c.section(summary_line(view, now)))
            buttons = incident_actions(view)
            if buttons:
                blocks.append(buttons)
    else:
        for start in range(0, len(views), _LINES_PER_SECTION):
            chunk = views[start:start + _LINES_PER_SECTION]
            blocks.append(c.section("\n".join(_compact_line(v, now) for v in chunk)))
            for view in chunk:
                buttons = incident_actions(view, details=False, numbered=True)
                if buttons:
                    blocks.append(buttons)
    blocks.append(c.context("Each incident is acted on separately; `/abacus incidents` lists them all."))
    text = f"{len(views)} new incidents: " + "; ".join(f"#{v.id} {v.user or 'team'}" for v in views)
    return AlertMessage(text=c.fallback(text, 3000), blocks=blocks)


THREAD_TEXT = {
    AlertKind.ESCALATED: ":arrow_double_up: Escalated to *{severity}*: {message}",
    AlertKind.SIGNAL_ADDED: ":heavy_plus_sign: Another signal: {message}",
    AlertKind.REALERT: ":alarm_clock: The snooze is over and this still holds: {message}",
    AlertKind.RESOLVED: ":white_check_mark: Resolved — the condition has cleared. MTTR {mttr}.",
}


def thread_reply(view: IncidentView, kind: AlertKind, *, now: datetime,
                 kinds: Sequence[str] | None = None) -> AlertMessage:
    """A reply in the alert's thread: an escalation, a new signal (quoting the kinds that joined,
    as the outbox row names them), a re-alert or the resolution."""
    joined = [s for s in view.signals if kinds and s.kind.value in kinds]
    newest = joined[0] if joined else max(view.signals, key=lambda s: (s.day, s.severity.rank), default=None)
    message = newest.message if kind is AlertKind.SIGNAL_ADDED and newest else view.message
    template = THREAD_TEXT.get(kind, "{message}")
    line = template.format(severity=view.severity.value, message=c.escape(message), mttr=format_duration(view.mttr))
    # no buttons here: the parent message carries them and is re-rendered with every change
    blocks = [c.section(line), c.context(f"Incident #{view.id} · {_times(view)}")]
    text = c.plain_clip(f"#{view.id}: " + line.replace("*", ""), 3000)
    return AlertMessage(text=text, blocks=blocks)


def standalone_update(view: IncidentView, kind: AlertKind, *, now: datetime,
                      kinds: Sequence[str] | None = None) -> AlertMessage:
    """A follow-up whose first alert never reached Slack (no thread to reply in): the whole
    alert, headed by what happened."""
    first = incident_message(view, now=now)
    reply = thread_reply(view, kind, now=now, kinds=kinds)
    return AlertMessage(text=reply.text, blocks=[reply.blocks[0], *first.blocks][:c.MAX_MESSAGE_BLOCKS])


def gone_message(incident: int) -> AlertMessage:
    text = f"Incident #{incident} no longer exists."
    return AlertMessage(text=text, blocks=[c.section(f":ghost: {text}")])


def marker(outbox_ids: Sequence[int], *, kind: str) -> dict:
    """Message metadata that lets a sender recognise its own post after a crash."""
    return {"event_type": MARKER_EVENT, "event_payload": {"outbox_ids": [int(i) for i in outbox_ids], "kind": kind}}


# --- the weekly digest --------------------------------------------------------------------------------

def _change(now: int, before: int) -> str:
    if before <= 0:
        return "new" if now > 0 else "—"
    pct = (now - before) / before * 100
    arrow = ":arrow_up_small:" if pct > 0 else ":arrow_down_small:" if pct < 0 else ""
    return f"{arrow} {pct:+.0f} %".strip()


def _timing(stat) -> str:
    if not stat.count:
        return "–"
    return f"{format_duration(stat.mean_seconds)} mean · {format_duration(stat.median_seconds)} median"


def digest_message(digest, *, now: datetime) -> AlertMessage:
    """`digest`: bot.services.digest.Digest. ≤ 15 blocks; the chart follows in the thread."""
    week = digest.week
    total, before = digest.total_nanos, digest.previous_nanos
    blocks = [c.header(f":bar_chart: Weekly digest · {week.start.isoformat()} → {week.end.isoformat()}"),
              c.section(f"*{c.usd(total)}* spent this week ({_change(total, before)} vs {c.usd(before)} the week "
                        "before).")]
    tools = sorted(set(digest.by_tool) | set(digest.by_tool_previous))
    if tools:
        blocks += c.fields([(c.tool(t), f"{c.usd(digest.by_tool.get(t, 0))} "
                             f"({_change(digest.by_tool.get(t, 0), digest.by_tool_previous.get(t, 0))})")
                            for t in tools])
    if digest.movers:
        lines = [f"• {c.escape(m.name or m.person)}: {c.usd(m.this_week_nanos)} "
                 f"({'+' if m.change_nanos >= 0 else '−'}{c.usd(abs(m.change_nanos))} vs {c.usd(m.last_week_nanos)})"
                 for m in digest.movers]
        blocks.append(c.section("*Biggest movers*\n" + "\n".join(lines)))
    t = digest.timings
    if digest.incidents:
        shown = sorted(digest.incidents, key=lambda v: (-v.severity.rank, v.id))[:8]
        lines = [f"{SEVERITY_EMOJI[v.severity]} #{v.id} {subject_label(v)} — {c.escape(c.clip(v.message, 160))} "
                 f"_({STATUS_LABEL[v.status].lower()})_" for v in shown]
        if len(digest.incidents) > len(shown):
            lines.append(f"…and {len(digest.incidents) - len(shown)} more (`/abacus incidents`)")
        blocks.append(c.section(f"*Incidents this week* · {len(digest.incidents)}\n" + "\n".join(lines)))
        blocks.append(c.context(f"MTTD {_timing(t.mttd)}", f"MTTI {_timing(t.mtti)}", f"MTTR {_timing(t.mttr)}"))
    else:
        blocks.append(c.section("*Incidents this week*\nNone. :white_check_mark:"))
    f = digest.forecast
    if f is not None and not f.settled:
        line = (f"*Forecast* for the cycle {f.month_start.isoformat()} → {f.month_end.isoformat()}: "
                f"{c.usd(f.mtd_nanos)} so far; {f.too_early}")
        if f.budget_nanos:
            line += f" ({c.usd(f.budget_nanos)} budget, {f.mtd_nanos / f.budget_nanos * 100:.0f} % used)"
        blocks.append(c.section(line))
    elif f is not None:
        line = (f"*Forecast* for the cycle {f.month_start.isoformat()} → {f.month_end.isoformat()}: "
                f"{c.usd(f.projected_nanos)} projected ({c.usd(f.mtd_nanos)} so far)")
        if f.budget_nanos:
            ratio = f.projected_nanos / f.budget_nanos
            flag = ":warning: over" if ratio > 1 else ":white_check_mark: within"
            line += f"; {flag} the budget of {c.usd(f.budget_nanos)} ({ratio * 100:.0f} %)"
        else:
            line += "; no budget set (App Home → settings)"
        blocks.append(c.section(line))
    productivity = []
    if digest.pull_requests:
        productivity.append(f"{c.usd(total // digest.pull_requests)} per pull request ({digest.pull_requests:,})")
    if digest.commits:
        productivity.append(f"{c.usd(total // digest.commits)} per commit ({digest.commits:,})")
    if productivity:
        blocks.append(c.section("*Cost per output*: " + " · ".join(productivity)))
    blocks.append(c.context(f"Generated {c.when(now)} · the daily chart is in the thread"))
    text = f"Weekly digest {week.start.isoformat()}..{week.end.isoformat()}: {c.usd(total)} spent, " \
           f"{len(digest.incidents)} incidents"
    return AlertMessage(text=text, blocks=blocks)


# --- the private nudge --------------------------------------------------------------------------------

# Signals whose baseline is the person's own history or a set limit: their numbers may be quoted.
# The others compare with colleagues, so the nudge says so in words, without anyone else's figures.
OWN_BASELINE = frozenset({AnomalyKind.SPEND_SPIKE, AnomalyKind.SPEND_PER_CYCLE, AnomalyKind.REQUESTS_PER_DAY,
                          AnomalyKind.TOKENS_PER_DAY})


def _nudge_line(signal: Signal) -> str:
    value = value_text(signal.value, signal.unit)
    on = signal.day.isoformat()
    if signal.kind is AnomalyKind.SPEND_SPIKE:
        ratio = f", {signal.ratio:.1f}× " if signal.ratio else ", above "
        return f"• You spent *{value}* on {on}{ratio}your usual {value_text(signal.baseline, signal.unit)} a day."
    if signal.kind in OWN_BASELINE:
        return (f"• {signal.kind.label}: *{value}* ({on}), above the limit of "
                f"{value_text(signal.baseline, signal.unit)} your team set.")
    return f"• Your {'spend' if signal.unit == 'usd' else signal.unit} on {on} (*{value}*) is well above what is " \
           "typical on the team."


def nudge_message(view: IncidentView, alternative: tuple[str, float] | None) -> AlertMessage:
    """A friendly DM to the person behind an incident, about their own usage only."""
    first = (view.name or "").split(" ")[0] or "there"
    signals = [s for s in view.signals if s.kind is not AnomalyKind.TEAM_BUDGET
               and s.kind is not AnomalyKind.FORECAST_BUDGET][:4]
    lines = [_nudge_line(s) for s in signals]
    primary = view.primary
    if primary and primary.model:
        share = f"{primary.model_share * 100:.0f} % of it" if primary.model_share is not None else "Most of it"
        where = f" in {c.tool(primary.tool)}" if primary.tool else ""
        lines.append(f"• {share} went to *{c.escape(primary.model)}*{where}.")
    blocks = [c.section(f"Hi {c.escape(first)} :wave: A friendly heads-up about your own AI coding usage — only "
                        "you see this message."),
              c.section("\n".join(lines) or "• Your usage today is well above your usual.")]
    if alternative and primary and primary.model:
        model, share = alternative
        blocks.append(c.section(f":bulb: *{c.escape(model)}* costs about {(1 - share) * 100:.0f} % less per token "
                                f"than {c.escape(primary.model)} — often plenty for everyday edits and questions."))
    blocks.append(c.context("No action needed: this is so the number doesn't surprise you. Your admins see the "
                            f"alert as incident #{view.id}."))
    text = f"A heads-up about your AI coding usage: {lines[0].lstrip('• ').replace('*', '') if lines else ''}"
    return AlertMessage(text=c.plain_clip(text, 3000), blocks=blocks)
