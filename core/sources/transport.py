"""An httpx transport on the standard library's `http.client`, for the vendor clients' plain JSON calls.

httpx's default transport (httpcore over h11) spends ~1.6–2 ms of CPU per request on a 188 KB page
of usage events (measured on the benchmark's machine: 400 pages of a 200k-event sync), against
~0.4 ms for `http.client` on the same requests: its event-based HTTP/1.1 parser and connection
pool run a few thousand Python calls per response. A Cursor sync's events worker is bound by that
CPU, so the transport sits on its critical path. Everything above the transport stays httpx's —
the client's base URL, headers, timeouts, content decoding (gzip), redirects refused, and the
errors `core.sources.http.JsonApi` handles (`httpx.TimeoutException`, `httpx.TransportError`):
this module maps the standard library's failures onto those.

HTTP/1.1 with keep-alive; connections are pooled per (scheme, host, port) and used by one request
at a time (a client may be shared by threads: the events worker's prefetch thread and its main
thread). A request on a kept-alive connection that the server had closed meanwhile is sent again
once on a new connection, before anything of its answer was read, as httpcore does. Proxies from
the environment are httpx's own transports (it mounts them per URL pattern ahead of this one).
"""

from __future__ import annotations

import email.errors
import http.client
import select
import ssl
import threading

from core.sources.http import httpx

_IDLE_PER_ORIGIN = 4  # connections kept per origin: the worker's threads and a parallel request or two


class _Response(http.client.HTTPResponse):
    """`http.client`'s response, skipping every informational (1xx) answer ahead of the real one as
    httpcore does: http.client skips only 100 Continue, and took a 103 Early Hints for the answer
    (empty body), leaving the real answer on the connection for the next request to read."""

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()
            if not 102 <= status < 200:  # 100: http.client skips it; 101: a protocol switch, not ours
                return version, status, reason
            http.client.parse_headers(self.fp)  # the informational answer's headers, dropped

    def begin(self) -> None:
        super().begin()
        if any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in self.msg.defects):
            # a line that is not `name: value`: http.client ended the headers there and dropped the
            # rest (Content-Length, Transfer-Encoding…); h11 refuses such an answer, and so do we
            raise http.client.HTTPException("a header line that is not 'name: value'")


class StdlibTransport(httpx.BaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        for fresh in (False, True):
            conn = None if fresh else self._take(origin)
            reused = conn is not None
            if conn is None:
                conn = self._connect(origin, timeouts.get("connect"), request)
            try:
                conn.sock.settimeout(timeouts.get("read"))
                if not _put_head(conn, request):
                    conn.close()
                    raise httpx.LocalProtocolError("a request header that HTTP does not allow (a line break "
                                                   "or control character in its value?)", request=request)
                conn.endheaders(body or None)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                if reused:  # the server closed it while it was idle: once more, on a new connection
                    continue
                raise httpx.RemoteProtocolError(f"the server closed the connection ({type(exc).__name__})",
                                                request=request) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _mapped(exc, request) from None
            try:
                content = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _mapped(exc, request) from None
            if response.will_close:
                conn.close()
            else:
                self._give(origin, conn)
            return httpx.Response(response.status, headers=response.getheaders(),
                                  stream=httpx.ByteStream(content),
                                  extensions={"http_version": b"HTTP/1.1",
                                              "reason_phrase": (response.reason or "").encode("latin-1", "replace")})
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _connect(self, origin: tuple[str, str, int], timeout: float | None,
                 request: httpx.Request) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                                           context=self._ssl)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.response_class = _Response
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise httpx.ConnectError(f"cannot connect to {host}:{port} ({type(exc).__name__}: {exc})",
                                     request=request) from None
        return conn

    def _take(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        """A kept connection to `origin` still quiet and open, if any (others are closed here)."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                conn = idle.pop()
            if _quiet(conn):
                return conn
            conn.close()

    def _give(self, origin: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < _IDLE_PER_ORIGIN:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _quiet(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept connection has nothing to read, as httpcore checks before reusing one:
    a server that closed it (end of stream), or said something unasked (a `408 Request Timeout`
    before closing), would otherwise hand the next request that instead of its answer."""
    sock = conn.sock
    if sock is None:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    try:
        if not hasattr(select, "poll"):  # Windows: select() takes any socket there
            return not select.select([sock], [], [], 0)[0]
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _put_head(conn: http.client.HTTPConnection, request: httpx.Request) -> bool:
    """Start the request on `conn`: False if http.client refuses its method, path or a header. It
    refuses with a ValueError quoting the value — an API key, for a key with a line break in it —
    so the caller raises its own error, outside this handler (no exception chain keeps the text)."""
    try:
        conn.putrequest(request.method, request.url.raw_path.decode("ascii"), skip_host=True,
                        skip_accept_encoding=True)
        for name, value in request.headers.raw:
            conn.putheader(name, value)
    except ValueError:
        return False
    return True


def _mapped(exc: OSError | http.client.HTTPException, request: httpx.Request) -> httpx.TransportError:
    """A standard-library failure as the httpx error `JsonApi` handles."""
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout("the server did not answer in time", request=request)
    if isinstance(exc, http.client.IncompleteRead):
        return httpx.RemoteProtocolError("the server closed the connection before the whole body",
                                         request=request)
    if isinstance(exc, (http.client.HTTPException, ConnectionError)):
        return httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}"[:200], request=request)
    return httpx.ReadError(f"{type(exc).__name__}: {exc}"[:200], request=request)
