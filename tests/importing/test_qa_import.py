"""QA pass on `abacus import`: what a refused file reports, and files as spreadsheets write them."""

from __future__ import annotations

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
