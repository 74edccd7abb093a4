"""Pure import rules: header detection of every variant, cell values, the cost split, the group rules."""

from __future__ import annotations

import io

import pytest

from core.groups import MIN_TEAM_SIZE, plan_groups, target_groups, valid_group_name
from core.importers.costs import StoredUsage, split_cost
from core.importers.formats import ImportFormat, UnknownFormat, detect
from core.importers.hibob import DirectoryEntry
from core.importers.reader import FileReader, FileRejected
from core.importers.values import CellProblem, dollars, moment_ms, tokens

HEADERS = {
    "Date,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost,Cost to you":
        (ImportFormat.CURSOR, "v1, without User"),
    "Date,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,"
    "Cost": (ImportFormat.CURSOR, "v2, without User"),
    "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
    "Total Tokens,Requests": (ImportFormat.CURSOR, "v2, with User, Requests"),
    'Date,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,"Input (w/ Cache Write)","Input (w/o Cache Write)",'
    "Cache Read,Output Tokens,Total Tokens,Cost": (ImportFormat.CURSOR, "v3, without User"),
    "Date,User,Kind,Max Mode,Model,Tokens,Cost ($)": (ImportFormat.CURSOR, "oldest (Tokens, Cost ($))"),
    "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
    "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
    "usage_output_tokens,web_search_count": (ImportFormat.CLAUDE_USAGE, "5m/1h cache writes"),
    "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
    "usage_input_tokens_cache_write,usage_input_tokens_cache_read,usage_output_tokens,web_search_count":
        (ImportFormat.CLAUDE_USAGE, "single cache-write column"),
    "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,cost_type":
        (ImportFormat.CLAUDE_COST, "2025-12"),
    "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,list_price_usd,cost_type,"
    "inference_geo,speed,api_key_id,api_key_status": (ImportFormat.CLAUDE_COST, "2026-08 (api_key_id, api_key_status)"),
    "Email,Department,Group,Team,Display name,Job title": (ImportFormat.HIBOB, "directory"),
}


@pytest.mark.parametrize("header", list(HEADERS))
def test_every_header_variant_is_recognised(header):
    import csv

    cells = next(csv.reader([header]))
    layout = detect(cells)
    assert (layout.format, layout.variant) == HEADERS[header]


def test_an_unknown_header_names_what_is_expected():
    with pytest.raises(UnknownFormat, match="expected one of") as exc:
        detect(["When", "Who", "How much"])
    assert "Email,Department" in str(exc.value) and "usage_date_utc" in str(exc.value)


@pytest.mark.parametrize(("text", "value"), [("156290", 156290), ("1,234,567", 1234567), (" 12 ", 12), ("", 0),
                                             ("3.0", 3)])
def test_tokens(text, value):
    assert tokens(text) == value


@pytest.mark.parametrize("text", ["x", "-1", "1.5", "1,23", str(2 ** 48)])
def test_bad_tokens(text):
    with pytest.raises(CellProblem):
        tokens(text)


@pytest.mark.parametrize(("text", "nanos"), [("0.19", 190_000_000), ("$0.19", 190_000_000), ("$1,234.50",
                                             1_234_500_000_000), ("Included", 0), ("Free", 0), ("", 0),
                                             ("0.123456789", 123_456_789), ("-$2.00", -2_000_000_000)])
def test_dollars(text, nanos):
    assert dollars(text) == nanos


@pytest.mark.parametrize(("text", "ms"), [("2026-01-05", 1767571200_000), ("2026-01-05T00:00:01.250Z", 1767571201_250),
                                          ("2026-01-05T01:00:00+01:00", 1767571200_000),
                                          ("2026-01-05 00:00:02", 1767571202_000)])
def test_times(text, ms):
    assert moment_ms(text) == ms  # 2026-01-05T00:00:00Z = 1767571200 s


def test_reader_handles_bom_crlf_quotes_and_blank_lines():
    data = ('\ufeffEmail,Department,Display name\r\n"a@x.io","R&D","Doe, ""JD"" Jane"\r\n\r\n\r\n').encode()
    from core.importers.hibob import HiBobImporter

    reader = FileReader(io.BytesIO(data))
    entries = list(reader.items(HiBobImporter(reader.layout, header=reader._header)))
    assert [(e.email, e.department, e.display_name) for e in entries] == [("a@x.io", "R&D", 'Doe, "JD" Jane')]
    assert reader.stats.rows_read == 1


def test_nul_bytes_after_the_first_chunk_are_refused():
    data = b"Email,Department\n" + b"a@x.io,Eng\n" * 10_000 + b"\x00\x00" + b"b@x.io,Eng\n"
    from core.importers.hibob import HiBobImporter

    reader = FileReader(io.BytesIO(data))
    with pytest.raises(FileRejected, match="binary data"):
        list(reader.items(HiBobImporter(reader.layout, header=reader._header)))


