"""Stream a CSV file through an importer: decode, recognise the header, convert row by row.

Nothing here holds the file: rows are read, converted and handed on one at a time, so a
million-row export costs the memory of one batch. Row errors are collected (the first
`MAX_SHOWN` in full, all of them counted); what the caller does with them — reject the file or
skip the rows — is its choice.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from core.errors import InputError
from core.importers.formats import ImportFormat, Layout, UnknownFormat, detect
from core.importers.values import CellProblem

MAX_SHOWN = 20
# a cell longer than this is not an export (csv's own default limit is 128 KiB)
_FIELD_LIMIT = 64 * 1024
_SNIFF = 64 * 1024


class FileRejected(InputError):
    """The file as a whole cannot be imported (nothing was written)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # the spreadsheet row: the header is row 1
    column: str
    value: str
    why: str

    def text(self) -> str:
        shown = self.value if len(self.value) <= 40 else self.value[:37] + "…"
        return f"row {self.row}, {self.column} = {shown!r}: {self.why}"

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value[:200], "why": self.why}


class RowProblem(Exception):
    """Raised by an importer for one bad row."""

    def __init__(self, column: str, value: str, why: str) -> None:
        super().__init__(why)
        self.column, self.value, self.why = column, value, why


@dataclass(frozen=True, slots=True)
class Skipped:
    """A valid row that is deliberately not imported (e.g. API usage that is not Claude Code)."""

    reason: str


class Importer(Protocol):
    def convert(self, cells: list[str]) -> object: ...


@dataclass
class ReadStats:
    rows_read: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def _text_stream(stream: BinaryIO) -> io.TextIOWrapper:
    head = stream.read(_SNIFF)
    if not head:
        raise FileRejected("the file is empty (0 bytes)")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode Text": NUL bytes are text
        rest = io.BufferedReader(_Prepend(head, stream, nul_check=False), buffer_size=1 << 20)
        return io.TextIOWrapper(rest, encoding="utf-16", newline="")
    if b"\x00" in head:
        raise FileRejected("this is not a CSV file: it holds binary data (NUL bytes)")
    rest = io.BufferedReader(_Prepend(head, stream), buffer_size=1 << 20)
    # bytes that are not UTF-8 further on are kept as lone surrogates and refused line by line
    # (`_bounded_lines`), so that the message names their row: the decoder works a megabyte ahead
    return io.TextIOWrapper(rest, encoding="utf-8-sig", errors="surrogateescape", newline="")


class NotUtf8(FileRejected):
    """A line holds bytes that are not UTF-8 (the reader names the row)."""

    def __init__(self) -> None:
        super().__init__("this is not a UTF-8 CSV file (save it as CSV UTF-8 and try again)")


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of an undecodable byte


# a physical line of an export is at most a few kilobytes; a cell may hold line breaks (quoted), but
# no line is megabytes long. Reading line by line without a bound would hold a multi-gigabyte line
# (a file that is not an export, or a broken one) in memory before the CSV field limit could speak.
_LINE_LIMIT = 1 << 20


def _bounded_lines(text: io.TextIOWrapper, limit: int = _LINE_LIMIT) -> Iterator[str]:
    readline = text.readline
    while True:
        line = readline(limit)
        if not line:
            return
        if len(line) >= limit and line[-1] not in "\r\n":
            raise FileRejected(f"malformed CSV: a line longer than {limit // 1024 // 1024} MB (this is not an "
                               "export, or it is damaged)")
        if _NOT_UTF8.search(line) is not None:
            raise NotUtf8
        yield line


_DELIMITERS = (",", ";", "\t")
_SNIFF_LINES = 64  # blank lines tolerated before the header


def _sniff_delimiter(text: Iterator[str]) -> tuple[list[str], str]:
    """The lines read up to the header, and the delimiter its cells are separated by: `,` as the
    exports write it, or `;` / tab where a spreadsheet saved the file again (the one that separates
    the most cells outside quotes; a header has no other use for those characters)."""
    lead: list[str] = []
    for line in text:
        lead.append(line)
        if line.strip() or len(lead) >= _SNIFF_LINES:
            break
    header = lead[-1] if lead else ""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return lead, best if counts[best] else ","


# numbers as a European-locale spreadsheet writes them: `0,05`, `2,10`, `1.234,56`, `12.500`, `$1.234,50`
_EU_NUMBER = re.compile(r"^(\s*[-+]?\$?\s*)(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?(\s*)$")


