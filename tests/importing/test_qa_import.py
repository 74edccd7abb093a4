"""QA pass on `abacus import`: what a refused file reports, and files as spreadsheets write them."""

from __future__ import annotations

import io

import pytest

HEADER = ("Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
          "Total Tokens,Cost\n")
VALID = "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,0.10\n"
INVALID = "2026-02-01T11:00:00.000Z,dev@example.com,Included,auto,No,10,20,thirty,40,100,0.10\n"


def test_a_refused_file_does_not_claim_rows_were_inserted(cli, write, snapshot):
    """All or nothing: the valid row of a refused file was not written, so no line of the answer
    may say it was inserted (text on stderr, and the --json summary)."""
    before = snapshot()
    path = write("half.csv", HEADER + VALID + INVALID)
    res = cli("import", "--quiet", path)
    assert res.code == 2
    assert "row 3, Cache Read = 'thirty': not a number" in res.err
    assert "inserted: 1" not in res.err + res.out
    assert "inserted: 0" in res.err
    res = cli("import", "--quiet", "--json", path)
    assert res.code == 2
    data = res.json()
    assert (data["imported"], data["inserted"], data["already_present"], data["rejected"], data["rows_read"]) == (
        False, 0, 0, 1, 2)
    assert data["batch_id"] is None
    assert snapshot() == before


# A Cursor export opened and saved again by a spreadsheet with a European locale: `;` between
# cells, `,` before decimals, `.` between thousands, every cell quoted, BOM and CRLF.
SEMICOLON_EU = (
    "\ufeff\"Date\";\"User\";\"Kind\";\"Model\";\"Max Mode\";\"Input (w/ Cache Write)\";\"Input (w/o Cache Write)\";"
    "\"Cache Read\";\"Output Tokens\";\"Total Tokens\";\"Cost\"\r\n"
    # additive: 1.000 + 250 + 12.500 + 750 = 14.500 → cache write 1000, input 250
    "\"2026-02-03T10:00:00.000Z\";\"eu@example.com\";\"Usage-based\";\"gpt-5\";\"No\";\"1.000\";\"250\";\"12.500\";"
    "\"750\";\"14.500\";\"2,10\"\r\n"
    "\"2026-02-03T11:00:00.000Z\";\"eu@example.com\";\"Included\";\"gpt-5\";\"No\";\"0\";\"100\";\"0\";\"50\";\"150\";"
    "\"0,05\"\r\n"
)
# the same data as a tab-separated export (decimal points)
TABS = ("Date\tUser\tKind\tModel\tMax Mode\tInput (w/ Cache Write)\tInput (w/o Cache Write)\tCache Read\t"
        "Output Tokens\tTotal Tokens\tCost\n"
        "2026-02-03T10:00:00.000Z\teu@example.com\tUsage-based\tgpt-5\tNo\t1000\t250\t12500\t750\t14500\t2.10\n"
        "2026-02-03T11:00:00.000Z\teu@example.com\tIncluded\tgpt-5\tNo\t0\t100\t0\t50\t150\t0.05\n")
# a quoted cell holding a line break (Kind) and a comma (Model): one row, not two
QUOTED_NEWLINE = (HEADER + "2026-02-03T10:00:00.000Z,eu@example.com,\"Usage-\nbased\",\"gpt-5, fast\",No,1000,250,"
                  "12500,750,14500,2.10\r\n" + "2026-02-03T11:00:00.000Z,eu@example.com,Included,gpt-5,No,0,100,0,50,"
                  "150,0.05\r\n")


@pytest.mark.parametrize("content", [SEMICOLON_EU, TABS], ids=["semicolons-decimal-comma", "tabs"])
def test_a_spreadsheet_resaved_export_imports_with_exact_totals(content, cli, write, report):
    res = cli("import", "--quiet", write("resaved.csv", content))
    assert res.code == 0, res.err
    assert "rows read: 2   inserted: 2" in res.out
    users, totals = report("user", "2026-02-01", "2026-02-28")
    assert users["eu@example.com"] == {"key": "eu@example.com", "input_tokens": 250 + 100, "output_tokens": 750 + 50,
                                       "cache_write_tokens": 1000, "cache_read_tokens": 12_500,
                                       "total_tokens": 14_500 + 150, "cost_usd": 2.15, "requests": 2,
                                       "active_days": 1}
    # the same file again: nothing new
    res = cli("import", "--quiet", write("resaved-again.csv", content))
    assert res.code == 0 and "inserted: 0   already present: 2" in res.out


def test_a_quoted_line_break_stays_inside_its_row(cli, write, report):
    res = cli("import", "--quiet", write("quoted.csv", QUOTED_NEWLINE))
    assert res.code == 0, res.err
    assert "rows read: 2   inserted: 2" in res.out
    _, totals = report("user", "2026-02-01", "2026-02-28")
    assert (totals["total_tokens"], totals["cost_usd"], totals["requests"]) == (14_650, 2.15, 2)


def test_an_ambiguous_number_in_a_semicolon_file_is_refused_with_its_row(cli, write, snapshot):
    """`1,234` tokens in a `;` file would be 1.234 (not a whole number): refused, not guessed."""
    before = snapshot()
    bad = SEMICOLON_EU.replace('"1.000";"250"', '"1,234";"250"')
    res = cli("import", "--quiet", write("ambiguous.csv", bad))
    assert res.code == 2
    assert "row 2, Input (w/ Cache Write) = '1,234'" in res.err
    assert snapshot() == before


