"""Fake Anthropic Admin API and Cursor Admin API: real HTTP servers on 127.0.0.1 serving scripted data.

Shapes follow shared/reference/vendor-apis.md. Both servers page everything (small page sizes by
default, so a handful of scripted records already spans several pages) and take injectable faults:

    server.faults.add("/teams/filtered-usage-events", "429", retry_after="1")
    server.faults.add("/v1/organizations/usage_report/claude_code", "500", times=2)
    server.faults.add("/teams/filtered-usage-events", "slow", delay=2.0)      # beyond the client timeout
    server.faults.add("/v1/organizations/usage_report/messages", "truncated")  # 200 with half a JSON body
    server.faults.add("/v1/organizations/usage_report/claude_code", "repeat")  # next_page repeats itself
    server.faults.add("/teams/filtered-usage-events", "repeat")                # page n answers as page 1
    server.faults.add(path, "drop")                                            # connection closed, no answer
    kinds: "429" (retry_after=None: no header), "500", "529", "503", "slow", "truncated", "drop", "repeat",
           "status" (any status=…, body=…)

A fault fires on the matching requests after the first `after` ones, `times` times (-1: forever).
Every request is logged (method, path, query, JSON body, whether auth was good) in `server.log`.
"""

from __future__ import annotations

import base64
import bisect
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ANTHROPIC_VERSION = "2023-06-01"
COST_ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"  # the documented beta flag of /analytics/cost


# --- faults -------------------------------------------------------------------------------------------

