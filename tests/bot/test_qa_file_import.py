"""QA pass on CSVs shared in Slack: a bot killed in the middle of an import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import text

from bot.blocks.payloads import SharedFileRef
from bot.import_service import ImportService
from bot.services.authz import Requester, Role
from bot.services.file_import import SharedFileImports
from tests.fakes.slack import BOT_TOKEN, FakeSlack

ADMIN = "U0QAADMIN"
CSV = (b"Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
       b"Total Tokens,Cost\n2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,0.10\n")


def _usage_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()


def _service(engine, slack: FakeSlack, *, member: str | None = None) -> tuple[SharedFileImports, Requester]:
    """The shared-file service on the fake Slack; everyone is the admin, except `member`."""
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    admin = Requester(ADMIN, "boss@example.com", Role.ADMIN)

    def requester(user_id: str) -> Requester:
        return Requester(member, "member@example.com", Role.MEMBER) if user_id == member else admin

    service = SharedFileImports(engine, client, importer=ImportService(engine, email_domain=None),
                                requester=requester, dm_channel=slack.dm_channel)
    return service, admin


def _set_importing(engine, file_id: str, since: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE slack_file_import SET status = 'importing', updated_at = :t WHERE file_id = :f"),
                     {"t": since, "f": file_id})


def test_an_import_left_half_done_by_a_killed_bot_can_be_clicked_again(engine):
    """The import ran in one transaction, so a bot killed in the middle wrote nothing, but the share
    stayed `importing`: every later click on Import did nothing, silently, for ever."""
    with FakeSlack() as slack:
        service, admin = _service(engine, slack)
        shared = slack.register_file("team.csv", CSV, "text/csv", user_id=ADMIN, channels=[slack.dm_channel(ADMIN)])
        service.shared(file_id=shared["id"], user_id=ADMIN, channel=slack.dm_channel(ADMIN))
        [preview] = [c for c in slack.calls("chat.postMessage") if "Import preview" in (c.get("text") or "")]
        where = (preview.response["channel"], preview.response["ts"])
        ref = SharedFileRef(shared["id"])

        # a click now while another one is importing (a double click): nothing done twice
        _set_importing(engine, shared["id"], datetime.now(UTC))
        service.confirm(ref, admin, approved_moves=None, message=where)
        assert _usage_rows(engine) == 0

        # the bot that was importing died an hour ago: the next click imports
        _set_importing(engine, shared["id"], datetime.now(UTC) - timedelta(hours=1))
        service.confirm(ref, admin, approved_moves=None, message=where)
        assert _usage_rows(engine) == 1
        assert any(c.get("ts") == where[1] and "Imported" in (c.get("text") or "") for c in slack.calls("chat.update"))

        # and a click on the finished import changes nothing
        updates = len(slack.calls("chat.update"))
        service.confirm(ref, admin, approved_moves=None, message=where)
        assert _usage_rows(engine) == 1 and len(slack.calls("chat.update")) == updates


def test_a_share_claimed_by_a_bot_that_died_before_its_preview_is_previewed_when_shared_again(engine):
    with FakeSlack() as slack:
        service, admin = _service(engine, slack)
        shared = slack.register_file("team.csv", CSV, "text/csv", user_id=ADMIN, channels=[slack.dm_channel(ADMIN)])
        from storage import import_repo
        from storage.db import session_scope

        with session_scope(engine) as s:  # the claim of a bot killed right after it
            assert import_repo.claim_shared_file(session=s, file_id=shared["id"], user_id=ADMIN, channel=None)
        # a moment later the other event of the same share: still the first bot's (nothing twice)
        service.shared(file_id=shared["id"], user_id=ADMIN, channel=slack.dm_channel(ADMIN))
        assert not [c for c in slack.calls("chat.postMessage") if "Import preview" in (c.get("text") or "")]
        with engine.begin() as conn:
            conn.execute(text("UPDATE slack_file_import SET updated_at = :t WHERE file_id = :f"),
                         {"t": datetime.now(UTC) - timedelta(hours=1), "f": shared["id"]})
        # shared again (into another conversation) an hour later: previewed
        service.shared(file_id=shared["id"], user_id=ADMIN, channel=slack.dm_channel(ADMIN))
        assert len([c for c in slack.calls("chat.postMessage") if "Import preview" in (c.get("text") or "")]) == 1


def test_a_file_refused_to_a_member_is_previewed_when_an_admin_shares_it(engine):
    """The member is told "ask one of them [an admin] to share it with me"; the admin sharing that
    very file (Slack keeps the file id) got nothing at all: the member's refused claim held it."""
    member_id = "U0QAMEMBER"
    with FakeSlack() as slack:
        service, admin = _service(engine, slack, member=member_id)
        shared = slack.register_file("team.csv", CSV, "text/csv", user_id=member_id, channels=["C0GENERAL"])

        def refusals():
            return [c for c in slack.calls("chat.postEphemeral") if "only Abacus admins" in (c.get("text") or "")]

        def previews():
            return [c for c in slack.calls("chat.postMessage") if "Import preview" in (c.get("text") or "")]

        for _event in ("file_shared", "message"):  # one share, two events: refused once
            service.shared(file_id=shared["id"], user_id=member_id, channel="C0GENERAL")
        assert len(refusals()) == 1 and previews() == []
        for _event in ("file_shared", "message"):  # the admin's share of the same file: previewed once
            service.shared(file_id=shared["id"], user_id=ADMIN, channel="C0GENERAL")
        [preview] = previews()
        assert preview["channel"] == slack.dm_channel(ADMIN) and len(refusals()) == 1
        service.confirm(SharedFileRef(shared["id"]), admin, approved_moves=None,
                        message=(preview.response["channel"], preview.response["ts"]))
        assert _usage_rows(engine) == 1
        # a late event of the admin's own share previews nothing again
        service.shared(file_id=shared["id"], user_id=ADMIN, channel="C0GENERAL")
        assert len(previews()) == 1 and _usage_rows(engine) == 1


