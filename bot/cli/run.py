"""`abacus run`: the Slack bot (Socket Mode) and its scheduler, until SIGTERM."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("run", help="run the Slack bot and its scheduler",
                       description="Connect to Slack over Socket Mode (SLACK_BOT_TOKEN, SLACK_APP_TOKEN) and answer "
                                   "/abacus; sync and detection run on ABACUS_SYNC_SCHEDULE (UTC cron). Runs until "
                                   "SIGTERM, then finishes in-flight work and exits 0.")
    p.set_defaults(handler=run)


def run(args) -> int:
    from bot.app import run as run_bot
    from bot.config import load_settings

    return run_bot(load_settings(), verbose=bool(getattr(args, "verbose", False)))
