"""Live telemetry benchmark: the OTLP receiver's ingest rate and memory, and MTTD end to end.

    python benchmarks/bench_live.py ingest [--events 100000] [--batch 200] [--clients 4] [--only sqlite|postgres]
    python benchmarks/bench_live.py mttd [--runs 1]

ingest: Claude Code-shaped `api_request` events, encoded once by the OpenTelemetry SDK's own
  protobuf encoder (as Claude Code's exporter sends them: a batch per request), are POSTed to the
  receiver (in this process, on 127.0.0.1) by `--clients` keep-alive connections; every batch is
  decoded, precedence-checked and written through the production path. Prints events/s and the
  process's peak RSS before and after (the encoded batches themselves are counted in "before").
mttd: the real `abacus run` process (fake Slack on 127.0.0.1, OTLP receiver on, default settings:
  live detection every 2 minutes; `--live-minutes` to try another) with seven days of history for
  one person ($5/day); a session then spends $50 in fifteen minutes: nine $5 requests already
  exported, then the tenth, exported by the SDK exporter 5 s after it happened (Claude Code's log
  export interval). MTTD = when the fake Slack received the chat.postMessage of THAT person's
  incident (the top-level alert in the alert channel, found by its incident number; the outbox row
  of kind `opened`) minus the event time of that tenth request, which took the day to the spike
  threshold ($50 and 5x the 7-day mean). Other posts — the weekly digest the bot catches up at
  start-up on a Monday goes to the same channel — are listed, never counted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-live-token-0123456789"
CHANNEL = "C0ALERTS"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _database(kind: str) -> tuple[str, callable]:
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-live-")) / "abacus.db"
        return f"sqlite:///{path}", lambda: None
    import psycopg

    name = f"bench_live_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql://postgres@127.0.0.1:5432/{name}", drop


def _batches(events: int, batch: int) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry

    cc = ClaudeCodeTelemetry("http://unused", TOKEN)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for b in range(0, events, batch):
        evs = [ApiRequestEvent(email=f"dev{(b + i) % 500:03d}@example.com", model="claude-sonnet-4-5",
                               input_tokens=1200, output_tokens=300, cache_read_tokens=40_000,
                               cache_creation_tokens=800, cost_usd="0.0421", request_id=f"req_{b + i:09d}",
                               at=start + timedelta(milliseconds=(b + i) * 50), session_id=f"s{(b + i) % 500}")
               for i in range(min(batch, events - b))]
        out.append(encode_logs(cc.record_events(evs)).SerializeToString())
    return out


def bench_ingest(kind: str, events: int, batch: int, clients: int) -> None:
    from bot.otlp_server import OtlpReceiver
    from storage.db import make_engine, upgrade

    url, drop = _database(kind)
    engine = make_engine(url)
    try:
        upgrade(engine)
        bodies = _batches(events, batch)
        rss_before = _rss_mb()
        receiver = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
        queue = list(enumerate(bodies))
        lock = threading.Lock()
        failures: list[int] = []

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=120)
            while True:
                with lock:
                    if not queue:
                        break
                    _, body = queue.pop()
                conn.request("POST", "/v1/logs", body, {"Content-Type": "application/x-protobuf",
                                                        "Authorization": f"Bearer {TOKEN}"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    failures.append(resp.status)
            conn.close()

        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        receiver.stop()
        from sqlalchemy import text

        with engine.connect() as conn:
            stored = conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()
        print(f"{kind}: {events:,} events in {len(bodies):,} batches of {batch} from {clients} clients: "
              f"{elapsed:.1f} s = {events / elapsed:,.0f} events/s; stored {stored:,}; failures {len(failures)}; "
              f"peak RSS {rss_before:.0f} MB before, {_rss_mb():.0f} MB after; "
              f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    finally:
        engine.dispose()
        drop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alert_of(fake, incident_id: int, channel: str):
    """The top-level alert message of one incident as the fake Slack received it (chat.postMessage
    in the alert channel, not a thread reply), or None."""
    for call in fake.calls("chat.postMessage"):
        if (call.get("channel") == channel and not call.get("thread_ts") and call.ok
                and re.search(rf"#{incident_id}\b", str(call.get("text", "")))):
            return call
    return None


def bench_mttd(live_minutes: float | None = None) -> dict | None:
    """One run; returns the figures (None when no alert arrived within ten minutes)."""
    from sqlalchemy import text

    from core.usage import CostBasis, Feed, Source, UsageRecord, natural_key
    from storage.db import make_engine, session_scope, upgrade
    from storage.usage_repo import write_usage
    from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry
    from tests.fakes.slack import FakeSlack
    from tests.fakes.slack_pytest import launch_bot_process

    workdir = Path(tempfile.mkdtemp(prefix="bench-mttd-"))
    url = f"sqlite:///{workdir / 'abacus.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        write_usage([UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                                 natural_key=natural_key("hist", back), person="hal@example.com",
                                 ts=(now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0),
                                 raw_model="claude-sonnet-4-5", model="sonnet-4.5", input_tokens=1000,
                                 output_tokens=100, cost_nanos=5_000_000_000, cost_basis=CostBasis.VENDOR)
                     for back in range(1, 8)], session=session)
    port = _free_port()
    env = {"DATABASE_URL": url, "ABACUS_OTLP_PORT": str(port), "ABACUS_OTLP_TOKEN": TOKEN,
           "ABACUS_OTLP_HOST": "127.0.0.1", "ABACUS_ALERT_CHANNEL": CHANNEL}
    if live_minutes is not None:
        env["ABACUS_LIVE_DETECT_MINUTES"] = str(live_minutes)
    interval = 60 * (live_minutes if live_minutes is not None else 2)
    load = []
    with FakeSlack() as fake:
        bot = launch_bot_process(fake, env, log_dir=workdir)
        try:
            started = datetime.now(UTC)
            # wait a random part of the detection interval, so the tick is not aligned with the send
            time.sleep(int.from_bytes(os.urandom(1), "big") / 255 * interval)
            load.append(os.getloadavg()[0])
            cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", TOKEN)
            sent = datetime.now(UTC)
            # the session so far: nine $5 requests over the last fifteen minutes ($45: under the threshold)
            earlier = [ApiRequestEvent(email="hal@example.com", model="claude-opus-4-5-20251101", input_tokens=20_000,
                                       output_tokens=2_000, cost_usd="5", request_id=f"req_m{i}",
                                       at=sent - timedelta(seconds=100 * (9 - i))) for i in range(9)]
            assert cc.send_events(earlier)
            # the tenth takes the day to $50: exported like Claude Code does, within its 5 s log interval
            crossing = datetime.now(UTC)
            time.sleep(5)
            assert cc.send_events([ApiRequestEvent(email="hal@example.com", model="claude-opus-4-5-20251101",
                                                   input_tokens=20_000, output_tokens=2_000, cost_usd="5",
                                                   request_id="req_m9", at=crossing)])
            incident = queued_at = alert = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and alert is None:
                if incident is None:
                    with engine.connect() as conn:
                        incident = conn.execute(text(
                            "SELECT i.id, o.created_at FROM incident i JOIN alert_outbox o ON o.incident_id = i.id "
                            "WHERE i.dedup_key = 'hal@example.com' AND o.kind = 'opened'")).first()
                    if incident is not None:
                        queued_at = _utc(incident[1])
                if incident is not None:
                    alert = _alert_of(fake, incident[0], CHANNEL)
                time.sleep(0.1)
            load.append(os.getloadavg()[0])
            others = [c.get("text", "")[:60] for c in fake.calls("chat.postMessage")
                      if alert is None or c is not alert]
        finally:
            bot.popen.send_signal(signal.SIGTERM)
            bot.popen.wait(30)
    engine.dispose()
    print(f"bot started {started:%H:%M:%S}, events sent {sent:%H:%M:%S}; crossing event time "
          f"{crossing:%H:%M:%S.%f}"[:-3] + f"; live detection every {interval:.0f} s; "
          f"load average {min(load):.2f}-{max(load):.2f}")
    print(f"  other messages posted (not this alert): {others}")
    if alert is None:
        print("  no alert for hal@example.com in Slack within 10 minutes" +
              ("" if incident is None else f" (incident #{incident[0]} queued at {queued_at:%H:%M:%S})"))
        return None
    arrived = datetime.fromtimestamp(alert.time, UTC)
    figures = {"queued": (queued_at - crossing).total_seconds(), "slack": (arrived - crossing).total_seconds()}
    print(f"  incident #{incident[0]}: event -> alert queued {figures['queued']:.1f} s; "
          f"event -> chat.postMessage at the fake Slack {figures['slack']:.1f} s")
    return figures


def _utc(value) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["ingest", "mttd"])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--live-minutes", type=float, default=None,
                        help="ABACUS_LIVE_DETECT_MINUTES for mttd (default: the product's default)")
    args = parser.parse_args()
    if args.part == "ingest":
        for kind in ([args.only] if args.only else ["sqlite", "postgres"]):
            bench_ingest(kind, args.events, args.batch, args.clients)
    else:
        results = [bench_mttd(args.live_minutes) for _ in range(args.runs)]
        slack = sorted(r["slack"] for r in results if r)
        if slack:
            print(f"MTTD event -> Slack over {len(slack)} of {len(results)} runs: min {slack[0]:.1f} s, "
                  f"median {slack[len(slack) // 2]:.1f} s, max {slack[-1]:.1f} s")


if __name__ == "__main__":
    main()
