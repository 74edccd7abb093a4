"""The App Home's alerting sections (bot/services/home.py puts them first): open incidents with
their buttons, the scheduled jobs, and the alert messages the sender gave up on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.blocks import common as c
from bot.blocks.alerts import incident_actions, summary_line
from bot.ids import ActionId, BlockId
from core.incidents import IncidentView


def home_incidents(views: Sequence[IncidentView], *, more: bool, can_act: bool, now: datetime) -> list[dict]:
    """Open incidents, each with its buttons (admins) — 2 blocks each."""
    title = f"*Open incidents* · {len(views)}{'+' if more else ''}"
    blocks = [c.section(title)]
    if not views:
        blocks.append(c.context(":white_check_mark: Nothing open."))
    for view in views:
        blocks.append(c.section(summary_line(view, now)))
        buttons = incident_actions(view) if can_act else None
        if buttons:
            blocks.append(buttons)
    if more:
        blocks.append(c.context("More: `/abacus incidents`."))
    blocks.append(c.divider())
    return blocks


RUN_LABEL = {"ok": ":white_check_mark: ok", "failed": ":x: failed", "running": ":hourglass_flowing_sand: running",
             "interrupted": ":warning: interrupted (the process stopped mid-run)"}


def home_schedule(lines: Sequence) -> list[dict]:
    """Scheduled jobs: schedule, last run (and how it went), next run."""
    rows = []
    for line in lines:
        last = line.last
        if last is None:
            last_text = "never ran"
        else:
            status = RUN_LABEL.get(last.status.value, last.status.value)
            last_text = f"{c.when(last.started_at)} {status}"
            if last.summary and last.status.value in ("ok", "failed"):
                last_text += f" — {c.escape(c.clip(last.summary, 300))}"
        rows.append(f"*{c.escape(line.label)}* · `{c.escape(line.schedule)}` (UTC)\n"
                    f"last: {last_text}\nnext: {c.when(line.next) if line.next else 'not scheduled'}")
    if not rows:
        return []
    return [c.section("*Schedule*"), c.section("\n".join(rows)), c.divider()]


TRANSPORT_LABEL = {"slack": "Slack channel", "email": "Email", "dm": "Direct messages"}
# what to check, by the reason a message was given up on (the sender's words: bot/services/alerting.py)
DELIVERY_HINTS = (
    (("channel_not_found", "not_in_channel", "is_archived"),
     "invite the bot to the channel of ABACUS_ALERT_CHANNEL (or set another channel id)"),
    (("invalid_auth", "token_revoked", "account_inactive", "not_authed", "missing_scope"),
     "the bot token no longer works or lacks a scope: reinstall the app from manifest.yml"),
    (("SMTP", "email"), "check ABACUS_SMTP_URL and ABACUS_ALERT_EMAIL_TO"),
)


def _delivery_hint(error: str | None) -> str:
    for needles, hint in DELIVERY_HINTS:
        if error and any(n in error for n in needles):
            return hint
    return "see the bot's log for the details"


def home_delivery(failed: Sequence, *, can_act: bool) -> list[dict]:
    """Alert messages the sender gave up on (storage.outbox_repo.FailedDeliveries): how many, why,
    what to check; admins get a button that sends them again. Nothing when every message went out."""
    if not failed:
        return []
    total = sum(f.count for f in failed)
    lines = [f"• {TRANSPORT_LABEL.get(f.transport.value, f.transport.value)}: {f.count:,} "
             f"(newest queued {c.when(f.newest_at)}) — {c.escape(c.clip(f.newest_error or 'no reason recorded', 200))}"
             f"\n   _{_delivery_hint(f.newest_error)}_" for f in failed]
    blocks = [c.section(f":x: *Alert delivery* · {total:,} message{'s' if total != 1 else ''} could not be sent\n"
                        + "\n".join(lines))]
    if can_act:
        blocks.append(c.actions([c.button("Send them again", ActionId.ALERTS_RETRY, style="primary")],
                                block_id=BlockId.HOME_DELIVERY))
    else:
        blocks.append(c.context("An admin can send them again from here once the cause is fixed."))
    return [*blocks, c.divider()]
