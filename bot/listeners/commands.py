"""`/abacus`: ack first, then (in the work pool) parse → requester → permission → one service
call → deliver. Every failure goes through the one error handler."""

from __future__ import annotations

from bot.blocks import common as c
from bot.ids import SLASH_COMMAND
from bot.services.authz import authorize
from bot.services.container import Services
from bot.services.delivery import Target
from bot.services.grammar import Sub, parse_command

from .errors import ErrorReporter


def register(app, services: Services, errors: ErrorReporter) -> None:
    @app.command(SLASH_COMMAND)
    def abacus_command(ack, command, respond):
        ack()
        target = Target(user_id=command["user_id"], channel_id=command.get("channel_id"),
                        respond=respond if command.get("response_url") else None)

        def work() -> None:
            cmd = parse_command(command.get("text"))
            # help is answered without the database, so it answers even while the database is stuck
            requester = (services.authorizer.requester_without_database(target.user_id) if cmd.sub is Sub.HELP
                         else services.authorizer.requester(target.user_id))
            authorize(requester, cmd)
            reply = services.commands.run(cmd, requester, progress=lambda text: services.delivery.ephemeral(
                target, text, [c.section(text)]))
            services.delivery.deliver(reply, target, share=cmd.share)

        services.submit(errors.guarded(target, work))
