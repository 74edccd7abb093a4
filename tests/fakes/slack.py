"""A fake Slack for offline end-to-end tests: Web API + Socket Mode WebSocket + file hosting.

One aiohttp server on 127.0.0.1 (ephemeral port) runs in a background thread with its own event
loop. Tests drive it through a synchronous, thread-safe API. The bot under test is a real process
pointed here by environment only (see ``FakeSlack.env()``)::

    with FakeSlack() as fake:
        bot = launch_bot_process(fake, env={...})          # tests/fakes/slack_pytest.py
        ack = fake.send(fake.slash_command("top 5"))        # waits for the Socket Mode ack (3 s)
        post = fake.wait_call("chat.postEphemeral")
        assert fake.violations == []

Routes (see docs reference slack-platform.md section 9):
  POST|GET /api/{method}                          Web API, recorded and answered statefully
  GET      /link/?ticket=…                        Socket Mode WebSocket (single-use tickets)
  POST     /upload/v1/{file_id}, /upload/{id}     raw upload target of files.getUploadURLExternal
  GET      /files-pri/{team}-{file_id}/…          file download; needs ``Authorization: Bearer xoxb-…``
  POST     /response/{id}                         response_url target (Bolt ``respond()``)
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import mimetypes
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import WSMsgType, web

from tests.fakes.blockkit import validate_message, validate_view

log = logging.getLogger(__name__)

TEAM_ID = "T0FAKE"
TEAM_DOMAIN = "abacus-test"
TEAM_NAME = "Abacus Test"
ENTERPRISE_ID = None
APP_ID = "A0ABACUS"
BOT_USER_ID = "U0ABACUSBOT"
BOT_ID = "B0ABACUSBOT"
BOT_NAME = "abacus"
BOT_TOKEN = "xoxb-0000-fake-bot-token"
APP_TOKEN = "xapp-1-A0ABACUS-fake-app-token"
DEFAULT_USER_ID = "U0ALICE"
DEFAULT_CHANNEL_ID = "C0GENERAL"

# fields that arrive JSON-encoded inside form bodies
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")

Override = Callable[[dict], "tuple[int, dict, Mapping[str, str] | None] | None"]


class FakeSlackTimeout(AssertionError):
    """Something the test waited for did not happen in time (an ack, a call, a socket)."""


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the fake saw it, plus what it answered."""

    method: str
    token: str | None
    body: dict
    content_type: str
    time: float
    http_method: str
    status: int
    response: dict
    response_headers: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass(frozen=True)
class Injection:
    """An envelope sent over Socket Mode and its acknowledgement."""

    envelope: dict
    ack: dict | None
    latency: float | None  # seconds from send to ack
    socket_id: int


@dataclass(frozen=True)
class SocketFrame:
    socket_id: int
    direction: str  # "in" = from the bot, "out" = from the fake
    data: Any  # parsed JSON, or the raw text when it is not JSON
    time: float


