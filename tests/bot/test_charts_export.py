"""`render_all` (used by `abacus demo`): every chart written as a real PNG of the theme's size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.services.charts_export import render_all
from core.periods import DateRange

from . import seed
from .driver import png_size


def test_render_all_writes_every_chart(engine, tmp_path):
    today = datetime.now(UTC).date()
    seed.seed(engine, today)
    paths = render_all(engine, tmp_path / "charts", DateRange(today - timedelta(days=29), today))
    names = [p.name.split("-", 1)[1] for p in paths]
    assert names == ["dashboard.png", "top.png", "models.png", "groups.png", "adoption.png", "forecast.png",
                     "tool-split.png", "user-timeline.png", "user-models.png"]
    for path in paths:
        assert png_size(path.read_bytes()) == (1200, 672)
        assert path.stat().st_size > 10_000  # drawn, not blank