def test_a_share_that_slack_failed_to_hand_over_is_previewed_when_shared_again(engine):
    """A download that failed, or a files.info that answered 500, is Slack's failure, not the file's:
    the sharer was told "could not download" (or nothing at all), and sharing the file again did
    nothing — its claim was kept as refused (or `claimed` for 15 minutes)."""
    with FakeSlack() as slack:
        service, admin = _service(engine, slack)
        dm = slack.dm_channel(ADMIN)

        def said(needle):
            return [c.get("text") for c in slack.calls("chat.postMessage") if needle in (c.get("text") or "")]

        # the download fails (Slack answers 404 for a moment)
        shared = slack.register_file("team.csv", CSV, "text/csv", user_id=ADMIN, channels=[dm])
        with slack._cond:
            kept = slack._files.pop(shared["id"])
        service.shared(file_id=shared["id"], user_id=ADMIN, channel=dm, file_obj=shared)
        assert said("could not download") and "share it again" in said("could not download")[0]
        with slack._cond:
            slack._files[shared["id"]] = kept
        service.shared(file_id=shared["id"], user_id=ADMIN, channel=dm, file_obj=shared)
        assert len(said("Import preview: team.csv")) == 1

        # files.info answers 500 once
        other = slack.register_file("other.csv", CSV, "text/csv", user_id=ADMIN, channels=[dm])
        slack.fail_next("files.info", status=500, error="internal_error")
        service.shared(file_id=other["id"], user_id=ADMIN, channel=dm)
        assert said("Slack did not give me the file's details (internal_error); share it again")
        service.shared(file_id=other["id"], user_id=ADMIN, channel=dm)
        assert len(said("Import preview: other.csv")) == 1
        assert _usage_rows(engine) == 0  # previews only


def test_a_screenshot_in_a_channel_gets_no_import_refusal(engine):
    """Every picture anyone posted in a channel the bot is in (the alert channel first) drew a
    "Cannot import this file: only Abacus admins can import files" (or "only CSV files") reply.
    A picture in the bot's DM, and a CSV in a channel, are still answered."""
    member_id = "U0QAMEMBER"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    with FakeSlack() as slack:
        service, _ = _service(engine, slack, member=member_id)

        def replies():
            return [c.get("text") for c in slack.calls() if c.method in ("chat.postEphemeral", "chat.postMessage")]

        for who in (member_id, ADMIN):
            shot = slack.register_file("Screenshot.png", png, "image/png", user_id=who, channels=["C0ALERTS"])
            service.shared(file_id=shot["id"], user_id=who, channel="C0ALERTS")  # file_shared: files.info
            service.shared(file_id=shot["id"], user_id=who, channel="C0ALERTS", file_obj=shot)  # the message
        assert replies() == [] and slack.downloads() == []

        in_dm = slack.register_file("chart.png", png, "image/png", user_id=ADMIN, channels=[slack.dm_channel(ADMIN)])
        service.shared(file_id=in_dm["id"], user_id=ADMIN, channel=slack.dm_channel(ADMIN))
        assert any("only CSV files" in t for t in replies())
        csv_in_channel = slack.register_file("team.csv", CSV, "text/csv", user_id=member_id, channels=["C0ALERTS"])
        service.shared(file_id=csv_in_channel["id"], user_id=member_id, channel="C0ALERTS")
        assert any("only Abacus admins" in t for t in replies()) and slack.downloads() == []


def test_a_files_info_failure_in_a_channel_is_quiet_and_the_message_event_previews(engine):
    with FakeSlack() as slack:
        service, admin = _service(engine, slack)
        shared = slack.register_file("team.csv", CSV, "text/csv", user_id=ADMIN, channels=["C0GENERAL"])
        slack.fail_next("files.info", status=500, error="internal_error")
        service.shared(file_id=shared["id"], user_id=ADMIN, channel="C0GENERAL")  # file_shared
        assert [c for c in slack.calls() if c.method.startswith("chat.")] == []
        service.shared(file_id=shared["id"], user_id=ADMIN, channel="C0GENERAL", file_obj=shared)  # message
        assert [c.get("text") for c in slack.calls("chat.postMessage")][0].startswith("Import preview: team.csv")
