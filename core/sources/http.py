"""HTTP plumbing shared by the vendor clients: timeouts, rate limiting, bounded retries, one error.

Every vendor call goes through `JsonApi.call`, which
  * waits for the client-side rate limiter (so a backfill never trips the vendor's limit);
  * retries 429 after `Retry-After` (or exponential backoff when the header is missing), and
    5xx / 529 / timeouts / dropped connections / truncated JSON with exponential backoff and full
    jitter, at most `RetryPolicy.attempts` tries in all;
  * raises `VendorError` otherwise: one line, naming the vendor, the organisation label and the
    endpoint path, never a key (any configured secret is scrubbed from vendor text as well).
"""

from __future__ import annotations

import base64
import email.utils
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from core.errors import RuntimeFailure

if TYPE_CHECKING:
    import ssl

    from pydantic import ValidationError


def _import_httpx():
    """httpx without its command line: `import httpx` also loads `httpx._main` (the `httpx` shell
    command), which imports click, rich and pygments wherever they are installed — ~60 ms of every
    sync's start-up, for a function no process of ours calls. Where they are not installed (a
    production install from requirements.txt) httpx already falls back to a stub `httpx.main`; here
    the module is made unavailable for the length of the import, so that it always does."""
    if "httpx" in sys.modules:
        return sys.modules["httpx"]
    blocked = "httpx._main" not in sys.modules
    if blocked:
        sys.modules["httpx._main"] = None  # `from ._main import main` → ImportError → httpx's stub
    try:
        import httpx
    finally:
        if blocked and "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]
    return httpx


httpx = _import_httpx()

T = TypeVar("T")

USER_AGENT = "abacus/0.1 (AI coding tool usage sync)"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})


class ShapeError(Exception):
    """A well-formed JSON body that is not what the endpoint documents (raised by a parser)."""


