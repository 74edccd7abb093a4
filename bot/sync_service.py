"""Vendor sync as a service: what `abacus sync`/`backfill`, the scheduler and Slack's `/abacus sync` call.

    from bot.sync_service import run_sync
    summary = run_sync(ctx, trigger="schedule")          # incremental, every configured source
    summary = run_sync(ctx, sources="cursor", window=DateRange(d1, d2), trigger="slack")
    if not summary.ok: ...summary.errors (one line each, no secrets)...

It builds one vendor client per configured key (several comma-separated keys = several
organisations/teams), a rate limiter per organisation at the vendor's documented limits, and runs
the engine (`core.sync`) against the SQL store. A failing organisation does not stop the others;
its one-line reason is in the summary and in `sync_run`.

Tuning (environment; defaults are the documented vendor limits):
  ABACUS_SYNC_RATE_LIMIT=off      disable the client-side rate limiter (benchmarks, fake servers)
  ABACUS_HTTP_TIMEOUT=60          seconds per request
  ABACUS_HTTP_ATTEMPTS=5          tries per request (429/5xx/529/timeouts/truncated JSON)
  ABACUS_HTTP_BACKOFF=1.0         first backoff in seconds (doubles, with jitter, capped at 30 s)
  ABACUS_HTTP_MAX_RETRY_AFTER=120 a longer Retry-After stops the run instead of stalling it
  ABACUS_SYNC_WORKER=on|off       fetch and convert Cursor usage events in a worker process while
                                  this one writes (core.sources.event_worker). Default: on for the
                                  `abacus sync`/`backfill` commands, off inside the bot (a process
                                  with many threads is not forked)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TextIO

from bot.config import environment
from core.errors import ConfigError
from core.periods import DateRange
from core.sources.cursor import DEFAULT_MAX_WINDOW_EVENTS, CursorAdmin
from core.sources.http import RateLimiter, RetryPolicy, key_hint, make_client
from core.sync import (
    Mode,
    NullProgress,
    Progress,
    SyncOptions,
    SyncPlan,
    SyncSummary,
    Vendor,
)
from core.sync_anthropic import sync_anthropic
from core.sync_cursor import sync_cursor
from storage.sync_repo import SqlSyncStore

log = logging.getLogger("abacus.sync")

ANTHROPIC_PER_MINUTE = 60  # no published Admin-API limit; "once per minute sustained", bursts allowed
CURSOR_ADMIN_PER_MINUTE = 20
CURSOR_EVENTS_PER_MINUTE = 60


@dataclass(frozen=True, slots=True)
class SyncTuning:
    rate_limit: bool = True
    anthropic_per_minute: int = ANTHROPIC_PER_MINUTE
    cursor_admin_per_minute: int = CURSOR_ADMIN_PER_MINUTE
    cursor_events_per_minute: int = CURSOR_EVENTS_PER_MINUTE
    timeout: float = 60.0
    attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0
    max_window_events: int = DEFAULT_MAX_WINDOW_EVENTS
    commit_events: int = 50_000
    event_worker: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, event_worker: bool = False) -> SyncTuning:
        """The tuning the environment asks for; `event_worker`: the default of ABACUS_SYNC_WORKER."""
        env = environment() if env is None else env
        t = cls(event_worker=event_worker)
        for name, attr in (("ABACUS_SYNC_RATE_LIMIT", "rate_limit"), ("ABACUS_SYNC_WORKER", "event_worker")):
            flag = env.get(name, "").strip().lower()
            if flag:
                if flag not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                    raise ConfigError(f"{name}: use on or off")
                t = replace(t, **{attr: flag in ("on", "true", "1", "yes")})
        for name, attr, kind, low in (("ABACUS_HTTP_TIMEOUT", "timeout", float, 0.01),
                                      ("ABACUS_HTTP_ATTEMPTS", "attempts", int, 1),
                                      ("ABACUS_HTTP_BACKOFF", "backoff_base", float, 0.0),
                                      ("ABACUS_HTTP_MAX_RETRY_AFTER", "max_retry_after", float, 0.0),
                                      ("ABACUS_SYNC_COMMIT_EVENTS", "commit_events", int, 1),
                                      ("ABACUS_SYNC_MAX_WINDOW_EVENTS", "max_window_events", int, 1)):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{name}: not a number") from None
            if value < low:
                raise ConfigError(f"{name}: must be at least {low}")
            t = replace(t, **{attr: value})
        return t

    def retry(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts, backoff_base=self.backoff_base,
                           backoff_cap=max(self.backoff_cap, self.backoff_base), max_retry_after=self.max_retry_after)

    def limiter(self, per_minute: int) -> RateLimiter | None:
        return RateLimiter(per_minute) if self.rate_limit else None


def _labels(keys: Sequence[str], prefix: str) -> list[str]:
    """Non-secret labels (`team…abcd`); keys sharing the last 4 characters get `#2`, `#3`."""
    out: list[str] = []
    for key in keys:
        label = f"{prefix}{key_hint(key)}"
        n = sum(1 for existing in out if existing.split("#")[0] == label)
        out.append(label if n == 0 else f"{label}#{n + 1}")
    return out


def parse_sources(sources: str | Sequence[str | Vendor] | None) -> tuple[Vendor, ...]:
    if sources is None or isinstance(sources, str):
        return Vendor.parse_many(sources)
    out: list[Vendor] = []
    for s in sources:
        for v in Vendor.parse_many(str(s)):
            if v not in out:
                out.append(v)
    return tuple(out)


def run_sync(ctx, *, sources: str | Sequence[str | Vendor] | None = None, window: DateRange | None = None,
             mode: Mode | str = Mode.SYNC, trigger: str = "schedule", progress: Progress | None = None,
             tuning: SyncTuning | None = None, now: datetime | None = None) -> SyncSummary:
    """Sync the configured vendor organisations into the database of `ctx` (a bot.wiring.Context).

    `window=None` is incremental (since each stream's watermark, with overlap); a window syncs
    those UTC days. `mode="backfill"` walks the window day by day and resumes after a crash.
    Never raises for a vendor failure: see `SyncSummary.ok` / `.errors`. Raises ConfigError when a
    requested source has no key configured, or no source at all is configured.
    """
    settings = ctx.settings
    mode = Mode(mode)
    tuning = tuning or SyncTuning.from_env()
    progress = progress or NullProgress()
    wanted = parse_sources(sources)
    explicit = sources is not None and not (isinstance(sources, str) and sources.strip().lower() in ("all", "both"))
    keys = {Vendor.ANTHROPIC: settings.anthropic_keys, Vendor.CURSOR: settings.cursor_keys}
    env_names = {Vendor.ANTHROPIC: "ANTHROPIC_ADMIN_KEY", Vendor.CURSOR: "CURSOR_ADMIN_KEY"}
    summary = SyncSummary()
    active = [v for v in wanted if keys[v]]
    for v in wanted:
        if not keys[v]:
            if explicit:
                raise ConfigError(f"{env_names[v]} is not set: cannot sync {v.value}")
            summary.notes.append(f"{v.value}: off ({env_names[v]} not set)")
    if not active:
        raise ConfigError("no vendor key is configured: set ANTHROPIC_ADMIN_KEY and/or CURSOR_ADMIN_KEY")

    store = SqlSyncStore(ctx.engine)
    plan = SyncPlan(mode=mode, window=window, now=now, trigger=trigger, email_domain=settings.email_domain)
    options = SyncOptions(commit_events=tuning.commit_events, event_worker=tuning.event_worker)
    retry = tuning.retry()

    def on_wait(text: str) -> None:
        log.warning("%s", text)
        progress.message(text)

    # every credential of the process, scrubbed from any vendor's error text (a gateway may echo
    # another team's key, or a token, in its error page)
    secrets = [*keys[Vendor.ANTHROPIC], *keys[Vendor.CURSOR],
               *(t.get_secret_value() for t in (settings.slack_bot_token, settings.slack_app_token) if t)]
    if Vendor.ANTHROPIC in active:
        from core.sources.anthropic import AnthropicAdmin  # loaded only when Anthropic is synced

        with make_client(settings.anthropic_api_url, timeout=tuning.timeout) as http:
            for key, label in zip(keys[Vendor.ANTHROPIC], _labels(keys[Vendor.ANTHROPIC], "key"), strict=True):
                client = AnthropicAdmin(http, key, limiter=tuning.limiter(tuning.anthropic_per_minute), retry=retry,
                                        label=label, on_wait=on_wait, other_secrets=secrets)
                summary.results.append(sync_anthropic(client, store, plan, options=options, progress=progress))
    if Vendor.CURSOR in active:
        def cursor_http():  # another client like `http`, for the events worker's own connections
            return make_client(settings.cursor_api_url, timeout=tuning.timeout)

        with cursor_http() as http:
            for key, label in zip(keys[Vendor.CURSOR], _labels(keys[Vendor.CURSOR], "team"), strict=True):
                client = CursorAdmin(http, key, admin_limiter=tuning.limiter(tuning.cursor_admin_per_minute),
                                     events_limiter=tuning.limiter(tuning.cursor_events_per_minute), retry=retry,
                                     label=label, on_wait=on_wait, max_window_events=tuning.max_window_events,
                                     other_secrets=secrets, http_factory=cursor_http if tuning.event_worker else None)
                summary.results.append(sync_cursor(client, store, plan, options=options, progress=progress))
    for r in summary.results:
        if r.error:
            log.error("sync %s %s failed: %s", r.vendor.value, r.org, r.error)
    return summary


# --- progress on stderr --------------------------------------------------------------------------------

class LineProgress:
    """Plain progress lines (not a terminal): one per completed day, and retry notices."""

    def __init__(self, stream: TextIO | None = None, every: int = 1) -> None:
        self.stream = stream or sys.stderr
        self.every = max(1, every)
        self.label, self.total, self.done = "", 0, 0

    def begin(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        print(f"{label}: {total} day(s) to sync", file=self.stream, flush=True)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if self.done % self.every == 0 or self.done >= self.total:
            print(f"{self.label}: {note or 'day'} done ({self.done}/{self.total})", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def end(self) -> None:
        pass


class TqdmProgress:
    """A progress bar on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar = None

    def begin(self, label: str, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit="day", file=self.stream, leave=True, dynamic_ncols=True)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)

    def message(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text, file=self.stream)

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def terminal_progress(stream: TextIO | None = None) -> Progress:
    """tqdm on a terminal, plain lines otherwise (both on stderr)."""
    stream = stream or sys.stderr
    return TqdmProgress(stream) if stream.isatty() else LineProgress(stream)
