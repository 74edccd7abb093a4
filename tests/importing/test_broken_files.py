"""Broken, hostile and huge files: exit 2, a clear message, and the database exactly as before."""

from __future__ import annotations

import os

import pytest

GOOD = ("Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
        "Total Tokens,Cost\n"
        "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,0.10\n")
HEADER = GOOD.splitlines()[0] + "\n"

BROKEN = {
    "wrong-headers": ("Day,Person,Spend\n2026-02-01,dev@example.com,1.00\n", "matches no known export"),
    "short-row": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20\n",
                  "row 2, (row)"),
    "non-number-token": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,thirty,40,100,"
                                  "0.10\n", "row 2, Cache Read = 'thirty': not a number"),
    "total-mismatch": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,999,0.10\n",
                       "Total Tokens = '999': is neither the sum"),
    "bad-date": (HEADER + "01/02/2026,dev@example.com,Included,auto,No,10,20,30,40,100,0.10\n", "not a date"),
    "negative-tokens": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,-10,20,30,40,80,0.10\n",
                        "negative"),
    "binary-junk": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "binary data"),
    "latin-1": ((HEADER + "2026-02-01T10:00:00.000Z,caf\xe9@example.com,Included,auto,No,10,20,30,40,100,0.10\n")
                .encode("latin-1"), "not a UTF-8 CSV file: row 2 holds bytes that are not UTF-8 text"),
    "latin-1-header": ("Date,Us\xe9r,Kind,Model\n2026-02-01,cafe@example.com,x,y\n".encode("latin-1"),
                       "not a UTF-8 CSV file"),
    "empty-file": (b"", "empty (0 bytes)"),
    "blank-lines-only": ("\n\n\r\n  \n", "no header row"),
    "header-only": (HEADER, "header but no rows"),
    "formula-in-user": (HEADER + '2026-02-01T10:00:00.000Z,"=HYPERLINK(""http://x"")@example.com",Included,auto,No,'
                                 "10,20,30,40,100,0.10\n", "spreadsheet formula"),
    "formula-in-model": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,=cmd|' /C calc'!A0,No,"
                                  "10,20,30,40,100,0.10\n", "spreadsheet formula"),
    "formula-in-hibob-name": ("Email,Department,Display name\ndev@example.com,Eng,@SUM(1+1)*cmd|' /C calc'!A0\n",
                              "spreadsheet formula"),
    "huge-cell": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com," + "x" * 200_000 + ",auto,No,1,1,1,1,4,0\n",
                  "malformed CSV"),
    "cost-not-money": (HEADER + "2026-02-01T10:00:00.000Z,dev@example.com,Included,auto,No,10,20,30,40,100,ten\n",
                       "not an amount of dollars"),
    "no-user-column-no-user": ("Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
                               "Total Tokens,Cost\n2026-02-01,auto,1,1,1,1,4,0\n", "--user EMAIL"),
    "duplicate-header": ("Email,Email,Department\na@example.com,a@example.com,Eng\n", "names a column twice"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_refused_and_nothing_changes(case, cli, write, snapshot):
    assert cli("import", "--quiet", write("good.csv", GOOD)).code == 0
    before = snapshot()
    content, message = BROKEN[case]
    res = cli("import", "--quiet", write(f"{case}.csv", content))
    assert res.code == 2, (res.out, res.err)
    assert message in res.err, res.err
    assert "Traceback" not in res.err
    assert snapshot() == before


def test_huge_sparse_file_is_refused_without_reading_it(cli, write, tmp_path, snapshot):
    before = snapshot()
    path = tmp_path / "sparse.csv"
    with open(path, "wb") as f:
        f.write(HEADER.encode())
        f.truncate(4 * 1024 ** 3)  # 4 GiB of holes (NUL bytes), no disk used
    res = cli("import", "--quiet", str(path))
    assert res.code == 2 and "binary data" in res.err
    assert snapshot() == before
    os.remove(path)


def test_a_bad_file_among_good_ones_writes_none_of_them(cli, write, snapshot):
    before = snapshot()
    res = cli("import", "--quiet", write("good.csv", GOOD), write("bad.csv", BROKEN["non-number-token"][0]))
    assert res.code == 2
    assert snapshot() == before


def test_forcing_the_wrong_format_names_the_expected_header(cli, write):
    res = cli("import", "--quiet", "--format", "hibob", write("good.csv", GOOD))
    assert res.code == 2
    assert "not a HiBob people directory" in res.err and "Email,Department" in res.err


def test_missing_file_and_no_file(cli, tmp_path):
    assert cli("import", str(tmp_path / "nope.csv")).code == 2
    res = cli("import")
    assert res.code == 2 and "at least one FILE" in res.err


def test_twenty_errors_shown_and_all_counted(cli, write, snapshot):
    before = snapshot()
    bad = "".join(f"2026-02-01T10:00:{i:02d}.000Z,dev@example.com,Included,auto,No,x,1,1,1,4,0\n" for i in range(25))
    res = cli("import", "--quiet", write("many.csv", HEADER + bad))
    assert res.code == 2
    assert "25 invalid row(s)" in res.err
    assert res.err.count("not a number") == 20 + 1  # the twenty listed, and the first in the summary line
    assert snapshot() == before


def test_bytes_that_are_not_utf8_far_into_a_file_are_refused_with_their_row(cli, write, snapshot):
    """The decoder reads a megabyte ahead of the rows: the message named an earlier row ("after row
    1985" for a bad byte in row 2002). It names the row a spreadsheet shows, past a multi-line cell too."""
    before = snapshot()
    rows = "".join(f"2026-02-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z,dev@example.com,Included,auto,No,"
                   "10,20,30,40,100,0.10\n" for i in range(2000))
    multi = '2026-02-01T11:00:00.000Z,dev@example.com,Included,"two\nlines",No,10,20,30,40,100,0.10\n'
    bad = "2026-02-01T12:00:00.000Z,caf\xe9@example.com,Included,auto,No,10,20,30,40,100,0.10\n"
    res = cli("import", "--quiet", write("late.csv", HEADER.encode() + rows.encode() + multi.encode()
                                         + bad.encode("latin-1")))
    assert res.code == 2, res.err
    assert "row 2003 holds bytes that are not UTF-8 text" in res.err  # header 1, rows 2-2001, multi-line 2002
    assert snapshot() == before


def test_a_broken_quote_is_refused_naming_its_row(cli, write, snapshot):
    """csv's error comes while the broken row is read: the message names that row (was: the one before)."""
    before = snapshot()
    broken = '2026-02-01T12:00:00.000Z,"dev@example.com,"Included",auto,No,10,20,30,40,100,0.10\n'
    res = cli("import", "--quiet", write("quote.csv", GOOD + broken))
    assert res.code == 2 and "malformed CSV in row 3:" in res.err, res.err
    assert snapshot() == before
