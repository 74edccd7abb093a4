"""core.sources.transport.StdlibTransport under httpx, against a raw HTTP/1.1 server on 127.0.0.1 that
misbehaves on purpose: keep-alive reuse, a kept-alive connection the server closed while idle, a
body cut short, a server that never answers, nobody listening, gzip — each as httpx's own
transport would end, so `JsonApi`'s retries and messages stay what they were."""

from __future__ import annotations

import gzip
import json
import socket
import threading

import pytest

from core.sources.http import JsonApi, RetryPolicy, VendorError, httpx, make_client
from core.sources.transport import StdlibTransport


class RawServer:
    """Answers each request per `script` (a list of behaviours, one per request, the last repeated):
    "ok", "ok-close-after" (answer, then close the connection), "gzip", "cut" (promise 100 bytes,
    send 10, close), "silent" (read the request, never answer), "early-hints" (a 103 at once, the
    answer — naming the request's path — a moment later), "bad-header" (a header line with a space in
    its name ahead of Content-Length; the connection stays open), "ok-then-408" (answer, then after
    0.1 s idle say 408 Request Timeout and close, as servers do on idle keep-alive connections)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.requests = 0
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                how = self.script[min(self.requests, len(self.script) - 1)]
                self.requests += 1
                body = json.dumps({"n": self.requests}).encode()
                if how == "silent":
                    self._stop.wait(10)
                    return
                if how == "early-hints":
                    conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
                    self._stop.wait(0.1)
                    body = json.dumps({"n": self.requests, "path": head.split(b" ")[1].decode()}).encode()
                if how == "cut":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                                 + body[:10])
                    return
                extra = b""
                if how == "bad-header":
                    extra = b"X-Bad Header: 1\r\n"
                if how == "gzip":
                    body, extra = gzip.compress(body), b"Content-Encoding: gzip\r\n"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                if how == "ok-close-after":
                    return
                if how == "ok-then-408":
                    self._stop.wait(0.1)
                    conn.sendall(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                    return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def server(request):
    srv = RawServer(request.param)
    yield srv
    srv.close()


def _api(url: str, **kw) -> JsonApi:
    return JsonApi(make_client(url, timeout=kw.pop("timeout", 5)), vendor="Test", label="t", headers={}, secrets=[],
                   retry=RetryPolicy(attempts=kw.pop("attempts", 2), backoff_base=0.0, backoff_cap=0.0),
                   sleep=lambda s: None, **kw)


@pytest.mark.parametrize("server", [["ok"]], indirect=True)
def test_requests_share_one_kept_alive_connection(server):
    api = _api(server.url)
    assert isinstance(api.client._transport, StdlibTransport)
    got = [api.call("POST", "/p", json={"page": i}, parse=json.loads)["n"] for i in range(5)]
    assert got == [1, 2, 3, 4, 5] and server.connections == 1


@pytest.mark.parametrize("server", [["ok-close-after"]], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(server):
    """The server closes after each answer without saying so: the next request finds the kept
    connection dead before any answer, and is sent once more on a new one — not a failed attempt."""
    waits: list[str] = []
    api = _api(server.url, attempts=1, on_wait=waits.append)
    assert [api.call("POST", "/p", json={}, parse=json.loads)["n"] for _ in range(3)] == [1, 2, 3]
    assert waits == [] and server.connections == 3


@pytest.mark.parametrize("server", [["cut", "ok"]], indirect=True)
def test_a_body_cut_short_is_a_failed_attempt_then_retried(server):
    waits: list[str] = []
    api = _api(server.url, on_wait=waits.append)
    assert api.call("POST", "/p", json={}, parse=json.loads) == {"n": 2}
    assert len(waits) == 1 and "connection failed (RemoteProtocolError)" in waits[0]


@pytest.mark.parametrize("server", [["silent"]], indirect=True)
def test_a_server_that_never_answers_times_out(server):
    api = _api(server.url, timeout=0.3, attempts=1)
    with pytest.raises(VendorError, match="failed after 1 attempts: timed out"):
        api.call("POST", "/p", json={}, parse=json.loads)


@pytest.mark.parametrize("server", [["gzip"]], indirect=True)
def test_a_gzip_body_is_decoded_as_httpx_decodes_it(server):
    assert _api(server.url).call("POST", "/p", json={}, parse=json.loads) == {"n": 1}


def test_nobody_listening_is_a_connection_failure():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(VendorError, match=r"connection failed \(ConnectError\)"):
        _api(f"http://127.0.0.1:{port}", attempts=1).call("POST", "/p", json={}, parse=json.loads)


def test_a_proxy_in_the_environment_keeps_httpx_routing(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    client = make_client("https://api.cursor.com")
    assert not isinstance(client._transport, StdlibTransport)
    assert isinstance(client._transport_for_url(httpx.URL("https://api.cursor.com/x")), httpx.HTTPTransport)


@pytest.mark.parametrize("server", [["early-hints"]], indirect=True)
def test_an_informational_answer_is_skipped_and_never_taken_for_the_next_requests(server):
    """A 1xx (103 Early Hints) before the answer is not the answer: httpx skips it. Taken as the
    answer, its empty body failed to parse, and the retry then read the first request's answer
    left on the connection — page 2 got page 1's body."""
    api = _api(server.url, attempts=3)
    assert [api.call("GET", f"/page/{i}", parse=json.loads)["path"] for i in range(3)] == \
        ["/page/0", "/page/1", "/page/2"]
    assert server.requests == 3


