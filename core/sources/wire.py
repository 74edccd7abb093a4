"""What the vendor wire models share: tolerant parsing (unknown fields ignored, missing optional
ones default), counts that a vendor may send as null, sane bounds on counts and amounts, and
checked ISO dates. A value outside them fails validation, i.e. the page is refused with one line
("unexpected response shape") instead of storing nonsense or overflowing a 64-bit sum."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from core.usage import MAX_RECORD_NANOS, MAX_TOKENS, NANOS_PER_CENT


def _zero_if_none(v: Any) -> Any:
    return 0 if v is None else v


# A count (tokens, lines, sessions, accepts…): null → 0; never negative, below MAX_TOKENS.
Int0 = Annotated[int, BeforeValidator(_zero_if_none), Field(ge=0, lt=MAX_TOKENS)]

MAX_CENTS = Decimal(MAX_RECORD_NANOS // NANOS_PER_CENT)  # $10M: no single usage record costs more

# An amount of cents on one usage record: finite, not negative, at most MAX_CENTS.
UsageCents = Annotated[Decimal, Field(ge=0, le=MAX_CENTS, allow_inf_nan=False)]

# An amount of cents on a cost-report line (credits may be negative): finite, |amount| ≤ $1B.
LineCents = Annotated[Decimal, Field(ge=-100 * MAX_CENTS, le=100 * MAX_CENTS, allow_inf_nan=False)]


def _iso_day(text: str) -> str:
    date.fromisoformat(text.strip()[:10])  # ValueError → a validation error naming the field
    return text


# A timestamp or date whose first ten characters are an ISO date (`2026-11-20`, `2026-11-20T00:00:00Z`).
DayText = Annotated[str, AfterValidator(_iso_day)]


class Wire(BaseModel):
    """Tolerant wire model: unknown fields are ignored, missing optional ones default."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