def test_split_cost_is_exact_and_proportional():
    records = [StoredUsage(1, "a", 300, 0), StoredUsage(2, "b", 100, 0), StoredUsage(3, "c", 0, 0)]
    # $1.00 = 1e9 nanos split 3:1:0 → 750,000,000 and 250,000,000 and 0
    assert split_cost(1_000_000_000, records) == {(1, "a"): 750_000_000, (2, "b"): 250_000_000, (3, "c"): 0}
    # 10 nanos over three equal token weights: 3 + 3 + 3, the remainder 1 to the first largest
    even = [StoredUsage(i, str(i), 0, 5) for i in range(3)]
    assert split_cost(10, even) == {(0, "0"): 4, (1, "1"): 3, (2, "2"): 3}


def _e(email, dept, group="", team=""):
    return DirectoryEntry(row=0, email=email, department=dept, group=group, team=team)


def test_small_teams_merge_into_the_parent_or_a_big_sibling():
    entries = [_e("a1@x", "Eng", "Plat", "Infra"), _e("a2@x", "Eng", "Plat", "Infra"),
               _e("a3@x", "Eng", "Plat", "Infra"),
               _e("b1@x", "Eng", "Plat", "Tools"),  # 1 person; Plat would hold 1 → the big sibling Infra
               _e("c1@x", "Sales", "", "EMEA"), _e("c2@x", "Sales", "", "EMEA"), _e("c3@x", "Sales"),  # 2 + 1 = 3
               _e("d1@x", "Legal", "", "Contracts")]  # alone, no sibling → its parent Legal
    assert MIN_TEAM_SIZE == 3
    targets, merges = target_groups(entries)
    assert targets == {"a1@x": "Plat > Infra", "a2@x": "Plat > Infra", "a3@x": "Plat > Infra",
                       "b1@x": "Plat > Infra", "c1@x": "Sales", "c2@x": "Sales", "c3@x": "Sales",
                       "d1@x": "Legal"}
    assert {(m.team, m.into, m.people) for m in merges} == {("Plat > Tools", "Plat > Infra", 1),
                                                           ("Sales > EMEA", "Sales", 2),
                                                           ("Legal > Contracts", "Legal", 1)}


def test_plan_moves_and_clean_up():
    entries = [_e("a@x", "Eng"), _e("b@x", "Eng"), _e("c@x", "Eng"), _e("new@x", "Eng")]
    people = {"a@x": ("A", "Eng"), "b@x": ("B", None), "c@x": (None, "Old"), "gone@x": (None, "Old"),
              "m@x": (None, "Manual")}
    plan = plan_groups(entries, people=people, groups={"Eng": "hibob", "Old": "hibob", "Manual": "manual"})
    assert [(m.email, m.from_group, m.to_group) for m in plan.moves] == [("b@x", None, "Eng"), ("c@x", "Old", "Eng")]
    assert (plan.created, plan.cleared, plan.removed, plan.unmatched, plan.unchanged) == (
        [], ["gone@x"], ["Old"], ["new@x"], 1)
    only_b = plan.approve({"b@x"})
    assert [m.email for m in only_b.moves] == ["b@x"] and "c@x" not in only_b.assignments


@pytest.mark.parametrize(("raw", "ok"), [("  Platform  >  Infra ", "Platform > Infra"), ("=1+1", None), ("", None),
                                         ("x" * 256, None)])
def test_group_names(raw, ok):
    if ok is None:
        with pytest.raises(ValueError):
            valid_group_name(raw)
    else:
        assert valid_group_name(raw) == ok


def test_a_group_name_too_long_says_so_in_a_sentence():
    """The App Home showed "The name longer than 255 characters"."""
    with pytest.raises(ValueError, match="^the name is longer than 255 characters$"):
        valid_group_name("x" * 256)


def test_compact_occurrences_give_the_sync_keys_with_repeats_and_growth():
    from core.importers.cursor import CompactOccurrences
    from core.usage import OccurrenceCounter, cursor_event_key

    compact, reference = CompactOccurrences(), OccurrenceCounter()
    keys = set()
    for _ in range(3):  # every event three times: 1st, 2nd, 3rd occurrence
        for i in range(5000):  # past the table's first capacity (4096 slots), so it grows
            key = compact.event_key(1767571200_000 + i, "a@x.io", "gpt-5", i, 0, 1, 2)
            assert key == cursor_event_key(reference, 1767571200_000 + i, "a@x.io", "gpt-5", i, 0, 1, 2)
            keys.add(key)
    assert len(keys) == 15_000