@pytest.mark.parametrize("server", [["ok"]], indirect=True)
def test_a_header_value_http_refuses_is_a_transport_error_that_never_shows_the_value(server):
    """http.client refuses a header value with a line break in a ValueError quoting it — the key,
    past `JsonApi` (which handles transport errors) into a traceback. httpx's own transport raises
    its LocalProtocolError; so does this one, without the value."""
    key = "sk-ant-admin01-SECRETSECRETSECRET"
    api = JsonApi(make_client(server.url, timeout=5), vendor="Test", label="t",
                  headers={"x-api-key": key + "\n"}, secrets=[key], retry=RetryPolicy(attempts=1))
    with pytest.raises(VendorError, match=r"connection failed \(LocalProtocolError\)") as caught:
        api.call("GET", "/p", parse=json.loads)
    assert "SECRET" not in str(caught.value)
    with pytest.raises(httpx.LocalProtocolError) as raw:
        api.client.get("/p", headers={"x-api-key": key + "\n"})
    assert "SECRET" not in str(raw.value) and raw.value.__context__ is None
    assert api.client.get("/p").status_code == 200  # the client still works
    assert server.requests == 1


@pytest.mark.parametrize("server", [["bad-header"]], indirect=True)
def test_a_header_line_that_is_not_a_header_is_refused_at_once(server):
    """http.client stops reading headers at a line that is not `name: value` and drops the rest
    (here Content-Length), then waited for the server to close — the whole read timeout — where
    httpx refuses the answer at once."""
    import time
    api = _api(server.url, timeout=3, attempts=1)
    started = time.monotonic()
    with pytest.raises(VendorError, match=r"connection failed \(RemoteProtocolError\)"):
        api.call("POST", "/p", json={}, parse=json.loads)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("server", [["ok-then-408"]], indirect=True)
def test_a_kept_connection_the_server_spoke_on_while_idle_is_not_reused(server):
    """A server closing an idle keep-alive connection may say `408 Request Timeout` first. httpcore
    drops a pooled connection that has anything to read (or is closed); reused, the next request
    read that 408 as its answer: a failed attempt, a logged retry and a backoff per idle period."""
    import time
    waits: list[str] = []
    api = _api(server.url, attempts=2, on_wait=waits.append)
    got = []
    for _ in range(3):
        got.append(api.call("GET", "/p", parse=json.loads)["n"])
        time.sleep(0.3)
    assert got == [1, 2, 3] and waits == [] and api.requests == 3