@dataclass(frozen=True)
class ResponsePost:
    """A POST to a ``response_url`` the fake put in a payload (Bolt ``respond()``)."""

    response_id: str
    body: dict
    time: float
    status: int


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded with files_upload_v2 (getUploadURLExternal → upload → complete)."""

    file_id: str
    filename: str
    title: str | None
    alt_txt: str | None
    snippet_type: str | None
    channel_id: str | None
    channels: tuple[str, ...]
    initial_comment: str | None
    thread_ts: str | None
    content: bytes
    length: int  # the length the bot declared in getUploadURLExternal


@dataclass(frozen=True)
class Download:
    file_id: str
    authorized: bool
    time: float


@dataclass(frozen=True)
class Violation:
    """A payload strict mode rejected with invalid_blocks (or a protocol misuse)."""

    method: str
    problems: tuple[str, ...]
    body: dict


@dataclass
class _Socket:
    id: int
    ws: web.WebSocketResponse
    opened_at: float
    closed_at: float | None = None
    superseded: bool = False  # sent a `disconnect`; closed by the fake once a new socket connects


class FakeSlack:
    """Fake Slack server. Use as a context manager, or call ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        strict: bool = True,
        trigger_ttl: float | None = 3.0,
        exact_tokens: bool = False,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
    ) -> None:
        self.strict = strict  # validate every blocks payload; violations → invalid_blocks
        self.trigger_ttl = trigger_ttl  # seconds a trigger_id stays valid after injection; None = forever
        self.exact_tokens = exact_tokens  # False: any xoxb-/xapp- token; True: only the two below
        self.bot_token = bot_token
        self.app_token = app_token
        self.overrides: dict[str, Override] = {}
        self._cond = threading.Condition(threading.RLock())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._sockets: list[_Socket] = []
        self._tickets: dict[str, bool] = {}  # ticket → used
        self._handlers: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.replies": self._conversations_replies,
        }
        self._clear()

    def _clear(self) -> None:
        """Forget everything recorded and registered (not the live sockets)."""
        self._calls: list[ApiCall] = []
        self._frames: list[SocketFrame] = []
        self._acks: dict[str, tuple[dict, float]] = {}
        self._injections: list[Injection] = []
        self._messages: dict[str, dict[str, dict]] = {}  # channel → ts → {"message", "versions", "deleted"}
        self._ephemerals: list[dict] = []
        self._views: dict[str, dict] = {}
        self._home: dict[str, str] = {}  # user → view id
        self._pending_uploads: dict[str, dict] = {}
        self._uploads: list[UploadedFile] = []
        self._files: dict[str, dict] = {}  # file id → {"file": slack file object, "content": bytes}
        self._downloads: list[Download] = []
        self._responses: list[ResponsePost] = []
        self._users: dict[str, dict] = {}
        self._channels: dict[str, dict] = {}
        self._triggers: dict[str, float] = {}  # trigger_id → issued/injected at (monotonic)
        self.violations: list[Violation] = []
        self._counter = 0
        self._last_ts_us = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready, errors), name="fake-slack", daemon=True)
        self._thread.start()
        if not ready.wait(10) or errors:
            raise RuntimeError(f"fake Slack did not start: {errors[:1]}")
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._startup())
        except Exception as exc:  # noqa: BLE001 - reported to start(), which raises in the test thread
            errors.append(exc)
            ready.set()
            return
        ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._link)
        app.router.add_get("/link", self._link)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._download)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/response/{response_id}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        for s in list(self._sockets):
            if s.closed_at is None:
                await s.ws.close(code=1001, message=b"server shutdown")
        if self._runner is not None:
            await self._runner.cleanup()

    # --- addresses -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("fake Slack is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for SLACK_API_URL / ``WebClient(base_url=...)``."""
        return f"{self.url}/api/"

    def env(self) -> dict[str, str]:
        """Environment that points a bot process at this fake."""
        return {"SLACK_BOT_TOKEN": self.bot_token, "SLACK_APP_TOKEN": self.app_token, "SLACK_API_URL": self.api_url}

    # --- waiting ---------------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], Any], timeout: float = 5.0, message: str = "condition") -> Any:
        """Block until ``condition()`` is truthy (re-checked on every state change); return its value."""
        with self._cond:
            result = self._cond.wait_for(condition, timeout=timeout)
        if not result:
            raise FakeSlackTimeout(f"timed out after {timeout}s waiting for {message}; {self._summary()}")
        return result

    def _changed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _summary(self) -> str:
        with self._cond:
            methods = [c.method + ("" if c.ok else f"({c.response.get('error')})") for c in self._calls]
            return (
                f"calls so far: {methods}; sockets open: {self.open_socket_count}; "
                f"violations: {[v.problems for v in self.violations]}"
            )

    # --- Web API calls ---------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, since: int = 0) -> list[ApiCall]:
        with self._cond:
            return [c for c in self._calls[since:] if method is None or c.method == method]

    def mark(self) -> int:
        """Position in the call log; pass as ``since=`` to only look at later calls."""
        with self._cond:
            return len(self._calls)

    def wait_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 5.0,
        *,
        since: int = 0,
    ) -> ApiCall:
        """First call to ``method`` (at or after ``since``) matching ``predicate(call)``.

        ``call["channel"]`` reads the parsed body, ``call.response`` is what the fake answered.
        """

        def find() -> ApiCall | None:
            for c in self._calls[since:]:
                if c.method == method and (predicate is None or predicate(c)):
                    return c
            return None

        return self.wait_for(find, timeout, f"a {method} call")

    # --- Socket Mode -----------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """Socket Mode connections accepted since start (not reset by ``reset()``)."""
        with self._cond:
            return len(self._sockets)

    @property
    def open_socket_count(self) -> int:
        with self._cond:
            return sum(1 for s in self._sockets if s.closed_at is None)

    def wait_for_socket(self, timeout: float = 10.0, *, min_connections: int = 1) -> int:
        """Wait until at least ``min_connections`` sockets were accepted and one is open."""

        def ready() -> int | None:
            if len(self._sockets) >= min_connections and self.open_socket_count:
                return len(self._sockets)
            return None

        return self.wait_for(ready, timeout, f"Socket Mode connection #{min_connections}")

    def _newest_socket(self, timeout: float) -> _Socket:
        def newest() -> _Socket | None:
            open_sockets = [s for s in self._sockets if s.closed_at is None]
            return open_sockets[-1] if open_sockets else None

        return self.wait_for(newest, timeout, "an open Socket Mode connection")

    def _send_frame(self, sock: _Socket, data: dict) -> None:
        assert self._loop is not None
        text = json.dumps(data)
        asyncio.run_coroutine_threadsafe(sock.ws.send_str(text), self._loop).result(timeout=5)
        with self._cond:
            self._frames.append(SocketFrame(sock.id, "out", data, time.time()))
            self._cond.notify_all()

    def inject(
        self,
        envelope_type: str,
        payload: dict,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int = 0,
        retry_reason: str | None = None,
        timeout: float = 3.0,
        envelope_id: str | None = None,
    ) -> dict:
        """Send an envelope to the newest socket and return the bot's ack frame.

        Raises FakeSlackTimeout if no ack arrives within ``timeout`` (Slack's deadline is 3 s).
        The ack is ``{"envelope_id": …, "payload": {…}?}``. Pass the ``envelope_id`` of an earlier
        envelope to redeliver it, as Slack does when it thinks an ack was missed.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        with self._cond:
            self._acks.pop(envelope_id, None)  # a redelivery waits for its own ack
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = (
                retry_reason if retry_reason is not None else ("timeout" if retry_attempt else "")
            )
        sock = self._newest_socket(timeout)
        with self._cond:
            trigger_id = payload.get("trigger_id")
            if trigger_id in self._triggers:
                self._triggers[trigger_id] = time.monotonic()  # the 3 s start when Slack sends it
        sent_at = time.monotonic()
        self._send_frame(sock, envelope)
        with self._cond:
            got = self._cond.wait_for(lambda: envelope_id in self._acks, timeout=timeout)
            if not got:
                self._injections.append(Injection(envelope, None, None, sock.id))
                raise FakeSlackTimeout(
                    f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s; {self._summary()}"
                )
            ack, acked_at = self._acks[envelope_id]
            self._injections.append(Injection(envelope, ack, acked_at - sent_at, sock.id))
            return ack

    def send(self, payload: dict, *, timeout: float = 3.0, retry_attempt: int = 0,
             envelope_id: str | None = None) -> dict:
        """``inject`` with the envelope type and accepts_response_payload Slack would use for ``payload``."""
        kind = payload.get("type")
        if kind == "event_callback":
            return self.inject("events_api", payload, retry_attempt=retry_attempt, timeout=timeout,
                               envelope_id=envelope_id)
        if "command" in payload:
            return self.inject("slash_commands", payload, accepts_response_payload=True, timeout=timeout,
                               envelope_id=envelope_id)
        accepts = kind in ("view_submission", "block_suggestion")
        return self.inject("interactive", payload, accepts_response_payload=accepts, timeout=timeout,
                           envelope_id=envelope_id)

    def disconnect(self, reason: str = "refresh_requested", *, wait: bool = True, timeout: float = 10.0) -> int:
        """Send a ``disconnect`` message to the newest socket; the client should reconnect.

        Like Slack, the fake closes the old socket once the new one is connected (the builtin
        client would otherwise sit up to 3 s in a blocking read on it before using the new one).
        With ``wait`` (default) this returns once the new socket is the only one left, i.e. it is
        safe to ``inject`` again; returns ``connection_count``.
        """
        old = self._newest_socket(3.0)
        with self._cond:
            old.superseded = True
            before = len(self._sockets)
        self._send_frame(old, {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}})
        if not wait:
            return before

        def swapped() -> int | None:
            if len(self._sockets) > before and old.closed_at is not None and self.open_socket_count:
                return len(self._sockets)
            return None

        return self.wait_for(swapped, timeout, "the client to reconnect after `disconnect`")

    def close_sockets(self) -> None:
        """Close every socket from the server side (the builtin client takes ~10 s to notice)."""
        assert self._loop is not None
        for s in list(self._sockets):
            if s.closed_at is None:
                asyncio.run_coroutine_threadsafe(s.ws.close(code=1001), self._loop).result(timeout=15)

    def frames(self, direction: str | None = None) -> list[SocketFrame]:
        with self._cond:
            return [f for f in self._frames if direction is None or f.direction == direction]

    @property
    def injections(self) -> list[Injection]:
        with self._cond:
            return list(self._injections)

    @property
    def ack_latencies(self) -> list[float]:
        with self._cond:
            return [i.latency for i in self._injections if i.latency is not None]

    # --- state for assertions --------------------------------------------------------------------

    def messages(self, channel: str | None = None, *, include_deleted: bool = False) -> list[dict]:
        """Current state of posted messages (after updates), oldest first."""
        with self._cond:
            channels = [channel] if channel is not None else list(self._messages)
            return [
                copy.deepcopy(rec["message"])
                for ch in channels
                for rec in self._messages.get(ch, {}).values()
                if include_deleted or not rec["deleted"]
            ]

    def message(self, channel: str, ts: str) -> dict:
        with self._cond:
            return copy.deepcopy(self._messages[channel][ts]["message"])

    def message_versions(self, channel: str, ts: str) -> list[dict]:
        """Every version of a message: as posted, then after each chat.update."""
        with self._cond:
            return copy.deepcopy(self._messages[channel][ts]["versions"])

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict]:
        with self._cond:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (channel is None or e["channel"] == channel) and (user is None or e["user"] == user)
            ]

    def views(self) -> list[dict]:
        with self._cond:
            return copy.deepcopy(list(self._views.values()))

    def view(self, view_id: str) -> dict:
        with self._cond:
            return copy.deepcopy(self._views[view_id])

    def home_view(self, user_id: str) -> dict | None:
        """The Home tab last published for ``user_id``."""
        with self._cond:
            view_id = self._home.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def uploaded_files(self) -> list[UploadedFile]:
        with self._cond:
            return list(self._uploads)

    def downloads(self) -> list[Download]:
        with self._cond:
            return list(self._downloads)

    def responses(self, response_id: str | None = None) -> list[ResponsePost]:
        with self._cond:
            return [r for r in self._responses if response_id is None or r.response_id == response_id]

    def wait_response(
        self, predicate: Callable[[ResponsePost], bool] | None = None, timeout: float = 5.0, *, since: int = 0
    ) -> ResponsePost:
        def find() -> ResponsePost | None:
            return next((r for r in self._responses[since:] if predicate is None or predicate(r)), None)

        return self.wait_for(find, timeout, "a response_url post")

    def reset(self) -> None:
        """Forget calls, frames, messages, files, users, overrides and violations; keep sockets open."""
        with self._cond:
            self._clear()
            self.overrides.clear()
            self._cond.notify_all()

    # --- fault injection -------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail (then behave normally again).

        ``error="ratelimited"`` answers HTTP 429 with ``Retry-After`` (default 1 s); other errors
        answer 200 with ``{"ok": false, "error": error}`` like Slack does.
        """
        remaining = [times]
        if error == "ratelimited":
            status = status or 429
            retry_after = 1 if retry_after is None else retry_after
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None

        def override(body: dict) -> tuple[int, dict, Mapping[str, str] | None] | None:
            if remaining[0] <= 0:
                return None
            remaining[0] -= 1
            return status or 200, {"ok": False, "error": error}, headers

        self.overrides[method] = override

    # --- registries ------------------------------------------------------------------------------

    def register_user(
        self,
        user_id: str,
        email: str | None,
        name: str | None = None,
        is_admin: bool = False,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "UTC",
    ) -> dict:
        """Make ``users.info`` know ``user_id``; returns the Slack user object."""
        name = name or (email.split("@")[0] if email else user_id.lower())
        real_name = real_name or name.replace(".", " ").title()
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_offset": 0,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": {"real_name": real_name, "display_name": name, "email": email, "team": TEAM_ID},
        }
        if email is None:
            del user["profile"]["email"]
        with self._cond:
            self._users[user_id] = user
            self._cond.notify_all()
        return copy.deepcopy(user)

    def register_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
    ) -> dict:
        """Make ``conversations.info`` know a channel; ``is_member=False`` → posts get ``not_in_channel``."""
        channel = {
            "id": channel_id,
            "name": name or channel_id.lower(),
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_private": is_private,
            "is_member": is_member,
            "is_archived": is_archived,
            "created": int(time.time()),
            "context_team_id": TEAM_ID,
        }
        with self._cond:
            self._channels[channel_id] = channel
        return copy.deepcopy(channel)

    def register_file(
        self,
        name: str,
        content: bytes,
        mimetype: str | None = None,
        user_id: str = DEFAULT_USER_ID,
        *,
        title: str | None = None,
        filetype: str | None = None,
        channels: Iterable[str] = (),
    ) -> dict:
        """A file a user "shared": visible to ``files.info`` and downloadable; returns the file object."""
        mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        with self._cond:
            file_id = self._new_id("F")
            obj = self._file_object(file_id, name, title or name, mimetype, filetype, user_id, len(content), channels)
            self._files[file_id] = {"file": obj, "content": bytes(content)}
        return copy.deepcopy(obj)

    def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel with ``user_id`` (what ``conversations.open`` returns)."""
        return "D" + user_id[1:]

    # --- payload builders ------------------------------------------------------------------------

    def new_response_url(self) -> str:
        return f"{self.url}/response/{uuid.uuid4().hex}"

    def new_trigger_id(self) -> str:
        with self._cond:
            n = self._next_counter()
            trigger_id = f"{1000000 + n}.{int(time.time())}.{uuid.uuid4().hex[:24]}"
            self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    def slash_command(
        self,
        text: str = "",
        *,
        user_id: str = DEFAULT_USER_ID,
        channel_id: str = DEFAULT_CHANNEL_ID,
        command: str = "/abacus",
        user_name: str | None = None,
        channel_name: str | None = None,
    ) -> dict:
        """Payload of a ``slash_commands`` envelope (all values are strings, as Slack sends them)."""
        return {
            "token": "fake-verification-token",
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name or self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user_name or self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url(),
            "trigger_id": self.new_trigger_id(),
        }

    def block_actions(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user_id: str = DEFAULT_USER_ID,
        message_ts: str | None = None,
        channel_id: str | None = None,
        block_id: str | None = None,
        view_id: str | None = None,
        action_type: str = "button",
        selected_option: dict | None = None,
    ) -> dict:
        """Payload of a ``block_actions`` interaction (a button click by default).

        With ``message_ts`` the stored message the bot posted is used (its current blocks, channel
        and the clicked element's ``block_id``/text); with ``view_id`` the stored view is the container.
        """
        message: dict | None = None
        view: dict | None = None
        with self._cond:
            if message_ts is not None:
                for ch, recs in self._messages.items():
                    if message_ts in recs and channel_id in (None, ch):
                        message, channel_id = copy.deepcopy(recs[message_ts]["message"]), ch
                        break
            if view_id is not None:
                view = copy.deepcopy(self._views.get(view_id))
        element = _find_element((message or view or {}).get("blocks") or [], action_id)
        action: dict[str, Any] = {
            "type": action_type,
            "action_id": action_id,
            "block_id": block_id or (element or {}).get("_block_id") or "fake_block",
            "action_ts": self._ts_now(),
        }
        if element and element.get("text"):
            action["text"] = element["text"]
        if selected_option is not None:
            action["selected_option"] = selected_option
        elif value is not None:
            action["value"] = value
        elif element and "value" in element:
            action["value"] = element["value"]
        channel_id = channel_id or DEFAULT_CHANNEL_ID
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": self._user_name(user_id), "name": self._user_name(user_id),
                     "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "fake-verification-token",
            "trigger_id": self.new_trigger_id(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "response_url": self.new_response_url(),
            "actions": [action],
        }  # fmt: skip
        if view_id is not None:
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = view or {"id": view_id, "type": "modal", "blocks": [], "state": {"values": {}}}
        else:
            ts = message_ts or self._ts_now()
            payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel_id,
                                    "is_ephemeral": False}  # fmt: skip
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            payload["message"] = message or {"type": "message", "ts": ts, "text": "", "user": BOT_USER_ID,
                                             "bot_id": BOT_ID, "blocks": []}  # fmt: skip
        return payload

    def view_submission(
        self,
        callback_id: str | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        user_id: str = DEFAULT_USER_ID,
        view_id: str | None = None,
        private_metadata: str | None = None,
    ) -> dict:
        """Payload of a ``view_submission``.

        ``values`` is ``{block_id: {action_id: value}}``; a string value becomes a
        ``plain_text_input`` state, a dict is used as the state as-is. With ``view_id`` the stored
        view (from views.open) is submitted.
        """
        with self._cond:
            stored = copy.deepcopy(self._views.get(view_id)) if view_id else None
        view = stored or {
            "id": view_id or self._new_id("V"),
            "team_id": TEAM_ID,
            "type": "modal",
            "title": {"type": "plain_text", "text": "Fake modal"},
            "blocks": [],
            "private_metadata": "",
            "callback_id": callback_id or "",
            "hash": f"{int(time.time())}.fake",
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "previous_view_id": None,
        }
        view.setdefault("root_view_id", view["id"])
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        state: dict[str, dict[str, Any]] = {}
        for block_id, actions in (values or {}).items():
            state[block_id] = {
                action_id: ({"type": "plain_text_input", "value": v} if isinstance(v, str) or v is None else dict(v))
                for action_id, v in actions.items()
            }
        view["state"] = {"values": state}
        return {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": {"id": user_id, "username": self._user_name(user_id), "name": self._user_name(user_id),
                     "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "fake-verification-token",
            "trigger_id": self.new_trigger_id(),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }  # fmt: skip

    def event(self, event: Mapping[str, Any], *, event_id: str | None = None) -> dict:
        """Wrap an inner event in the ``event_callback`` payload Bolt routes on.

        Use a user id other than BOT_USER_ID: Bolt drops the bot's own events.
        """
        inner = dict(event)
        inner.setdefault("event_ts", self._ts_now())
        return {
            "token": "fake-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                 "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }  # fmt: skip

    def app_home_opened(self, user_id: str = DEFAULT_USER_ID, *, tab: str = "home") -> dict:
        event: dict[str, Any] = {"type": "app_home_opened", "user": user_id, "channel": self.dm_channel(user_id),
                                 "tab": tab}  # fmt: skip
        home = self.home_view(user_id)
        if home is not None:
            event["view"] = home
        return self.event(event)

    def file_shared(self, file_id: str, *, user_id: str | None = None, channel_id: str | None = None) -> dict:
        """``file_shared`` event (only the id; the bot must call files.info)."""
        user_id = user_id or self._file_owner(file_id)
        return self.event(
            {
                "type": "file_shared",
                "channel_id": channel_id or self.dm_channel(user_id),
                "file_id": file_id,
                "user_id": user_id,
                "file": {"id": file_id},
            }
        )

    def message_with_file(
        self,
        file_ids: str | Iterable[str],
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        text: str = "",
    ) -> dict:
        """``message`` event with ``subtype: file_share`` and the full file objects (default: in the DM)."""
        ids = [file_ids] if isinstance(file_ids, str) else list(file_ids)
        user_id = user_id or self._file_owner(ids[0])
        with self._cond:
            files = [copy.deepcopy(self._files[i]["file"]) for i in ids]
        return self.user_message(text, user_id=user_id, channel_id=channel_id, subtype="file_share", files=files)

    def user_message(
        self,
        text: str,
        *,
        user_id: str = DEFAULT_USER_ID,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict:
        """A user's ``message`` event (default: in the user's DM with the bot)."""
        channel_id = channel_id or self.dm_channel(user_id)
        ts = self._ts_now()
        event: dict[str, Any] = {
            "type": "message",
            "text": text,
            "user": user_id,
            "ts": ts,
            "channel": channel_id,
            "event_ts": ts,
            "channel_type": {"D": "im", "G": "group"}.get(channel_id[:1], "channel"),
            "team": TEAM_ID,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if extra.get("subtype") == "file_share":
            event["upload"] = True
        event.update(extra)
        return self.event(event)

    # --- HTTP handlers (event-loop thread) -------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        content_type = request.headers.get("Content-Type", "")
        body: dict[str, Any] = dict(request.query)
        if content_type.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                body[key] = value.file.read() if hasattr(value, "file") else value
        else:
            raw = await request.read()
            if raw:
                if "json" in content_type:
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        parsed = None
                    if not isinstance(parsed, dict):
                        return web.json_response({"ok": False, "error": "invalid_json"})
                    body.update(parsed)
                else:
                    body.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        for key in _JSON_FIELDS:
            if isinstance(body.get(key), str) and body[key][:1] in ("[", "{"):
                try:
                    body[key] = json.loads(body[key])
                except ValueError:
                    pass
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else body.pop("token", None)
        status, payload, headers = self._answer(method, token, body)
        call = ApiCall(method, token, body, content_type, time.time(), request.method, status, payload, dict(headers))
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        return web.json_response(payload, status=status, headers=headers)

    def _answer(self, method: str, token: str | None, body: dict) -> tuple[int, dict, Mapping[str, str]]:
        override = self.overrides.get(method)
        if override is not None:
            try:
                result = override(body)
            except Exception as exc:  # noqa: BLE001 - a broken override must show up, not hang the bot
                log.exception("override for %s failed", method)
                return 500, {"ok": False, "error": "fake_override_failed", "detail": repr(exc)}, {}
            if result is not None:
                status, payload, headers = result
                return status, payload, headers or {}
        error = self._token_error(method, token)
        if error:
            return 200, {"ok": False, "error": error}, {}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": True}, {}
        with self._cond:
            return 200, handler(body), {}

    def _token_error(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        wanted_prefix, wanted = (
            ("xapp-", self.app_token) if method == "apps.connections.open" else ("xoxb-", self.bot_token)
        )
        if not token.startswith(wanted_prefix):
            return "not_allowed_token_type" if token.startswith(("xoxb-", "xapp-", "xoxp-")) else "invalid_auth"
        if self.exact_tokens and token != wanted:
            return "invalid_auth"
        return None

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._cond:
            valid = self._tickets.get(ticket) is False
            if valid:
                self._tickets[ticket] = True  # tickets are single-use
        if not valid:
            return web.Response(status=401, text="invalid or reused ticket; call apps.connections.open")
        ws = web.WebSocketResponse(autoping=True, compress=False, timeout=2.0)
        await ws.prepare(request)
        with self._cond:
            sock = _Socket(len(self._sockets) + 1, ws, time.time())
            superseded = [s for s in self._sockets if s.superseded and s.closed_at is None]
            self._sockets.append(sock)
            self._cond.notify_all()
        for old in superseded:
            asyncio.ensure_future(old.ws.close(code=1001, message=b"refreshed"))
        hello = {
            "type": "hello",
            "num_connections": self.open_socket_count,
            "connection_info": {"app_id": APP_ID},
            "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
        }
        await ws.send_str(json.dumps(hello))
        with self._cond:
            self._frames.append(SocketFrame(sock.id, "out", hello, time.time()))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                received = time.monotonic()
                try:
                    data: Any = json.loads(msg.data)
                except ValueError:
                    data = msg.data
                with self._cond:
                    self._frames.append(SocketFrame(sock.id, "in", data, time.time()))
                    if isinstance(data, dict) and data.get("envelope_id"):
                        self._acks[data["envelope_id"]] = (data, received)
                    self._cond.notify_all()
        finally:
            with self._cond:
                sock.closed_at = time.time()
                self._cond.notify_all()
        return ws

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        with self._cond:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                return web.Response(status=404, text="unknown upload")
            pending["content"] = data
            self._cond.notify_all()
        return web.Response(text=f"OK - {len(data)}")

    async def _download(self, request: web.Request) -> web.Response:
        team, _, file_id = request.match_info["team_file"].partition("-")
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        authorized = token is not None and self._token_error("files.info", token) is None
        with self._cond:
            stored = self._files.get(file_id) if team == TEAM_ID else None
            self._downloads.append(Download(file_id, authorized, time.time()))
            self._cond.notify_all()
        if not authorized:
            # what real Slack does without the bearer token: redirect to an HTML sign-in page
            raise web.HTTPFound(f"/login?redir={quote(request.path)}")
        if stored is None:
            return web.Response(status=404, text="file not found")
        return web.Response(body=stored["content"], content_type=stored["file"]["mimetype"])

    async def _login_page(self, request: web.Request) -> web.Response:
        html = "<!DOCTYPE html><html><head><title>Sign in | Slack</title></head><body>Sign in</body></html>"
        return web.Response(text=html, content_type="text/html")

    async def _response_url(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = dict(parse_qsl(raw.decode("utf-8", "replace")))
        problems = validate_message(body) if self.strict and isinstance(body, dict) else []
        status = 400 if problems else 200
        with self._cond:
            if problems:
                self.violations.append(Violation("response_url", tuple(problems), body))
            self._responses.append(ResponsePost(request.match_info["response_id"], body, time.time(), status))
            self._cond.notify_all()
        return web.Response(status=status, text="invalid_blocks" if problems else "ok")

    # --- Web API methods (called with the lock held) ---------------------------------------------

    def _auth_test(self, body: dict) -> dict:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, body: dict) -> dict:
        ticket = str(uuid.uuid4())
        self._tickets[ticket] = False
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}

    def _post_target(self, body: dict) -> tuple[str | None, str | None]:
        """Resolve ``channel`` like Slack: a user id means the bot's DM with that user."""
        channel = body.get("channel")
        if not channel or not isinstance(channel, str):
            return None, "channel_not_found"
        if channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        registered = self._channels.get(channel)
        if registered is not None:
            if registered["is_archived"]:
                return None, "is_archived"
            if not registered["is_member"]:
                return None, "not_in_channel"
        return channel, None

    def _message_problems(self, method: str, body: dict) -> dict | None:
        if not body.get("text") and not body.get("blocks") and not body.get("attachments"):
            return {"ok": False, "error": "no_text"}
        if self.strict:
            problems = validate_message(body)
            if problems:
                self.violations.append(Violation(method, tuple(problems), copy.deepcopy(body)))
                return {"ok": False, "error": "invalid_blocks", "errors": problems}
        return None

    def _chat_post_message(self, body: dict) -> dict:
        channel, error = self._post_target(body)
        if error:
            return {"ok": False, "error": error}
        rejected = self._message_problems("chat.postMessage", body)
        if rejected:
            return rejected
        ts = self._next_ts()
        message = {"type": "message", "ts": ts, "channel": channel, "user": BOT_USER_ID, "bot_id": BOT_ID,
                   "app_id": APP_ID, "team": TEAM_ID, "text": body.get("text") or ""}  # fmt: skip
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if body.get(key) is not None:
                message[key] = copy.deepcopy(body[key])
        self._messages.setdefault(channel, {})[ts] = {"message": message, "versions": [copy.deepcopy(message)],
                                                      "deleted": False}  # fmt: skip
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _find_message(self, body: dict, ts_key: str = "ts") -> tuple[dict | None, str | None]:
        channel, ts = body.get("channel"), body.get(ts_key)
        if isinstance(channel, str) and channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        if not channel:
            return None, "channel_not_found"
        rec = self._messages.get(channel, {}).get(ts)
        if rec is None or rec["deleted"]:
            return None, "message_not_found"
        return rec, None

    def _chat_update(self, body: dict) -> dict:
        rec, error = self._find_message(body)
        if error:
            return {"ok": False, "error": error}
        rejected = self._message_problems("chat.update", body)
        if rejected:
            return rejected
        message = rec["message"]
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in body:
                message[key] = copy.deepcopy(body[key])
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        rec["versions"].append(copy.deepcopy(message))
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": message.get("text", ""),
                "message": copy.deepcopy(message)}  # fmt: skip

    def _chat_post_ephemeral(self, body: dict) -> dict:
        channel, error = self._post_target(body)
        if error:
            return {"ok": False, "error": error}
        if not body.get("user"):
            return {"ok": False, "error": "user_not_found"}
        rejected = self._message_problems("chat.postEphemeral", body)
        if rejected:
            return rejected
        ts = self._next_ts()
        ephemeral = {"channel": channel, "user": body["user"], "ts": ts, "text": body.get("text") or ""}
        for key in ("blocks", "attachments", "thread_ts"):
            if body.get(key) is not None:
                ephemeral[key] = copy.deepcopy(body[key])
        self._ephemerals.append(ephemeral)
        return {"ok": True, "message_ts": ts}

    def _chat_delete(self, body: dict) -> dict:
        rec, error = self._find_message(body)
        if error:
            return {"ok": False, "error": error}
        rec["deleted"] = True
        return {"ok": True, "channel": rec["message"]["channel"], "ts": rec["message"]["ts"]}

    def _chat_get_permalink(self, body: dict) -> dict:
        channel, ts = body.get("channel"), str(body.get("message_ts") or "")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _check_view(self, method: str, body: dict) -> tuple[dict | None, dict | None]:
        view = body.get("view")
        if not isinstance(view, dict):
            return None, {"ok": False, "error": "invalid_arguments"}
        if self.strict:
            problems = validate_view(view)
            if problems:
                self.violations.append(Violation(method, tuple(problems), copy.deepcopy(body)))
                return None, {"ok": False, "error": "invalid_blocks", "errors": problems}
        return view, None

    def _store_view(self, view: dict, view_id: str | None = None, previous: dict | None = None) -> dict:
        view_id = view_id or self._new_id("V")
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type"),
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": (previous or {}).get("previous_view_id"),
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        for key in ("title", "submit", "close"):
            if view.get(key) is not None:
                stored[key] = copy.deepcopy(view[key])
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    def _views_open(self, body: dict) -> dict:
        trigger_id = body.get("trigger_id")
        issued = self._triggers.get(trigger_id)
        if issued is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if self.trigger_ttl is not None and time.monotonic() - issued > self.trigger_ttl:
            return {"ok": False, "error": "expired_trigger_id"}
        view, rejected = self._check_view("views.open", body)
        if rejected:
            return rejected
        return {"ok": True, "view": self._store_view(view)}

    def _views_publish(self, body: dict) -> dict:
        user_id = body.get("user_id")
        if not user_id:
            return {"ok": False, "error": "invalid_arguments"}
        view, rejected = self._check_view("views.publish", body)
        if rejected:
            return rejected
        if view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        current = self._home.get(user_id)
        if current and body.get("hash") and body["hash"] != self._views[current]["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        stored = self._store_view(view, view_id=current)
        self._home[user_id] = stored["id"]
        return {"ok": True, "view": stored}

    def _views_update(self, body: dict) -> dict:
        view_id = body.get("view_id")
        if not view_id and body.get("external_id"):
            view_id = next((v["id"] for v in self._views.values() if v["external_id"] == body["external_id"]), None)
        existing = self._views.get(view_id) if view_id else None
        if existing is None:
            return {"ok": False, "error": "not_found"}
        if body.get("hash") and body["hash"] != existing["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view, rejected = self._check_view("views.update", body)
        if rejected:
            return rejected
        return {"ok": True, "view": self._store_view(view, view_id=view_id, previous=existing)}

    def _files_get_upload_url(self, body: dict) -> dict:
        filename, length = body.get("filename"), body.get("length")
        if not filename or length in (None, ""):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self._new_id("F")
        self._pending_uploads[file_id] = {
            "filename": filename,
            "length": int(length),
            "alt_txt": body.get("alt_txt"),
            "snippet_type": body.get("snippet_type"),
            "content": None,
        }
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, body: dict) -> dict:
        files = body.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        channels = tuple(c for c in str(body.get("channels") or "").split(",") if c)
        channel_id = body.get("channel_id") or None
        targets = ((channel_id,) if channel_id else ()) + channels
        for item in files:
            pending = self._pending_uploads.get(item.get("id")) if isinstance(item, dict) else None
            if pending is None or pending["content"] is None:
                return {"ok": False, "error": "file_not_found", "detail": f"{item} was never uploaded"}
        completed = []
        for item in files:
            pending = self._pending_uploads.pop(item["id"])
            title = item.get("title") or pending["filename"]
            mimetype = mimetypes.guess_type(pending["filename"])[0] or "application/octet-stream"
            obj = self._file_object(item["id"], pending["filename"], title, mimetype, None, BOT_USER_ID,
                                    len(pending["content"]), targets)  # fmt: skip
            obj["alt_txt"] = pending["alt_txt"]
            self._files[item["id"]] = {"file": obj, "content": pending["content"]}
            self._uploads.append(
                UploadedFile(
                    file_id=item["id"],
                    filename=pending["filename"],
                    title=title,
                    alt_txt=pending["alt_txt"],
                    snippet_type=pending["snippet_type"],
                    channel_id=channel_id,
                    channels=channels,
                    initial_comment=body.get("initial_comment") or None,
                    thread_ts=body.get("thread_ts") or None,
                    content=pending["content"],
                    length=pending["length"],
                )
            )
            completed.append({"id": item["id"], "title": title})
        return {"ok": True, "files": completed}

    def _files_info(self, body: dict) -> dict:
        stored = self._files.get(body.get("file"))
        if stored is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": copy.deepcopy(stored["file"]), "comments": [],
                "response_metadata": {"next_cursor": ""}}  # fmt: skip

    def _users_info(self, body: dict) -> dict:
        user_id = body.get("user")
        if user_id == BOT_USER_ID:
            bot = {"id": BOT_USER_ID, "team_id": TEAM_ID, "name": BOT_NAME, "is_bot": True, "deleted": False,
                   "profile": {"bot_id": BOT_ID, "real_name": BOT_NAME}}  # fmt: skip
            return {"ok": True, "user": bot}
        user = self._users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": copy.deepcopy(user)}

    def _conversations_open(self, body: dict) -> dict:
        if body.get("channel"):
            return {"ok": True, "channel": {"id": body["channel"]}, "already_open": True}
        users = [u for u in str(body.get("users") or "").split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = self.dm_channel(users[0]) if len(users) == 1 else "G" + uuid.uuid5(
            uuid.NAMESPACE_OID, ",".join(sorted(users))).hex[:10].upper()  # fmt: skip
        return {"ok": True, "channel": {"id": channel_id}, "no_op": False, "already_open": False}

    def _conversations_info(self, body: dict) -> dict:
        channel_id = body.get("channel") or ""
        if channel_id in self._channels:
            return {"ok": True, "channel": copy.deepcopy(self._channels[channel_id])}
        if channel_id.startswith("D"):
            user = "U" + channel_id[1:]
            return {"ok": True, "channel": {"id": channel_id, "is_im": True, "user": user, "is_open": True,
                                            "created": int(time.time())}}  # fmt: skip
        if channel_id.startswith("C"):
            return {"ok": True, "channel": {"id": channel_id, "name": channel_id.lower(), "is_channel": True,
                                            "is_private": False, "is_member": True, "is_archived": False}}  # fmt: skip
        return {"ok": False, "error": "channel_not_found"}

    # --- helpers ---------------------------------------------------------------------------------

    def _users_lookup_by_email(self, body: dict) -> dict:
        wanted = str(body.get("email") or "").strip().lower()
        for user in self._users.values():
            if str((user.get("profile") or {}).get("email") or "").lower() == wanted and wanted:
                return {"ok": True, "user": copy.deepcopy(user)}
        return {"ok": False, "error": "users_not_found"}

    def _history_page(self, body: dict, keep: Callable[[dict], bool]) -> dict:
        """Messages newest first, `oldest`/`latest` bounds, cursor paging; metadata only with
        `include_all_metadata` (as Slack does)."""
        channel = body.get("channel")
        if isinstance(channel, str) and channel[:1] in ("U", "W"):
            channel = self.dm_channel(channel)
        if not channel or (channel not in self._messages and channel not in self._channels):
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(body.get("oldest") or 0)
        latest = float(body.get("latest") or 9e12)
        with_meta = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [copy.deepcopy(rec["message"]) for rec in self._messages.get(channel, {}).values()
                 if not rec["deleted"] and keep(rec["message"]) and oldest <= float(rec["message"]["ts"]) <= latest]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        if not with_meta:
            for m in found:
                m.pop("metadata", None)
        limit = max(1, min(int(body.get("limit") or 100), 999))
        start = int(body.get("cursor") or 0)
        page = found[start:start + limit]
        more = start + limit < len(found)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _conversations_history(self, body: dict) -> dict:
        return self._history_page(body, lambda m: not m.get("thread_ts") or m.get("thread_ts") == m.get("ts"))

    def _conversations_replies(self, body: dict) -> dict:
        ts = body.get("ts")
        if not ts:
            return {"ok": False, "error": "thread_not_found"}
        return self._history_page(body, lambda m: m.get("ts") == ts or m.get("thread_ts") == ts)

    def _next_counter(self) -> int:
        self._counter += 1
        return self._counter

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0FAKE{self._next_counter():05d}"

    def _next_ts(self) -> str:
        """Unique, increasing message ts (seconds.microseconds), like Slack's."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _ts_now(self) -> str:
        with self._cond:
            return self._next_ts()

    def _user_name(self, user_id: str) -> str:
        with self._cond:
            user = self._users.get(user_id)
        return user["name"] if user else user_id.lower()

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return "directmessage"
        with self._cond:
            channel = self._channels.get(channel_id)
        return channel["name"] if channel else channel_id.lower()

    def _file_owner(self, file_id: str) -> str:
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None:
            raise KeyError(f"unknown file {file_id}; register it with register_file() first")
        return stored["file"]["user"]

    def _file_object(
        self,
        file_id: str,
        name: str,
        title: str,
        mimetype: str,
        filetype: str | None,
        user_id: str,
        size: int,
        channels: Iterable[str],
    ) -> dict:
        created = int(time.time())
        filetype = filetype or (name.rsplit(".", 1)[-1].lower() if "." in name else "binary")
        base = f"{self.url}/files-pri/{TEAM_ID}-{file_id}"
        return {
            "id": file_id,
            "created": created,
            "timestamp": created,
            "name": name,
            "title": title,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user_id,
            "user_team": TEAM_ID,
            "editable": False,
            "size": size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "url_private": f"{base}/{quote(name)}",
            "url_private_download": f"{base}/download/{quote(name)}",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{user_id}/{file_id}/{quote(name)}",
            "channels": [c for c in channels if c[:1] == "C"],
            "groups": [c for c in channels if c[:1] == "G"],
            "ims": [c for c in channels if c[:1] == "D"],
            "comments_count": 0,
        }


def _find_element(blocks: list, action_id: str) -> dict | None:
    """The interactive element with ``action_id`` in ``blocks``, tagged with its block's id."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return {**element, "_block_id": block.get("block_id")}
    return None
