"""QA pass on the sentences: the population they quote must be the one the dashboard counts.

`/abacus dashboard` counts people (unattributed keys are not people); the z-score and the cycle
outlier compare with every subject active that day, keys included. The sentence said "over 47 active
people" on a day with 45 people and 2 unattributed keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from core.detection import layers
from core.detection.config import DetectionSettings, cycle_containing
from core.detection.explain import to_signal
from core.detection.layers import DayContext, DayInputs, UsageMatrix, spike_floor

B = 1_000_000_000
START = date(2026, 1, 1)


def _inputs(spend: dict[str, float], day: int = 5) -> DayInputs:
    subjects = sorted(spend)
    cost = np.zeros((len(subjects), 10), dtype=np.int64)
    for i, s in enumerate(subjects):
        cost[i, day] = round(spend[s] * B)
    m = UsageMatrix(subjects, START, cost, np.zeros_like(cost), np.zeros_like(cost))
    d = m.day(day)
    ctx = DayContext.build(m, d, cycle_containing(d, 1), datetime(2026, 2, 1, tzinfo=UTC))
    return DayInputs.from_matrix(m, ctx, 7, spike_floor(DetectionSettings()))


def _sentence(f) -> str:
    return to_signal(f, names={}, today=date(2026, 2, 1), driver=None, data_at=datetime(2026, 1, 7, tzinfo=UTC)).message


def test_the_zscore_sentence_counts_people_and_unattributed_keys_apart():
    # 8 people at $10, one at $200, and 2 unattributed keys at $10: 11 active subjects
    spend = {f"p{i}@x.io": 10.0 for i in range(8)} | {"big@x.io": 200.0} | {"unmapped:ci": 10.0, "unmapped:k2": 10.0}
    [f] = layers.zscores(_inputs(spend), DetectionSettings())
    assert f.subject == "big@x.io" and f.extra["population"] == 11
    text = _sentence(f)
    assert "over 9 active people and 2 unattributed keys" in text, text


def test_the_outlier_sentence_counts_people_and_unattributed_keys_apart():
    spend = {f"p{i}@x.io": 10.0 for i in range(5)} | {"big@x.io": 500.0} | {"unmapped:ci": 10.0}
    [f] = layers.cycle_outliers(_inputs(spend), DetectionSettings())
    text = _sentence(f)
    assert "the team median of $10 over 6 people and 1 unattributed key;" in text or text.endswith(
        "over 6 people and 1 unattributed key"), text


def test_without_keys_the_sentence_is_as_before():
    spend = {f"p{i}@x.io": 10.0 for i in range(9)} | {"big@x.io": 200.0}
    [f] = layers.zscores(_inputs(spend), DetectionSettings())
    assert "over 10 active people)" in _sentence(f)
