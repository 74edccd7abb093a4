"""What the vendor wire models share: tolerant parsing (unknown fields ignored, missing optional
ones default) and integers that a vendor may send as null."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _zero_if_none(v: Any) -> Any:
    return 0 if v is None else v


Int0 = Annotated[int, BeforeValidator(_zero_if_none)]


class Wire(BaseModel):
    """Tolerant wire model: unknown fields are ignored, missing optional ones default."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
