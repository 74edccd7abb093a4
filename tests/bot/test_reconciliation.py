"""Billed (Anthropic cost report) versus estimated (Abacus' Claude Code figures) per model and day,
in `/abacus models` and for the digest; figures by hand. SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from bot.blocks import reports as blocks
from bot.services.reports import ReportService
from core.periods import DateRange
from core.reconciliation import reconcile
from core.usage import CostBasis, Feed, Source, UsageRecord, natural_key
from storage.db import session_scope
from storage.tables import VendorCost
from storage.usage_repo import write_usage
from tests.fakes.blockkit import validate_blocks

B = 1_000_000_000
D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def test_reconcile_by_hand():
    billed = [(D1, "claude-sonnet-4-5-20250929", 10 * B), (D1, "claude-opus-4-5-20251101", 4 * B),
              (D2, "claude-sonnet-4-5", 6 * B), (D2, None, 1 * B)]
    estimated = [(D1, "sonnet-4.5", 9 * B), (D2, "sonnet-4.5", 7 * B), (D2, "haiku-4.5", 1 * B),
                 (D3, "sonnet-4.5", 50 * B)]  # D3 has no bill yet: not a gap
    recon = reconcile(D1, D3, billed, estimated)
    assert [(r.key, r.billed_nanos, r.estimated_nanos) for r in recon.by_model] == [
        ("sonnet-4.5", 16 * B, 16 * B), ("opus-4.5", 4 * B, 0), ("other (not tokens)", B, 0), ("haiku-4.5", 0, B)]
    assert [(r.key, r.billed_nanos, r.estimated_nanos, r.gap_nanos) for r in recon.by_day] == [
        ("2026-10-01", 14 * B, 9 * B, 5 * B), ("2026-10-02", 7 * B, 8 * B, -B)]
    assert (recon.billed_nanos, recon.estimated_nanos, recon.billed_days) == (21 * B, 17 * B, 2)


def test_models_view_and_digest_function_show_billed_vs_estimated(engine):
    with session_scope(engine) as session:
        write_usage([UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                                 natural_key=natural_key("r", day),
                                 ts=datetime(day.year, day.month, day.day, tzinfo=UTC),
                                 person="lee@example.com", raw_model="claude-sonnet-4-5", model="sonnet-4.5",
                                 input_tokens=1000, cost_nanos=nanos, cost_basis=CostBasis.VENDOR)
                     for day, nanos in ((D1, 3 * B), (D2, 2 * B))], session=session)
        for i, (day, model, nanos) in enumerate([(D1, "claude-sonnet-4-5-20250929", 4 * B),
                                                 (D2, "claude-sonnet-4-5-20250929", 2 * B),
                                                 (D2, "claude-opus-4-5-20251101", 5 * B)]):
            session.add(VendorCost(source="claude_code", natural_key=f"c{i}", org="org", day=day, model=model,
                                   cost_nanos=nanos, cost_type="tokens"))
    service = ReportService(engine)
    recon = service.reconciliation(DateRange(D1, D3))
    assert [(r.key, r.billed_nanos, r.estimated_nanos) for r in recon.by_model] == [
        ("sonnet-4.5", 6 * B, 5 * B), ("opus-4.5", 5 * B, 0)]
    view = service.models(DateRange(D1, D3))
    assert view.reconciliation is not None and view.reconciliation.billed_nanos == 11 * B
    rendered = blocks.models(view)
    assert validate_blocks(rendered, surface="message") == []
    text = json.dumps(rendered)
    assert "Billed vs estimated" in text and "$11.00" in text and "$5.00" in text
    # no bill in the period: no reconciliation section
    assert service.models(DateRange(D3, D3)).reconciliation is None


