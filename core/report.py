"""Aggregated usage reports: the shapes and their renderings (json, csv, table)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from core.periods import DateRange
from core.usage import nanos_to_usd


class Dimension(StrEnum):
    USER = "user"
    MODEL = "model"
    TOOL = "tool"
    DAY = "day"
    GROUP = "group"


NO_GROUP = "(no group)"
NUMERIC_FIELDS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "total_tokens",
                  "cost_usd", "requests", "active_days")


@dataclass(slots=True)
class UsageTotals:
    """Exact sums: integer tokens and nano-dollars."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_nanos: int = 0
    requests: int = 0
    active_days: int = 0
    estimated_cost_nanos: int = 0
    unpriced_records: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def cost_usd(self) -> float:
        return nanos_to_usd(self.cost_nanos)

    def as_contract(self) -> dict:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "requests": self.requests,
            "active_days": self.active_days,
        }


@dataclass(slots=True)
class ReportRow:
    key: str
    totals: UsageTotals


@dataclass(slots=True)
class Report:
    period: DateRange
    by: Dimension
    rows: list[ReportRow]
    totals: UsageTotals
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    live_days: list[date] = field(default_factory=list)  # Claude Code days still on live telemetry estimates

    def as_contract(self) -> dict:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "by": self.by.value,
            "rows": [{"key": r.key, **r.totals.as_contract()} for r in self.rows],
            "totals": self.totals.as_contract(),
            "live_estimate_days": [d.isoformat() for d in self.live_days],
        }


def live_note(days: list[date]) -> str | None:
    """The sentence every report carries while some Claude Code figures are live telemetry."""
    if not days:
        return None
    shown = ", ".join(d.isoformat() for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    return (f"Claude Code figures for {shown} are live estimates from Claude Code telemetry (list price) "
            "until Anthropic's own figures for those days arrive")


def to_json(report: Report) -> str:
    return json.dumps(report.as_contract(), indent=2)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


# C0 controls (ESC starts terminal sequences: clear screen, window titles, hyperlinks), DEL, C1
# controls (0x9b is a one-byte CSI) and the bidirectional overrides that reorder what is shown
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """Text from a vendor or a file made safe to print on a terminal or in a CSV cell: every
    control character shown as a visible escape (`\\x1b`) instead of acting on the terminal."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100
                            else f"\\u{ord(m.group(0)):04x}", str(text))


def spreadsheet_safe(value: object) -> object:
    """Neutralise spreadsheet formula injection (OWASP): text cells that a spreadsheet
    would evaluate get a leading apostrophe. Numbers pass through untouched."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([report.by.value, *NUMERIC_FIELDS])
    for row in report.rows:
        c = row.totals.as_contract()
        writer.writerow([spreadsheet_safe(printable(row.key)), *(c[f] for f in NUMERIC_FIELDS)])
    c = report.totals.as_contract()
    writer.writerow(["TOTAL", *(c[f] for f in NUMERIC_FIELDS)])
    return buf.getvalue()


def human_tokens(n: int) -> str:
    for unit, size in (("B", 1_000_000_000), ("M", 1_000_000), ("k", 1_000)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def to_table(report: Report) -> str:
    header = [report.by.value, "cost_usd", "total_tokens", "input", "output", "cache_write", "cache_read",
              "requests", "days"]

    def cells(key: str, t: UsageTotals) -> list[str]:
        return [printable(key), f"${t.cost_usd:,.2f}", human_tokens(t.total_tokens), human_tokens(t.input_tokens),
                human_tokens(t.output_tokens), human_tokens(t.cache_write_tokens),
                human_tokens(t.cache_read_tokens), f"{t.requests:,}", str(t.active_days)]

    body = [cells(r.key, r.totals) for r in report.rows]
    footer = cells("TOTAL", report.totals)
    widths = [max(len(row[i]) for row in [header, *body, footer]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    out = [f"Usage {report.period.start}..{report.period.end} by {report.by.value}"
           + (f" ({report.source})" if report.source else ""), line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in body]
    out += [line(["-" * w for w in widths]), line(footer)]
    if not report.rows:
        out.append("(no usage in this period)")
    out += [f"note: {n}" for n in report.notes]
    return "\n".join(out)
