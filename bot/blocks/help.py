"""Help, usage errors, refusals and failures: always ephemeral, always short."""

from __future__ import annotations

import re

from bot.ids import SLASH_COMMAND
from bot.services.grammar import PERIOD_HELP, USAGE, Sub

from . import common as c

EVERYONE = (Sub.ME, Sub.HELP)
TEAM = (Sub.DASHBOARD, Sub.TOP, Sub.USER, Sub.USERS, Sub.MODELS, Sub.GROUPS, Sub.ADOPTION, Sub.FORECAST,
        Sub.INCIDENTS, Sub.EXPORT, Sub.UNMAPPED, Sub.SETTINGS)
ADMIN = (Sub.MAP, Sub.SYNC)

DESCRIPTIONS = {
    Sub.HELP: "this help",
    Sub.ME: "your own usage, models, productivity",
    Sub.DASHBOARD: "spend, tokens, active people, Δ vs previous period + daily chart",
    Sub.TOP: "who drives the cost (ranked) + bar chart",
    Sub.USER: "one person's usage page",
    Sub.USERS: "the people table: sort, filter, page",
    Sub.MODELS: "spend by model",
    Sub.GROUPS: "spend by billing group",
    Sub.ADOPTION: "seats vs active people, never-used seats, daily actives",
    Sub.FORECAST: "this month so far and projected, vs budget",
    Sub.INCIDENTS: "open incidents, MTTD/MTTI/MTTR",
    Sub.EXPORT: "CSV of usage by person",
    Sub.UNMAPPED: "API keys with usage but no owner",
    Sub.SETTINGS: "budget, thresholds, access",
    Sub.MAP: "assign a key to a person (retroactive)",
    Sub.SYNC: "pull usage from the vendors now",
}


def _lines(subs) -> str:
    return "\n".join(f"`{SLASH_COMMAND} {c.escape(USAGE[s])}` — {DESCRIPTIONS[s]}" for s in subs)


def help_blocks(*, can_view_team: bool, can_admin: bool) -> list[dict]:
    blocks = [c.header("Abacus: what AI coding tools cost"),
              c.section("*For everyone*\n" + _lines(EVERYONE))]
    team_note = "" if can_view_team else " _(admins and viewers)_"
    blocks.append(c.section(f"*Team views*{team_note}\n" + _lines(TEAM)))
    admin_note = "" if can_admin else " _(admins)_"
    blocks.append(c.section(f"*Changes*{admin_note}\n" + _lines(ADMIN)))
    blocks.append(c.context(f"{PERIOD_HELP}. Answers are private; add `share` at the end to post in the channel. "
                            "Charts and files arrive in your DM with Abacus."))
    return blocks


# a command our own messages quote in backticks (`/abacus me`, `abacus import`): after escaping,
# its backticks are look-alikes; plain command words get their code formatting back
_QUOTED_COMMAND = re.compile("\u02cb(/?abacus[A-Za-z0-9 ./:_=-]{0,80})\u02cb")


def _message(text: str) -> str:
    """An error or refusal, which may quote what the user typed: rendered literally (no mention,
    link or formatting from it), except the commands we quote."""
    return _QUOTED_COMMAND.sub(lambda m: f"`{m.group(1)}`", c.escape(text))


def usage_error_blocks(message: str, sub: Sub | None) -> list[dict]:
    """A bad command: what was wrong plus how to write it."""
    text = f":warning: {_message(message)}"
    if sub is not None:
        text += f"\nUsage: `{SLASH_COMMAND} {c.escape(USAGE[sub])}`"
    else:
        text += f"\nTry `{SLASH_COMMAND} help`. Commands: " + ", ".join(f"`{s.value}`" for s in Sub)
    return [c.section(text), c.context(PERIOD_HELP)]


def warning_blocks(message: str) -> list[dict]:
    return [c.section(f":warning: {_message(message)}")]


def refusal_blocks(message: str) -> list[dict]:
    return [c.section(f":no_entry: {_message(message)}")]


def failure_blocks(message: str, error_id: str | None = None) -> list[dict]:
    text = f":x: {_message(message)}"
    if error_id:
        text += f"\nError id `{c.escape(error_id)}` (the operator can find it in the logs)."
    return [c.section(text)]