@dataclass
class Fault:
    path: str
    kind: str
    times: int = 1
    after: int = 0
    retry_after: str | None = None
    delay: float = 5.0
    status: int = 500
    body: Any = None
    seen: int = 0
    fired: int = 0

    def take(self, path: str) -> bool:
        if not path.startswith(self.path):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times >= 0 and self.fired >= self.times:
            return False
        self.fired += 1
        return True


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, path: str, kind: str, *, times: int = 1, after: int = 0, retry_after: str | None = None,
            delay: float = 5.0, status: int = 500, body: Any = None) -> Fault:
        fault = Fault(path=path, kind=kind, times=times, after=after, retry_after=retry_after, delay=delay,
                      status=status, body=body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def match(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.take(path):
                    return fault
        return None


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorised: bool
    fault: str | None = None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)


# --- the server base ----------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:  # a client that timed out and left: not news
        pass


class FakeServer:
    """An HTTP/1.1 server on 127.0.0.1 in a daemon thread; subclasses implement `route`."""

    def __init__(self, *, log_requests: bool = True) -> None:
        self.faults = FaultPlan()
        self.log: list[Logged] = []
        self.log_requests = log_requests
        self.requests = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in separate writes: without this, delayed ACKs add ~40 ms each
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format, *args) -> None:  # noqa: A002 - silence the default access log
                pass

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = _serve

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def calls(self, path_prefix: str = "") -> list[Logged]:
        return [e for e in self.log if e.path.startswith(path_prefix)]

    # request handling
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        self.requests += 1
        split = urlsplit(h.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorised, reply = self.authorise(h.command, path, h.headers)
        fault = self.faults.match(path) if authorised else None
        if self.log_requests:
            self.log.append(Logged(h.command, path, query, body, authorised, fault.kind if fault else None))
        if reply is None and fault is not None:
            if fault.kind == "drop":
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind in ("429", "500", "503", "529", "status"):
                reply = self.error_reply(int(fault.kind) if fault.kind != "status" else fault.status, fault)
        if reply is None:
            try:
                reply = self.route(h.command, path, query, body, fault)
            except _BadRequest as exc:
                reply = self.error_reply(400, None, str(exc))
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        if fault is not None and fault.kind == "truncated" and reply.status == 200:
            payload = payload[: max(1, len(payload) // 2)]
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    # subclass hooks
    def authorise(self, method: str, path: str, headers) -> tuple[bool, Reply | None]:
        return True, None

    def error_reply(self, status: int, fault: Fault | None, message: str | None = None) -> Reply:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict, body: Any, fault: Fault | None) -> Reply:
        raise NotImplementedError


class _BadRequest(Exception):
    pass


def _one(query: dict, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def _token(kind: str, offset: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def _offset(token: str | None, kind: str) -> int:
    if not token:
        return 0
    try:
        k, _, off = base64.urlsafe_b64decode(token.removeprefix("page_").encode()).decode().rpartition(":")
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest("invalid page token") from None
    if k != kind:
        raise _BadRequest("page token of another report")
    return int(off)


# --- Anthropic ------------------------------------------------------------------------------------------

@dataclass
class AnthropicOrg:
    """Scripted data of one organisation; dict rows are served as is (documented shapes)."""

    org_id: str
    name: str = "Example Org"
    users: list[dict] = field(default_factory=list)
    api_keys: list[dict] = field(default_factory=list)
    workspaces: list[dict] = field(default_factory=list)
    claude_code: dict[str, list[dict]] = field(default_factory=dict)  # "YYYY-MM-DD" → rows
    messages: dict[str, list[dict]] = field(default_factory=dict)  # "YYYY-MM-DD" → bucket results
    cost: dict[str, list[dict]] = field(default_factory=dict)  # "YYYY-MM-DD" → bucket results
    me_available: bool = True
    # Usage and Cost Analytics API (beta) `GET /analytics/cost`: "YYYY-MM-DD" → rows
    # {"group": {"actor": {...}, "product": …, "model": …}, "cost": {"amount": "…", …}}, filtered by
    # products[] and served with the dimensions not grouped by set to null; None: 404 (no access)
    cost_analytics: dict[str, list[dict]] | None = None


class FakeAnthropic(FakeServer):
    """GET /v1/organizations/{me,users,api_keys,workspaces,usage_report/claude_code,usage_report/messages,
    cost_report} for the organisations keyed by admin key (`x-api-key`)."""

    def __init__(self, orgs: dict[str, AnthropicOrg], *, page_size: int = 2, bucket_page: int = 2,
                 log_requests: bool = True) -> None:
        super().__init__(log_requests=log_requests)
        self.orgs = orgs
        self.page_size = page_size  # records per page (directory, claude_code)
        self.bucket_page = bucket_page  # buckets per page (messages, cost_report)
        self._org: threading.local = threading.local()

    def authorise(self, method, path, headers):
        self._org.headers = headers
        org = self.orgs.get(headers.get("x-api-key") or "")
        if org is None:
            return False, self.error_reply(401, None, "invalid x-api-key")
        if headers.get("anthropic-version") != ANTHROPIC_VERSION:
            return False, self.error_reply(400, None, "anthropic-version header is required")
        self._org.value = org
        return True, None

    def error_reply(self, status, fault, message=None):
        types = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 503: "api_error",
                 529: "overloaded_error"}
        headers = {"request-id": "req_fake"}
        if status == 429 and fault is not None and fault.retry_after is not None:
            headers["retry-after"] = fault.retry_after
        body = fault.body if fault is not None and fault.body is not None else {
            "type": "error", "error": {"type": types.get(status, "api_error"), "message": message or "fake error"},
            "request_id": "req_fake"}
        return Reply(status, body, headers)

    def route(self, method, path, query, body, fault):
        org: AnthropicOrg = self._org.value
        if method != "GET":
            return self.error_reply(404, None, "not found")
        if path == "/v1/organizations/me":
            if not org.me_available:
                return self.error_reply(404, None, "not found")
            return Reply(200, {"id": org.org_id, "type": "organization", "name": org.name})
        directory = {"/v1/organizations/users": org.users, "/v1/organizations/api_keys": org.api_keys,
                     "/v1/organizations/workspaces": org.workspaces}
        if path in directory:
            return Reply(200, self._directory(directory[path], query))
        if path == "/v1/organizations/usage_report/claude_code":
            return Reply(200, self._claude_code(org, query, fault))
        if path == "/v1/organizations/usage_report/messages":
            return Reply(200, self._buckets(org.messages, query, fault, "messages"))
        if path == "/v1/organizations/cost_report":
            return Reply(200, self._buckets(org.cost, query, fault, "cost"))
        if path == "/v1/organizations/analytics/cost":
            return self._cost_analytics(org, query)
        return self.error_reply(404, None, "not found")

    def _cost_analytics(self, org: AnthropicOrg, query) -> Reply:
        if org.cost_analytics is None:
            return self.error_reply(404, None, "not found")
        if COST_ANALYTICS_BETA not in (self._org.headers.get("anthropic-beta") or ""):
            return self.error_reply(400, None, "this endpoint needs the anthropic-beta header")
        start, end = _one(query, "starting_at"), _one(query, "ending_at")
        if not start or not end or (date.fromisoformat(end[:10]) - date.fromisoformat(start[:10])).days != 1:
            raise _BadRequest("the fake serves one day: starting_at and ending_at a day apart")
        day = start[:10]
        grouped = set(query.get("group_by[]", []))
        products = set(query.get("products[]", []))
        rows = [r for r in org.cost_analytics.get(day, [])
                if not products or (r.get("group") or {}).get("product") in products]
        out = [{"starting_at": f"{day}T00:00:00Z", "ending_at": end,
                "group": {k: (v if k in grouped else None) for k, v in (r.get("group") or {}).items()},
                "cost": r.get("cost")} for r in rows]
        limit = min(int(_one(query, "limit", "20")), 1000, self.page_size)
        token = _one(query, "page")
        off = _offset(token, "ca" + day)
        more = off + limit < len(out)
        return Reply(200, {"data": out[off:off + limit], "has_more": more,
                           "next_page": _token("ca" + day, off + limit) if more else None})

    def _directory(self, rows: list[dict], query) -> dict:
        rows = sorted(rows, key=lambda r: r["id"])
        limit = min(int(_one(query, "limit", "20")), 1000, self.page_size)
        after = _one(query, "after_id")
        start = 0
        if after:
            ids = [r["id"] for r in rows]
            if after not in ids:
                raise _BadRequest("unknown after_id")
            start = ids.index(after) + 1
        page = rows[start:start + limit]
        return {"data": page, "has_more": start + limit < len(rows),
                "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}

    def _claude_code(self, org, query, fault) -> dict:
        day = _one(query, "starting_at")
        if not day or len(day) != 10:
            raise _BadRequest("starting_at must be a YYYY-MM-DD date")
        rows = org.claude_code.get(day, [])
        limit = min(int(_one(query, "limit", "20")), 1000, self.page_size)
        token = _one(query, "page")
        off = _offset(token, "cc" + day)
        page = rows[off:off + limit]
        more = off + limit < len(rows)
        nxt = _token("cc" + day, off + limit) if more else None
        if fault is not None and fault.kind == "repeat":
            more, nxt = True, token or _token("cc" + day, off)
        return {"data": page, "has_more": more, "next_page": nxt}

    def _buckets(self, series: dict[str, list[dict]], query, fault, kind) -> dict:
        start = _one(query, "starting_at")
        end = _one(query, "ending_at")
        if _one(query, "bucket_width", "1d") != "1d":
            raise _BadRequest("only 1d buckets are scripted")
        first = date.fromisoformat(start[:10])
        last = date.fromisoformat(end[:10]) if end else first + timedelta(days=7)  # exclusive
        days = [first + timedelta(days=i) for i in range((last - first).days)]
        limit = min(int(_one(query, "limit", "7")), 31, self.bucket_page)
        token = _one(query, "page")
        off = _offset(token, f"{kind}{start}{end}")
        chunk = days[off:off + limit]
        data = [{"starting_at": f"{d.isoformat()}T00:00:00Z",
                 "ending_at": f"{(d + timedelta(days=1)).isoformat()}T00:00:00Z",
                 "results": series.get(d.isoformat(), [])} for d in chunk]
        more = off + limit < len(days)
        nxt = _token(f"{kind}{start}{end}", off + limit) if more else None
        if fault is not None and fault.kind == "repeat":
            more, nxt = True, token or _token(f"{kind}{start}{end}", off)
        return {"data": data, "has_more": more, "next_page": nxt}


# --- Cursor ----------------------------------------------------------------------------------------------

class EventList:
    """Scripted usage events, served newest first (as the dashboard lists them)."""

    def __init__(self, events: list[dict]) -> None:
        self.events = sorted(events, key=lambda e: -int(e["timestamp"]))  # stable: ties keep script order
        self._neg_ts = [-int(e["timestamp"]) for e in self.events]

    def _range(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        lo = bisect.bisect_left(self._neg_ts, -end_ms)
        hi = bisect.bisect_right(self._neg_ts, -start_ms)
        return lo, hi

    def count(self, start_ms: int, end_ms: int) -> int:
        lo, hi = self._range(start_ms, end_ms)
        return max(0, hi - lo)

    def page(self, start_ms: int, end_ms: int, offset: int, size: int) -> list[dict]:
        lo, hi = self._range(start_ms, end_ms)
        return self.events[lo + offset: min(hi, lo + offset + size)]


class GeneratedEvents:
    """`n` synthetic token-based events, one every `step_ms` from `start_ms`, generated on demand
    (the benchmark serves a million without holding them)."""

    MODELS = ("claude-4.5-sonnet", "gpt-5", "claude-4-sonnet-thinking", "auto", "composer-1")

    def __init__(self, n: int, start_ms: int, step_ms: int = 50, users: int = 300,
                 models: tuple[str, ...] | None = None) -> None:
        self.n, self.start_ms, self.step_ms, self.users = n, start_ms, step_ms, users
        self.MODELS = models or self.MODELS
        self._rendered: list[str] | None = None

    def prerender(self) -> None:
        """Render every event's JSON now (≈370 bytes each), so that serving a page is a join: the
        benchmark then times the sync, not this fake vendor (which shares the machine's cores)."""
        self._rendered = [self.event_json(i) for i in range(self.n)]

    def _model(self, i: int) -> str:
        """Every user meets every model (shifted once per round of users)."""
        return self.MODELS[(i + i // self.users) % len(self.MODELS)]

    def event(self, i: int) -> dict:
        inp, out = 100 + i % 5000, 50 + i % 700
        cw, cr = (i * 7) % 3000, (i * 13) % 20000
        return {"timestamp": str(self.start_ms + i * self.step_ms), "userEmail": f"dev{i % self.users}@example.com",
                "model": self._model(i), "kind": "Usage-based", "maxMode": i % 3 == 0,
                "requestsCosts": 1, "isTokenBasedCall": True, "isChargeable": True, "isHeadless": False,
                "tokenUsage": {"inputTokens": inp, "outputTokens": out, "cacheWriteTokens": cw,
                               "cacheReadTokens": cr, "totalCents": round(1 + (i % 997) / 101, 5)},
                "chargedCents": round(1.25 + (i % 997) / 100, 5)}

    def event_json(self, i: int) -> str:
        """`json.dumps(self.event(i))`, rendered from a template (the benchmark's server must be cheap)."""
        inp, out = 100 + i % 5000, 50 + i % 700
        cw, cr = (i * 7) % 3000, (i * 13) % 20000
        return (f'{{"timestamp": "{self.start_ms + i * self.step_ms}", "userEmail": "dev{i % self.users}@example.com", '
                f'"model": "{self._model(i)}", "kind": "Usage-based", '
                f'"maxMode": {"true" if i % 3 == 0 else "false"}, "requestsCosts": 1, "isTokenBasedCall": true, '
                f'"isChargeable": true, "isHeadless": false, "tokenUsage": {{"inputTokens": {inp}, '
                f'"outputTokens": {out}, "cacheWriteTokens": {cw}, "cacheReadTokens": {cr}, '
                f'"totalCents": {round(1 + (i % 997) / 101, 5)!r}}}, '
                f'"chargedCents": {round(1.25 + (i % 997) / 100, 5)!r}}}')

    def page_json(self, start_ms: int, end_ms: int, offset: int, size: int) -> list[str]:
        lo, hi = self._index_range(start_ms, end_ms)
        top = hi - 1 - offset
        if self._rendered is not None:
            bottom = max(lo - 1, top - size)
            return self._rendered[top:bottom:-1] if bottom >= 0 else self._rendered[top::-1]
        return [self.event_json(i) for i in range(top, max(lo - 1, top - size), -1)]

    def _index_range(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        lo = max(0, -(-(start_ms - self.start_ms) // self.step_ms))
        hi = min(self.n, (end_ms - self.start_ms) // self.step_ms + 1)
        return lo, hi

    def count(self, start_ms: int, end_ms: int) -> int:
        lo, hi = self._index_range(start_ms, end_ms)
        return max(0, hi - lo)

    def page(self, start_ms: int, end_ms: int, offset: int, size: int) -> list[dict]:
        lo, hi = self._index_range(start_ms, end_ms)
        top = hi - 1 - offset  # newest first
        return [self.event(i) for i in range(top, max(lo - 1, top - size), -1)]


@dataclass
class CursorTeam:
    """Scripted data of one team."""

    members: list[dict] = field(default_factory=list)
    events: EventList | GeneratedEvents = field(default_factory=lambda: EventList([]))
    daily: list[dict] = field(default_factory=list)  # rows with "date" (epoch ms of the day)
    spend: list[dict] = field(default_factory=list)  # teamMemberSpend entries, in whichever shape
    cycle_start_ms: int = 1_704_067_200_000
    groups: dict | None = None  # the GET /teams/groups body; None: 403 (not Enterprise)
    # Analytics API rows per endpoint ("dau", "models", …, each row with its day); None: 401 (not Enterprise)
    analytics: dict[str, list[dict]] | None = None
    # by-user Analytics API rows per endpoint and person ({"models": {"a@x.com": [rows]}}), served paged
    # over people (none: empty pages); 401 like the team endpoints when `analytics` is None, 403 when
    # `by_user_forbidden` (a key that may read the team figures only)
    user_analytics: dict[str, dict[str, list[dict]]] | None = None
    by_user_forbidden: bool = False
    # AI Code Tracking API `GET /analytics/ai-code/commits` items, served paged (401 when `analytics` is None)
    ai_commits: list[dict] = field(default_factory=list)


class FakeCursor(FakeServer):
    """GET /teams/members, /teams/groups; POST /teams/filtered-usage-events, /teams/daily-usage-data,
    /teams/spend; GET /analytics/team/*, /analytics/by-user/*, /analytics/ai-code/commits — Basic auth
    with the key as the username."""

    def __init__(self, teams: dict[str, CursorTeam], *, page_size: int = 3, log_requests: bool = True,
                 on_events_page: Callable[[int], None] | None = None) -> None:
        super().__init__(log_requests=log_requests)
        self.teams = teams
        self.page_size = page_size  # server-side cap on pageSize, to force paging with little data
        self.on_events_page = on_events_page
        self._team = threading.local()

    def authorise(self, method, path, headers):
        auth = headers.get("Authorization") or ""
        team = None
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", "x"
            if password == "":
                team = self.teams.get(user)
        if team is None:
            return False, Reply(401, {"error": "Unauthorized", "message": "Invalid API key"})
        self._team.value = team
        return True, None

    def error_reply(self, status, fault, message=None):
        headers = {}
        if status == 429 and fault is not None and fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        body = fault.body if fault is not None and fault.body is not None else (
            {"error": "Too Many Requests", "message": "Rate limit exceeded. Please try again later."}
            if status == 429 else {"error": message or "Internal Server Error"})
        return Reply(status, body, headers)

    def route(self, method, path, query, body, fault):
        team: CursorTeam = self._team.value
        body = body or {}
        if method == "GET" and path == "/teams/members":
            return Reply(200, {"teamMembers": team.members})
        if method == "GET" and path == "/teams/groups":
            if team.groups is None:
                return Reply(403, {"error": "Forbidden"})
            return Reply(200, team.groups)
        if method == "POST" and path == "/teams/filtered-usage-events":
            return Reply(200, self._events(team, body, fault))
        if method == "POST" and path == "/teams/daily-usage-data":
            return Reply(200, self._daily(team, body, fault))
        if method == "GET" and path.startswith("/analytics/team/"):
            if team.analytics is None:
                return Reply(401, {"error": "Unauthorized", "message": "Analytics API requires an Enterprise plan"})
            start, end = _one(query, "startDate"), _one(query, "endDate")
            rows = [r for r in team.analytics.get(path.rsplit("/", 1)[1], [])
                    if start <= str(r.get("event_date") or r.get("date"))[:10] <= end]
            return Reply(200, {"data": rows, "params": {"metric": path.rsplit("/", 1)[1], "teamId": 1,
                                                        "startDate": start, "endDate": end}})
        if method == "GET" and path.startswith("/analytics/by-user/"):
            return self._user_analytics(team, path.rsplit("/", 1)[1], query)
        if method == "GET" and path == "/analytics/ai-code/commits":
            if team.analytics is None:
                return Reply(401, {"error": "Unauthorized", "message": "Analytics API requires an Enterprise plan"})
            page, size = int(_one(query, "page") or 1), int(_one(query, "pageSize") or 100)
            items = team.ai_commits[(page - 1) * size: page * size]
            return Reply(200, {"items": items, "totalCount": len(team.ai_commits), "page": page, "pageSize": size})
        if method == "POST" and path == "/teams/spend":
            page, size = int(body.get("page", 1)), int(body.get("pageSize", 100))
            size = max(1, min(size, self.page_size))
            members = team.spend[(page - 1) * size: page * size]
            return Reply(200, {"teamMemberSpend": members, "subscriptionCycleStart": team.cycle_start_ms,
                               "totalMembers": len(team.spend), "totalPages": max(1, -(-len(team.spend) // size))})
        return Reply(404, {"error": "Not Found"})

    def _user_analytics(self, team: CursorTeam, metric: str, query) -> Reply:
        if team.analytics is None:
            return Reply(401, {"error": "Unauthorized", "message": "Analytics API requires an Enterprise plan"})
        if team.by_user_forbidden:
            return Reply(403, {"error": "Forbidden"})
        by_user = team.user_analytics or {}
        start, end = _one(query, "startDate"), _one(query, "endDate")
        page, size = int(_one(query, "page") or 1), int(_one(query, "pageSize") or 100)
        size = max(1, min(size, self.page_size))
        people = sorted(by_user.get(metric, {}))
        total_pages = max(1, -(-len(people) // size))
        chosen = people[(page - 1) * size: page * size]
        data = {p: [r for r in by_user[metric][p]
                    if start <= str(r.get("event_date") or r.get("date"))[:10] <= end] for p in chosen}
        return Reply(200, {"data": data, "pagination": {"page": page, "pageSize": size, "totalUsers": len(people),
                                                        "totalPages": total_pages, "hasNextPage": page < total_pages,
                                                        "hasPreviousPage": page > 1},
                           "params": {"metric": metric, "teamId": 1, "startDate": start, "endDate": end,
                                      "userMappings": [{"id": f"user_{i}", "email": p} for i, p in enumerate(chosen)]}})

    def _events(self, team: CursorTeam, body: dict, fault) -> dict:
        start, end = int(body.get("startDate", 0)), int(body.get("endDate", 2**53))
        page = int(body.get("page", 1))
        size = max(1, min(int(body.get("pageSize", 100)), 1000, self.page_size))
        total = team.events.count(start, end)
        pages = max(1, -(-total // size))
        served = 1 if fault is not None and fault.kind == "repeat" else page
        if self.on_events_page is not None:
            self.on_events_page(page)
        pagination = {"numPages": pages, "currentPage": served, "pageSize": size, "hasNextPage": served < pages,
                      "hasPreviousPage": served > 1}
        if fault is not None and fault.kind == "repeat":
            pagination["hasNextPage"] = True
            if fault.body == "hide_page":  # no currentPage/numPages: only the content gives it away
                pagination = {"hasNextPage": True}
        period = {"startDate": start, "endDate": end}
        if isinstance(team.events, GeneratedEvents):  # the same document, assembled from rendered events
            events = ", ".join(team.events.page_json(start, end, (served - 1) * size, size))
            return (f'{{"totalUsageEventsCount": {total}, "pagination": {json.dumps(pagination)}, '
                    f'"usageEvents": [{events}], "period": {json.dumps(period)}}}').encode()
        events = team.events.page(start, end, (served - 1) * size, size)
        return {"totalUsageEventsCount": total, "pagination": pagination, "usageEvents": events, "period": period}

    def _daily(self, team: CursorTeam, body: dict, fault) -> dict:
        # no endDate (cursor-usage-tracker sends none): up to now
        start, end = int(body["startDate"]), int(body.get("endDate") or time.time() * 1000)
        if end - start > 31 * 86_400_000:
            raise _BadRequest("date range must be 30 days or less")
        rows = sorted((r for r in team.daily if start <= int(r["date"]) <= end),
                      key=lambda r: (int(r["date"]), r.get("email") or ""))
        if "page" not in body:
            return {"data": [r for r in rows if r.get("isActive", True)], "period": {"startDate": start,
                                                                                     "endDate": end}}
        page, size = int(body["page"]), max(1, min(int(body.get("pageSize", 100)), self.page_size))
        pages = max(1, -(-len(rows) // size))
        served = 1 if fault is not None and fault.kind == "repeat" else page
        return {"data": rows[(served - 1) * size: served * size], "period": {"startDate": start, "endDate": end},
                "pagination": {"page": served, "pageSize": size, "totalUsers": len(rows), "totalPages": pages,
                               "hasNextPage": True if fault is not None and fault.kind == "repeat" else served < pages,
                               "hasPreviousPage": served > 1}}


def day_ms(day: date, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> int:
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)
    return int(moment.timestamp()) * 1000 + ms