def _decimal_point(cell: str) -> str:
    """A cell of a `;` file with its number written the way the parsers read (`1.234,5` → `1234.5`);
    anything else as it was. `1,234` is one and 234 thousandths here, never one thousand."""
    if "," not in cell and "." not in cell:
        return cell
    m = _EU_NUMBER.match(cell)
    if m is None:
        return cell
    lead, whole, frac, tail = m.groups()
    if frac is None and "." not in whole:
        return cell
    return f"{lead}{whole.replace('.', '')}{'.' + frac if frac is not None else ''}{tail}"


class _Prepend(io.RawIOBase):
    """The sniffed head followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO, *, nul_check: bool = True) -> None:
        self._head, self._rest = memoryview(head), rest
        self._nul_check = nul_check

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buf))
        if self._nul_check and b"\x00" in data:  # checked here, in C over each chunk, rather than per cell
            raise FileRejected("this is not a CSV file: it holds binary data (NUL bytes)")
        buf[:len(data)] = data
        return len(data)


class FileReader:
    """One file: its layout (known after construction) and its converted rows (`items`)."""

    def __init__(self, stream: BinaryIO, *, wanted: ImportFormat | None = None) -> None:
        self._text = _text_stream(stream)
        csv.field_size_limit(_FIELD_LIMIT)
        lines = _bounded_lines(self._text)
        lead, delimiter = _sniff_delimiter(lines)
        # a `;` file is what a spreadsheet with a European locale saves: its numbers have decimal commas
        self._decimal_comma = delimiter == ";"
        self._rows = csv.reader(itertools.chain(lead, lines), delimiter=delimiter, strict=True)
        self.stats = ReadStats()
        self._row_no = 0
        header = self._next_nonblank()
        if header is None:
            raise FileRejected("the file has no header row (it is blank)")
        try:
            self.layout: Layout = detect(header, wanted)
        except UnknownFormat as exc:
            raise FileRejected(str(exc)) from None
        self._header = header

    @property
    def format(self) -> ImportFormat:
        return self.layout.format

    def _next_nonblank(self) -> list[str] | None:
        while True:
            try:
                row = next(self._rows)
            except StopIteration:
                return None
            except NotUtf8:
                raise FileRejected(f"this is not a UTF-8 CSV file: row {self._row_no + 1} holds bytes that are not "
                                   "UTF-8 text (save it as CSV UTF-8 and try again)") from None
            except UnicodeDecodeError:  # UTF-16 text, read strictly
                raise FileRejected(f"this is not a UTF-16 text file (invalid bytes after row {self._row_no})") from None
            except csv.Error as exc:
                raise FileRejected(f"malformed CSV in row {self._row_no + 1}: {exc}") from None
            self._row_no += 1
            if row and (row[0].strip() or any(c.strip() for c in row)):
                return row

    def items(self, importer: Importer, *, on_row: Callable[[], None] | None = None) -> Iterator[object]:
        """Converted rows; bad rows are counted in `stats` (and the first ones described), skipped
        rows counted by reason."""
        stats = self.stats
        width = self.layout.width
        # the columns up to the last one with a name: cells past it (a spreadsheet's empty trailing
        # columns) may be missing or empty, never hold a value
        named = max((i + 1 for i, h in enumerate(self._header) if h.strip()), default=width)

        convert = importer.convert
        while True:
            cells = self._next_nonblank()
            if cells is None:
                return
            stats.rows_read += 1
            if on_row is not None:
                on_row()
            written = cells
            if self._decimal_comma:
                cells = [_decimal_point(c) for c in cells]
            try:
                if len(cells) != width:
                    if len(cells) < named or any(c.strip() for c in cells[named:]):
                        raise RowProblem("(row)", ",".join(written)[:80],
                                         f"has {len(cells)} fields, the header has {width}")
                    cells = (cells + [""] * width)[:width]
                item = convert(cells)
            except RowProblem as p:
                value = p.value
                if written is not cells and value in cells:  # quote the cell as the file has it
                    value = written[cells.index(value)]
                self._reject(p.column, value, p.why)
                continue
            except CellProblem as p:  # an importer that did not name the column
                self._reject("(row)", "", str(p))
                continue
            if type(item) is Skipped:
                stats.skipped[item.reason] += 1
                continue
            yield item


    def _reject(self, column: str, value: str, why: str) -> None:
        self.stats.rejected += 1
        if len(self.stats.errors) < MAX_SHOWN:
            self.stats.errors.append(RowError(self._row_no, column, value, why))

    def header_name(self, logical: str) -> str:
        return self._header[self.layout.columns[logical]].strip()


def cell(cells: list[str], index: int | None) -> str:
    return "" if index is None else cells[index]


def guarded(column: str, text: str, parse: Callable[[str], object]):
    """Parse one cell, turning a CellProblem into a RowProblem that names the column."""
    try:
        return parse(text)
    except CellProblem as exc:
        raise RowProblem(column, text, str(exc)) from None