def test_a_file_name_with_terminal_escapes_is_printed_inert(cli, write):
    """File names come from the operator's disk and from Slack shares (`abacus imports` lists those):
    an escape sequence in one must not act on the terminal."""
    evil = "evil\x1b[2J\x1b]0;pwned\x07.csv"
    res = cli("import", "--quiet", write(evil, HEADER + VALID))
    assert res.code == 0, res.err
    assert "\x1b" not in res.out and "\x07" not in res.out and "evil\\x1b[2J" in res.out
    res = cli("imports")
    assert res.code == 0 and "\x1b" not in res.out and "evil\\x1b[2J" in res.out
    res = cli("import", "--quiet", write(evil, HEADER + INVALID))
    assert res.code == 2 and "\x1b" not in res.err and "\x07" not in res.err


def test_a_utf16_unicode_text_export_imports(cli, write, report):
    """Excel's "Unicode Text" (UTF-16 with a BOM, tab-separated): text, not binary junk."""
    res = cli("import", "--quiet", write("unicode.txt.csv", TABS.replace("\n", "\r\n").encode("utf-16")))
    assert res.code == 0, res.err
    _, totals = report("user", "2026-02-01", "2026-02-28")
    assert (totals["total_tokens"], totals["cost_usd"], totals["requests"]) == (14_650, 2.15, 2)


class _EndlessLine(io.RawIOBase):
    """A header, then one line that never ends (64 MB of 'x' without a line break); counts what
    the importer read."""

    def __init__(self, total: int = 64 << 20) -> None:
        self.data = HEADER.encode() + b"2026-02-01T10:00:00.000Z,dev@example.com,"
        self.left, self.read_bytes = total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self.data:
            n = min(len(buf), len(self.data))
            buf[:n], self.data = self.data[:n], self.data[n:]
        else:
            n = min(len(buf), self.left)
            buf[:n] = b"x" * n
            self.left -= n
        self.read_bytes += n
        return n


def test_a_line_without_end_is_refused_before_it_fills_the_memory(abacus_env, snapshot):
    """A row is never megabytes long: reading stops at a bounded line instead of holding a whole
    multi-gigabyte line in memory (300 MB without a line break took 690 MB of RAM)."""
    from bot.import_service import ImportRequest, ImportService
    from core.importers.reader import FileRejected
    from storage.db import make_engine, upgrade

    before = snapshot()
    engine = make_engine(abacus_env["DATABASE_URL"])
    upgrade(engine)
    stream = _EndlessLine()
    try:
        with pytest.raises(FileRejected, match="longer than"):
            ImportService(engine, email_domain=None).run(ImportRequest(filename="endless.csv", open=lambda: stream))
    finally:
        engine.dispose()
    assert stream.read_bytes < 8 << 20, stream.read_bytes
    assert snapshot() == before


def test_standard_input_is_streamed_too(cli, monkeypatch, snapshot):
    """`abacus import -` reads the pipe as it imports, like a file, instead of reading it whole first."""
    before = snapshot()
    stream = _EndlessLine()

    class Stdin:
        buffer = io.BufferedReader(stream)

    monkeypatch.setattr("sys.stdin", Stdin())
    res = cli("import", "--quiet", "-")
    assert res.code == 2 and "longer than" in res.err, res.err
    assert stream.read_bytes < 8 << 20, stream.read_bytes
    assert snapshot() == before


def test_unnamed_trailing_columns_may_be_left_out_or_empty(cli, write, report):
    """A spreadsheet often saves empty trailing columns (`…,Cost,,`) and some tools drop a row's
    empty trailing cells: neither is a broken row. A value under no header still is."""
    content = (HEADER.rstrip("\n") + ",,\n" + VALID.rstrip("\n") + ",,\n"
               + "2026-02-01T11:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,0.10\n"
               + "2026-02-01T12:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,0.10,,,\n")
    res = cli("import", "--quiet", write("trailing.csv", content))
    assert res.code == 0, res.err
    assert "rows read: 3   inserted: 3" in res.out
    _, totals = report("user", "2026-02-01", "2026-02-28")
    assert (totals["total_tokens"], totals["cost_usd"], totals["requests"]) == (300, 0.3, 3)
    shifted = HEADER.rstrip("\n") + ",,\n" + VALID.rstrip("\n") + ",,,oops\n"  # past every column
    res = cli("import", "--quiet", write("shifted.csv", shifted))
    assert res.code == 2 and "row 2" in res.err


@pytest.mark.parametrize("limit", ["0", "-1", "99999999999999999999999"])
def test_imports_limit_out_of_range_is_one_line_of_bad_input(cli, limit):
    """`abacus imports --limit` beyond what the database's integer holds was a traceback
    (OverflowError from the driver); any limit out of range is exit 2, one line."""
    res = cli("imports", "--limit", limit)
    assert res.code == 2 and "Traceback" not in res.err, res.err
    assert res.err.strip() == "abacus: --limit must be between 1 and 100,000"