class VendorError(RuntimeFailure):
    """A vendor call failed. The message is one line and carries no secret."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(one_line(message))
        self.status = status
        self.retryable = retryable


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def key_hint(secret: str) -> str:
    """At most a 4-character hint of a key (the same rule as bot.config.secret_hint)."""
    return f"…{secret[-4:]}" if secret and len(secret) >= 12 else "…"


_FRAGMENT = 8  # this many characters of a secret in a row, in any case, count as the secret


def _secret_forms(secret: str) -> list[str]:
    """A secret as a vendor might echo it back: itself, and the Basic-auth encodings we send."""
    return [secret, *(base64.b64encode(raw.encode()).decode().rstrip("=") for raw in (f"{secret}:", secret))]


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` with every trace of the secrets replaced by a 4-character hint: a secret, or its
    Basic-auth base64, in full or any run of 8+ of its characters, in any letter case (vendors and
    gateways echo keys back truncated, upper-cased or as the Authorization header they got)."""
    if not text:
        return text
    low = text.lower()
    hits: list[tuple[int, int, str]] = []  # (start, end, secret) of each matching run
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        for form in _secret_forms(secret):
            form = form.lower()
            if len(form) < _FRAGMENT:
                start = low.find(form)
                while start >= 0:
                    hits.append((start, start + len(form), secret))
                    start = low.find(form, start + 1)
                continue
            grams = {form[i:i + _FRAGMENT] for i in range(len(form) - _FRAGMENT + 1)}
            hits.extend((i, i + _FRAGMENT, secret) for i in range(len(low) - _FRAGMENT + 1)
                        if low[i:i + _FRAGMENT] in grams)
    if not hits:
        return text
    hits.sort()
    out, pos = [], 0
    start, end, secret = hits[0]
    for s, e, sec in hits[1:] + [(len(text) + 1, 0, "")]:
        if s <= end:  # overlapping or touching runs: one span
            end = max(end, e)
            continue
        out.append(text[pos:start] + key_hint(secret))
        pos = end
        start, end, secret = s, e, sec
    return "".join(out) + text[pos:]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request. Tests shrink the delays to milliseconds."""

    attempts: int = 5  # tries in all, the first included
    backoff_base: float = 1.0  # seconds; doubles per retry, full jitter
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After stops the run instead of stalling it

    def backoff(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** retry))
        return ceiling * (0.5 + rng() / 2)  # jitter in [ceiling/2, ceiling]: spread out, never zero


class RateLimiter:
    """At most `per_minute` calls in any `period`-second window (a sliding log, thread-safe).

    A sliding window, not a token bucket: a bucket refilled at the limit may still let through up
    to twice the limit within one minute, which a vendor counting per minute answers with 429.
    `per_minute=None` (or 0) disables it.
    """

    def __init__(self, per_minute: int | None, *, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = per_minute or 0
        self.period = period
        self._clock, self._sleep = clock, sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def acquire(self) -> float:
        """Block until a call is allowed; returns the seconds waited."""
        if not self.enabled:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._calls and now - self._calls[0] >= self.period:
                    self._calls.popleft()
                if len(self._calls) < self.limit:
                    self._calls.append(now)
                    return waited
                delay = self.period - (now - self._calls[0]) + 0.001
            self._sleep(delay)
            waited += delay


@cache
def _tls() -> ssl.SSLContext:
    """The TLS context every client of this process shares (httpx's default: certifi's CA bundle, or
    SSL_CERT_FILE / SSL_CERT_DIR). Loading the CA bundle is ~25 ms per context; a forked events
    worker inherits this one instead of loading it again for its own client."""
    return httpx.create_ssl_context()


def make_client(base_url: str, *, timeout: float = 60.0, connect_timeout: float = 10.0) -> httpx.Client:
    """The HTTP client for one vendor. Timeouts are always set; no credentials live on it. Requests
    go through `core.sources.transport.StdlibTransport` (a quarter of httpcore's CPU per response),
    unless the environment names a proxy: httpx then routes them as before (it applies the
    environment's proxies only with its own transport)."""
    from urllib.request import getproxies

    from core.sources.transport import StdlibTransport

    proxied = any(scheme in ("http", "https", "all") for scheme in getproxies())
    return httpx.Client(base_url=base_url.rstrip("/"), follow_redirects=False, verify=_tls(),
                        timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
                        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                        transport=None if proxied else StdlibTransport(ssl_context=_tls()))


def basic_auth(username: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent/unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if seconds == seconds else None  # NaN → None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _validation_error(exc: BaseException) -> bool:
    """Whether `exc` is pydantic's ValidationError, without importing pydantic: a parser that used a
    model has loaded it (the hot paths parse with orjson and never do; see core.sources.cursor)."""
    core = sys.modules.get("pydantic_core")
    return core is not None and isinstance(exc, core.ValidationError)


def _is_invalid_json(exc: ValidationError) -> bool:
    return any(e.get("type") in ("json_invalid", "json_type") for e in exc.errors(include_url=False))


def _describe_validation(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first.get('msg', 'invalid')}{more}"


def _release(response: httpx.Response) -> None:
    """Let the response (and its body) go as soon as it is dropped. httpx links a Response and its
    stream both ways, so otherwise each page body (~0.4 MB of events) waits for the cyclic
    collector: with an ingest's relaxed collector settings dozens of them piled up (+20 MB peak).
    The body is already read and the stream closed; a closed, empty stream replaces it."""
    response.stream = httpx.ByteStream(b"")


class JsonApi:
    """One vendor organisation's JSON API: auth headers, limiter, retries, error text."""

    def __init__(self, client: httpx.Client, *, vendor: str, label: str, headers: Mapping[str, str],
                 secrets: Sequence[str], retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.vendor = vendor
        self.label = label
        self._headers = dict(headers)
        self._secrets = [s for s in secrets if s]
        self.retry = retry or RetryPolicy()
        self._sleep, self._rng = sleep, rng
        self._on_wait = on_wait
        self.requests = 0  # sent, retries included (tests and the benchmark read it)

    def _where(self, method: str, path: str) -> str:
        return f"{self.vendor} API ({self.label}): {method} {path}"

    def _vendor_text(self, response: httpx.Response) -> str:
        """The vendor's own error text (Anthropic `error.type: message`, Cursor `error`/`message`)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        text = ""
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                text = ": ".join(str(x) for x in (err.get("type"), err.get("message")) if x)
            else:
                text = ": ".join(str(x) for x in (err, body.get("message")) if x)
        if not text:
            text = response.text[:200] if response.text and len(response.text) < 400 else ""
        return one_line(scrub(text, self._secrets), 160)

    def call(self, method: str, path: str, *, parse: Callable[[bytes], T], params: Any = None,
             json: Any = None, limiter: RateLimiter | None = None, headers: dict[str, str] | None = None) -> T:
        """Send one request and parse its body, retrying what is worth retrying. `headers` are
        added to the client's own (e.g. a beta flag one endpoint needs)."""
        sent_headers = {**self._headers, **headers} if headers else self._headers
        where = self._where(method, path)
        last_problem = "no attempt made"
        for attempt in range(self.retry.attempts):
            if limiter is not None:
                limiter.acquire()
            delay: float | None = None
            try:
                self.requests += 1
                response = self.client.request(method, path, params=params, json=json, headers=sent_headers)
                content = response.content  # reads the whole body: a dropped body raises here
                _release(response)
            except httpx.TimeoutException:
                last_problem = "timed out"
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 300:
                    try:
                        return parse(content)
                    except ShapeError as exc:
                        raise VendorError(f"{where}: unexpected response shape: "
                                          f"{scrub(one_line(str(exc), 200), self._secrets)}") from None
                    except ValueError as exc:  # a pydantic ValidationError is one too
                        if _validation_error(exc) and not _is_invalid_json(exc):
                            raise VendorError(f"{where}: unexpected response shape: "
                                              f"{scrub(_describe_validation(exc), self._secrets)}") from None
                        last_problem = "truncated or invalid JSON"
                elif status in RETRYABLE_STATUS or status >= 500:
                    detail = self._vendor_text(response)
                    last_problem = f"HTTP {status}" + (f" {detail}" if detail else "")
                    if status == 429:
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                        if retry_after is not None:
                            if retry_after > self.retry.max_retry_after:
                                raise VendorError(f"{where}: rate limited; the vendor asks to wait "
                                                  f"{retry_after:.0f}s (more than {self.retry.max_retry_after:.0f}s)"
                                                  f"; try again later", status=429, retryable=True)
                            delay = retry_after
                else:
                    detail = self._vendor_text(response)
                    hint = {401: " (bad or revoked admin key?)", 403: " (key lacks permission or plan has no access?)",
                            404: " (wrong API URL?)"}.get(status, "")
                    raise VendorError(f"{where} → HTTP {status}{hint}" + (f": {detail}" if detail else ""),
                                      status=status)
            if attempt + 1 >= self.retry.attempts:
                break
            if delay is None:
                delay = self.retry.backoff(attempt, self._rng)
            if self._on_wait:
                self._on_wait(f"{where}: {last_problem}; retrying in {delay:.1f}s")
            self._sleep(delay)
        raise VendorError(f"{where} failed after {self.retry.attempts} attempts: {last_problem}", retryable=True)


class PageGuard:
    """Stops paging loops: a cursor the vendor already returned, or an implausible page count."""

    def __init__(self, where: str, max_pages: int = 100_000) -> None:
        self.where = where
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[str] = set()

    def next(self, token: object) -> None:
        self.pages += 1
        if self.pages > self.max_pages:
            raise VendorError(f"{self.where}: more than {self.max_pages} pages; stopping")
        key = str(token)
        if key in self._seen:
            raise VendorError(f"{self.where}: the vendor returned page cursor {one_line(key, 40)!r} twice; "
                              "stopping instead of looping")
        self._seen.add(key)
