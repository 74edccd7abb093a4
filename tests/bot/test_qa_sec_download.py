"""QA pass (security): downloading a shared file sends the bot token to Slack's file address only."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from slack_sdk import WebClient

from bot.import_service import ImportService
from bot.services.file_import import SharedFile, SharedFileImports

TOKEN = "xoxb-1111-2222-SECRETbottoken"


def _serve(host: str, answer) -> tuple[HTTPServer, list[dict]]:
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen.append(dict(self.headers))
            answer(self)

        def log_message(self, *args):
            pass

    server = HTTPServer((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_a_redirect_to_another_host_does_not_carry_the_bot_token(engine):
    """urllib copies every header onto a redirect, wherever it points: a file address that answered
    with a redirect elsewhere handed that host the bot token. Only the host asked gets it."""
    def csv(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", "4")
        handler.end_headers()
        handler.wfile.write(b"a,b\n")

    elsewhere, seen_elsewhere = _serve("127.0.0.2", csv)

    def redirect(handler):
        if handler.path.startswith("/same"):
            handler.send_response(302)
            handler.send_header("Location", f"http://127.0.0.2:{elsewhere.server_address[1]}/file.csv")
        else:
            handler.send_response(302)
            handler.send_header("Location", "/same")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    slack_files, seen_slack = _serve("127.0.0.1", redirect)
    try:
        client = WebClient(token=TOKEN, base_url=f"http://127.0.0.1:{slack_files.server_address[1]}/api/")
        service = SharedFileImports(engine, client, importer=ImportService(engine, email_domain=None),
                                    requester=lambda _uid: None, dm_channel=lambda uid: "D" + uid)
        info = SharedFile("F1", "team.csv", "csv", "text/csv", 4,
                          f"http://127.0.0.1:{slack_files.server_address[1]}/files-pri/T1-F1/download/team.csv")
        assert service._download(info) == b"a,b\n"
    finally:
        slack_files.shutdown()
        elsewhere.shutdown()
    # the same host keeps the token across its own redirect; the other host never sees it
    assert [h.get("Authorization") for h in seen_slack] == [f"Bearer {TOKEN}"] * 2
    assert len(seen_elsewhere) == 1 and "Authorization" not in seen_elsewhere[0]


def test_a_file_kept_outside_slack_is_not_fetched_with_the_bot_token(engine):
    """A file object whose address is another service's (a remote file, a Drive link) got the bot
    token like Slack's own: the download is refused before any request."""
    import pytest

    from core.errors import InputError

    elsewhere, seen = _serve("127.0.0.2", lambda handler: handler.send_response(200))
    try:
        client = WebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/")
        service = SharedFileImports(engine, client, importer=ImportService(engine, email_domain=None),
                                    requester=lambda _uid: None, dm_channel=lambda uid: "D" + uid)
        for url in (f"http://127.0.0.2:{elsewhere.server_address[1]}/export.csv",
                    "https://docs.google.com/spreadsheets/d/x/export?format=csv",
                    "https://files.slack.com.evil.example/files-pri/T1-F1/team.csv"):
            with pytest.raises(InputError, match="not stored in Slack"):
                service._download(SharedFile("F1", "team.csv", "csv", "text/csv", 4, url))
    finally:
        elsewhere.shutdown()
    assert seen == []


def test_slacks_own_file_hosts_are_accepted():
    from bot.services.file_import import _slack_host

    assert _slack_host("files.slack.com", "slack.com") and _slack_host("files.slack.com", "proxy.example")
    assert _slack_host("files.slack-gov.com", "slack-gov.com") and _slack_host("127.0.0.1", "127.0.0.1")
    assert not _slack_host("slack.com.evil.example", "slack.com") and not _slack_host("evilslack.com", "slack.com")
    assert not _slack_host(None, "slack.com")
