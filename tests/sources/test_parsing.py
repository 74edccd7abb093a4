"""Parsing of the reference payloads (shared/reference/examples and the peers' mocks) into records.

Expected numbers are read off the payloads by hand (see the comments)."""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.identity import IdentityResolver, KeyOwner, MappedHow
from core.sources import anthropic as anth
from core.sources import cursor as curs
from core.usage import CostBasis, EventRecord, Feed, Source


def _reference_dir() -> Path:
    """shared/reference: beside the repository (CI, the work tree), or where ABACUS_SHARED_DIR says."""
    candidates = [Path(os.environ["ABACUS_SHARED_DIR"])] if os.environ.get("ABACUS_SHARED_DIR") else []
    candidates += [Path(__file__).resolve().parents[3] / "shared", Path("/work/shared")]
    for shared in candidates:
        if (shared / "reference").is_dir():
            return shared / "reference"
    return candidates[0] / "reference"


REF = _reference_dir()


def wire(name: str) -> bytes:
    """A reference payload without the annotation keys (`_request`, `_http`, `_source`, …)."""
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference payload {name} not available")
    data = json.loads(path.read_text())
    return json.dumps({k: v for k, v in data.items() if not k.startswith("_")}).encode()


def resolver(**owners: str) -> IdentityResolver:
    return IdentityResolver("example.com", {ref: KeyOwner(email, MappedHow.VENDOR) for ref, email in owners.items()})


# --- Anthropic -------------------------------------------------------------------------------------------

def test_claude_code_analytics_example():
    page = anth._CLAUDE_CODE.validate_json(wire("examples/anthropic_usage_report_claude_code.json"))
    usage, activity = anth.claude_code_usage(page.data, day=date(2025, 9, 8), org="org-1",
                                             resolver=resolver(**{"ci-bot-key": "ci@example.com"}))
    assert [(u.person, u.model, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens)
            for u in usage] == [("developer@company.com", "sonnet-4.5", 100000, 35000, 10000, 5000),
                                ("ci@example.com", "haiku-4.5", 20000, 4000, 50000, 3000)]
    assert [u.cost_nanos for u in usage] == [1_410_000_000, 70_000_000]  # 141 ¢ and 7 ¢ (numbers, in cents)
    assert all(u.cost_basis is CostBasis.VENDOR and u.feed is Feed.CLAUDE_CODE_ANALYTICS for u in usage)
    assert usage[1].api_key == "ci-bot-key" and usage[0].api_key is None
    dev = activity[0]
    assert (dev.sessions, dev.lines_added, dev.lines_removed, dev.commits, dev.pull_requests) == (5, 1543, 892, 12, 2)
    assert (dev.edits_accepted, dev.edits_rejected) == (45 + 12 + 8 + 3, 5 + 2 + 1 + 0)
    assert dev.terminal_type == "vscode" and dev.detail["tool_actions"]["multi_edit_tool"] == {"accepted": 12,
                                                                                            "rejected": 2}
    # the same rows again give the same keys; a revised figure gives a new key
    again, _ = anth.claude_code_usage(page.data, day=date(2025, 9, 8), org="org-1", resolver=resolver())
    assert [u.natural_key for u in again] == [u.natural_key for u in usage]
    page.data[0].model_breakdown[0].tokens.output += 1
    revised, _ = anth.claude_code_usage(page.data, day=date(2025, 9, 8), org="org-1", resolver=resolver())
    assert revised[0].natural_key != usage[0].natural_key and revised[1].natural_key == usage[1].natural_key


def test_claude_code_api_actor_unmapped_and_pattern():
    page = anth._CLAUDE_CODE.validate_json(wire("abacus/anthropic_claude_code_analytics.mock.json"))
    usage, _ = anth.claude_code_usage(page.data, day=date(2025, 1, 15), org="o", resolver=resolver())
    assert [u.person for u in usage] == ["user1@example.com", "unmapped:test-api-key"]
    assert [u.cost_nanos for u in usage] == [4_500_000_000, 1_000_000_000]
    rows = [{"actor": {"type": "api_actor", "api_key_name": "claude_code_key_jane.doe_x1y2"},
             "model_breakdown": [{"model": "claude-opus-4-6", "tokens": {"input": 1, "output": 2, "cache_read": None,
                                                                         "cache_creation": 0},
                                  "estimated_cost": {"amount": 0.5}}], "core_metrics": None, "tool_actions": None}]
    page = anth._CLAUDE_CODE.validate_json(json.dumps({"data": rows, "has_more": False}).encode())
    usage, activity = anth.claude_code_usage(page.data, day=date(2026, 1, 1), org="o", resolver=resolver())
    assert usage[0].person == "jane.doe@example.com" and usage[0].cost_nanos == 5_000_000  # 0.5 ¢
    assert activity[0].sessions == 0  # nulls read as zeros


def test_messages_report_example_and_claude_code_rule():
    page = anth._MESSAGES.validate_json(wire("examples/anthropic_usage_report_messages.json"))
    assert [b.results for b in page.data][1] == []  # the empty bucket
    results = page.data[0].results
    names = {"apikey_01Rj2N8SVvo6BePZj99NhmiT": "claude_code_key_sam.roe_zz99"}
    usage, dropped = anth.messages_usage(results, day=date(2025, 8, 1), org="o", resolver=resolver(),
                                         key_names=names, claude_code_workspaces=set())
    assert dropped == 1  # the Console row (api_key_id null) is not Claude Code
    (u,) = usage
    assert (u.person, u.input_tokens, u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.cache_read_tokens,
            u.output_tokens) == ("sam.roe@example.com", 1500, 500, 1000, 200, 500)
    # sonnet-4: 1500*3 + 500*3.75 + 1000*6 + 200*0.3 + 500*15 = 19935 µ$
    assert (u.cost_nanos, u.cost_basis, u.feed) == (19_935_000, CostBasis.ESTIMATED, Feed.ANTHROPIC_MESSAGES)
    # by workspace instead of key name
    usage, dropped = anth.messages_usage(results, day=date(2025, 8, 1), org="o", resolver=resolver(), key_names={},
                                         claude_code_workspaces={"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"})
    assert len(usage) == 1 and usage[0].person == "unmapped:apikey_01Rj2N8SVvo6BePZj99NhmiT"


def test_messages_tolerates_flattened_cache_fields_and_unknown_models():
    body = {"data": [{"starting_at": "2026-01-01T00:00:00Z", "ending_at": "2026-01-02T00:00:00Z", "results": [
        {"uncached_input_tokens": 10, "cache_creation_5m_input_tokens": 3, "cache_creation_1h_input_tokens": 4,
         "cache_read_input_tokens": None, "output_tokens": 1, "api_key_id": "k", "workspace_id": "w",
         "model": "claude-mystery-9", "brand_new_field": {"x": 1}}]}], "has_more": False, "next_page": None}
    page = anth._MESSAGES.validate_json(json.dumps(body).encode())
    (u,), _ = anth.messages_usage(page.data[0].results, day=date(2026, 1, 1), org="o", resolver=resolver(),
                                  key_names={"k": "claude_code_key_a_b1"}, claude_code_workspaces=set())
    assert (u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.cache_read_tokens) == (3, 4, 0)
    assert (u.cost_nanos, u.cost_basis) == (0, CostBasis.UNKNOWN_MODEL)


def test_long_context_rows_use_the_long_context_rate():
    body = {"data": [{"starting_at": "2026-01-01T00:00:00Z", "results": [
        {"uncached_input_tokens": 250000, "output_tokens": 1000, "api_key_id": "k", "model": "claude-sonnet-4-5",
         "context_window": "200k-1M"}]}]}
    page = anth._MESSAGES.validate_json(json.dumps(body).encode())
    (u,), _ = anth.messages_usage(page.data[0].results, day=date(2026, 1, 1), org="o", resolver=resolver(),
                                  key_names={"k": "claude_code_key_a_b1"}, claude_code_workspaces=set())
    assert u.cost_nanos == 1_522_500_000  # 250000*6 + 1000*22.5 = 1,522,500 µ$


def test_cost_report_amounts_are_cent_strings():
    page = anth._COSTS.validate_json(wire("examples/anthropic_cost_report.json"))
    lines = anth.cost_lines(page.data[0].results, day=date(2025, 8, 1), org="o")
    assert [x.cost_nanos for x in lines] == [1_237_891_200, 4_505_000_000, 100_000_000]  # "123.78912" ¢ …
    assert lines[2].cost_type == "web_search" and lines[0].token_type == "uncached_input_tokens"
    assert len({x.natural_key for x in lines}) == 3


def test_keys_and_users_examples():
    keys = anth._KEYS.validate_json(wire("examples/anthropic_api_keys_list.json")).data
    users = anth._USERS.validate_json(wire("examples/anthropic_users_list.json")).data
    records = anth.key_records(keys, users)
    assert [(r.key_id, r.creator_email) for r in records] == [
        ("apikey_01Rj2N8SVvo6BePZj99NhmiT", "user@emaildomain.com"), ("apikey_01ABC123DEF456GHI789JKL", None)]
    assert [m.email for m in anth.member_records(users)] == ["user@emaildomain.com", "dev2@emaildomain.com"]
    peer_keys = anth._KEYS.validate_json(wire("abacus/anthropic_org_api_keys.mock.json")).data
    peer_users = anth._USERS.validate_json(wire("abacus/anthropic_org_users.mock.json")).data
    assert anth.key_records(peer_keys, peer_users)[0].creator_email == "apikey-owner@example.com"


def test_peer_messages_mock_without_next_page():
    page = anth._MESSAGES.validate_json(wire("abacus/anthropic_usage_report_messages.mock.json"))
    assert page.has_more is False and page.next_page is None
    (u,), _ = anth.messages_usage(page.data[0].results, day=date(2025, 1, 1), org="o", resolver=resolver(),
                                  key_names={"test-key-123": "claude_code_key_t_1234"}, claude_code_workspaces=set())
    assert (u.input_tokens, u.cache_write_tokens, u.cache_read_tokens, u.output_tokens) == (1000, 100, 500, 200)


# --- Cursor ----------------------------------------------------------------------------------------------

def test_usage_events_example_costs_and_requests():
    page = curs.parse_events_page(wire("examples/cursor_teams_filtered_usage_events.json"))
    records = _convert("team", page["usageEvents"])
    assert [r.cost_nanos for r in records] == [213_623_200, 373_300_000, 80_000_000]  # chargedCents 21.36232 …
    assert [r.requests for r in records] == [1, 1, 1]
    req = records[2]  # request-based: no tokenUsage, still one request
    assert (req.total_tokens, req.person, req.model) == (0, "admin@company.com", "sonnet-4-thinking")
    first = records[0]
    assert (first.input_tokens, first.output_tokens, first.cache_write_tokens, first.cache_read_tokens) == (
        126, 450, 6112, 11964)
    assert first.ts.isoformat() == "2025-06-26T23:07:05.854000+00:00" and first.source == Source.CURSOR
    assert len({r.natural_key for r in records}) == 3
    again = _convert("another-team", page["usageEvents"])
    assert [r.natural_key for r in again] == [r.natural_key for r in records]


def test_usage_event_cost_fallbacks_and_twins():
    base = {"timestamp": "1750979225854", "userEmail": "A@Example.com", "model": "gpt-5",
            "tokenUsage": {"inputTokens": 1, "outputTokens": 2, "cacheWriteTokens": 3, "cacheReadTokens": 4,
                           "totalCents": 20.18232}}
    events = [dict(base, cursorTokenFee=1.18), dict(base), dict(base, chargedCents=None, timestamp=1750979225855),
              {"timestamp": "1750979225856", "userEmail": None, "serviceAccountName": "ci-agent", "model": None}]
    body = json.dumps({"usageEvents": events, "pagination": None}).encode()
    records = _convert("t", curs.parse_events_page(body)["usageEvents"])
    assert [r.cost_nanos for r in records] == [213_623_200, 201_823_200, 201_823_200, 0]  # total + fee, total, …
    assert records[0].natural_key != records[1].natural_key  # identical twins stay apart
    assert records[0].person == "a@example.com" and records[3].person == "unmapped:ci-agent"
    assert records[3].model == "unknown" and records[3].requests == 1


def test_peer_events_mock_total_cents_only():
    page = curs.parse_events_page(wire("abacus/cursor_filtered_usage_events.mock.json"))
    (r,) = _convert("t", page["usageEvents"])
    assert (r.cost_nanos, r.input_tokens, r.output_tokens) == (50_000_000, 500, 100)  # totalCents 5


def test_spend_both_shapes():
    new = curs._parser("SpendResponse")(wire("examples/cursor_teams_spend.json"))
    records = {r.email: r for r in curs.spend_records([new], today=date(2026, 1, 1))}
    sam = records["admin@company.com"]  # spendCents = on-demand, overallSpendCents = included + on-demand
    assert (sam.on_demand_nanos, sam.overall_nanos, sam.limit_dollars) == (18_755_001_230, 32_007_504_560, 50.0)
    assert sam.cycle_start == date(2024, 2, 27)
    payloads = json.loads((REF / "cursor-usage-tracker/test-fixture-payloads.json").read_text())
    for name, on_demand, overall in (("teams_spend_new_shape_newer_version_only", 1_500_000_000, 10_000_000_000),
                                     ("teams_spend_old_shape_newer_version_only", 2_000_000_000, 10_000_000_000),
                                     ("teams_spend_paginated_page1", 1_000_000_000, 1_000_000_000)):
        body = {k: v for k, v in payloads[name].items() if not k.startswith("_")}
        (rec, *_) = curs.spend_records([curs._parser("SpendResponse")(json.dumps(body).encode())], today=date.today())
        assert (rec.on_demand_nanos, rec.overall_nanos) == (on_demand, overall), name


def test_daily_usage_members_and_groups_examples():
    daily = curs._parser("DailyResponse")(wire("examples/cursor_teams_daily_usage_data.json"))
    acts = curs.daily_activity(daily.data, org="t")
    assert [(a.person, a.day, a.is_active) for a in acts] == [
        ("developer@company.com", date(2024, 3, 18), True), ("inactive-user@company.com", date(2024, 3, 18), False)]
    dev = acts[0]
    assert (dev.lines_added, dev.accepted_lines_added, dev.tabs_accepted, dev.chat_requests, dev.included_requests,
            dev.most_used_model, dev.client_version) == (1543, 1102, 289, 128, 180, "gpt-5", "0.25.1")
    parse_members = curs._parser("MembersResponse")
    members = curs.member_records(parse_members(wire("examples/cursor_teams_members.json")).teamMembers)
    assert [(m.email, m.vendor_user_id, m.removed) for m in members] == [
        ("developer@company.com", "user_PDSPmvukpYgZEDXsoNirw3CFhy", False),
        ("admin@company.com", "user_kljUvI0ASZORvSEXf9hV0ydcso", False)]
    groups = curs.group_records(curs._parser("GroupsResponse")(wire("examples/cursor_teams_groups.json")))
    assert [(g.name, g.member_emails, g.unassigned) for g in groups] == [
        ("Engineering", ["alex@company.com"], False), ("Unassigned", [], True)]
    assert (groups[0].cycle_start, groups[0].cycle_end) == (date(2025, 1, 1), date(2025, 2, 1))


def test_numeric_member_ids_and_unknown_fields():
    body = {"teamMembers": [{"id": 12345, "email": "x@example.com", "role": "free-owner", "shiny": True},
                            {"name": "No Email"}]}
    (m,) = curs.member_records(curs._parser("MembersResponse")(json.dumps(body).encode()).teamMembers)
    assert (m.vendor_user_id, m.role) == ("12345", "free-owner")


def test_decimal_cents_stay_exact():
    body = json.dumps({"usageEvents": [{"timestamp": "1", "chargedCents": 0.1}] * 3}).encode()
    records = _convert("t", curs.parse_events_page(body)["usageEvents"])
    assert sum(r.cost_nanos for r in records) == 3_000_000 and Decimal("0.1") * 3 == Decimal("0.3")


def test_converter_keys_are_exactly_cursor_event_key():
    """The converter computes keys inline for speed; they must equal the shared definition (the CSV
    importer uses cursor_event_key too), twins included — and events of one ms that are not twins,
    interleaved with twins of theirs (the converter counts occurrences per ms)."""
    from core.usage import OccurrenceCounter, cursor_event_key
    from tests.fakes.vendors import GeneratedEvents

    gen = GeneratedEvents(50, 1_750_000_000_000, step_ms=1)
    other_user_at_3 = {**gen.event(3), "userEmail": "someone.else@example.com"}  # the same ms, not a twin
    events = [gen.event(i) for i in range(50)] + [gen.event(7), gen.event(7), gen.event(9), other_user_at_3,
                                                  gen.event(3), other_user_at_3, gen.event(3)]
    assert [json.loads(gen.event_json(i)) for i in range(50)] == events[:50]
    records = _convert("t", curs.parse_events_page(json.dumps({"usageEvents": events})
                                                                          .encode())["usageEvents"])
    counter = OccurrenceCounter()
    expected = [cursor_event_key(counter, int(e["timestamp"]), e["userEmail"], e["model"],
                                 e["tokenUsage"]["inputTokens"], e["tokenUsage"]["cacheWriteTokens"],
                                 e["tokenUsage"]["cacheReadTokens"], e["tokenUsage"]["outputTokens"]) for e in events]
    assert [r.natural_key for r in records] == expected and len(set(expected)) == len(expected)


@pytest.mark.parametrize("wire_value, nanos", [
    (1.25, 12_500_000),                # 1 cent = 10,000,000 nanos
    (0.00001, 100),                    # Cursor's fifth decimal
    (12345.12345, 123_451_234_500),
    (3, 30_000_000),
    ("2.5", 25_000_000),
    (1.23456789, 12_345_679),          # 8 places: 12,345,678.9 nanos, half-even → …679
    (0.000000005, 0),                  # 0.05 nanos → 0 (half-even: 0.5 would also give 0)
    (1e9, 10**16),                     # $10M: beyond the float shortcut (2**51 nanos), exact via Decimal
    (-0.5, -5_000_000),                # a refund
])
def test_cents_from_json_numbers_are_exact(wire_value, nanos):
    assert curs.cents_nanos(wire_value) == nanos


def test_every_float_with_up_to_seven_places_converts_exactly():
    """The float shortcut against Decimal arithmetic on the digits, for 20,000 random amounts of
    up to 15 significant digits (what a double holds exactly; Cursor's cents have 5 places)."""
    import random

    rng = random.Random(20261122)
    for _ in range(20_000):
        places = rng.randint(0, 7)
        whole = rng.randint(0, 10**min(9, 15 - places) - 1)  # up to $10M, the cap: within range
        text = f"{whole}.{rng.randint(0, 10**places - 1):0{places}d}" if places else str(whole)
        exact = int(Decimal(text) * 10_000_000)
        assert curs.cents_nanos(json.loads(text)) == exact, text


@pytest.mark.parametrize("event, complaint", [
    ({"timestamp": "soon"}, "usageEvents[1]: timestamp: expected epoch milliseconds, got 'soon'"),
    ({"timestamp": "2026-11-20T03:00:00"}, "usageEvents[1]: timestamp: an ISO time needs its UTC offset"),
    ({"model": "gpt-5"}, "usageEvents[1]: missing field 'timestamp'"),
    ({"timestamp": 1.5}, "usageEvents[1]: timestamp: expected epoch milliseconds"),
    ({"timestamp": "1", "tokenUsage": {"inputTokens": 1.5}}, "usageEvents[1]: tokenUsage: token counts"),
    ({"timestamp": "1", "tokenUsage": {"inputTokens": -1}}, "usageEvents[1]: tokenUsage: token counts"),
    ({"timestamp": "1", "chargedCents": True}, "usageEvents[1]: expected an amount of cents"),
    ({"timestamp": "1", "chargedCents": "lots"}, "usageEvents[1]: expected an amount of cents"),
    ({"timestamp": "1", "userEmail": 7}, "usageEvents[1]: unexpected value"),
    ({"timestamp": "1", "model": ["gpt-5"]}, "usageEvents[1]: model: expected a string"),
    ({"timestamp": "1", "tokenUsage": {"inputTokens": 2**48}}, "usageEvents[1]: tokenUsage: token counts"),
    ({"timestamp": "1", "chargedCents": 1e300}, "usageEvents[1]: amount out of range"),
    ({"timestamp": "1", "chargedCents": 10**20}, "usageEvents[1]: amount out of range"),
    ({"timestamp": "1", "chargedCents": 1e309}, "usageEvents[1]: amount out of range"),  # inf
    ({"timestamp": "1", "chargedCents": "1e400"}, "usageEvents[1]: expected an amount of cents"),
    ("not an event", "usageEvents[1]: expected an object"),
])
def test_a_malformed_event_names_its_place_and_nothing_of_the_page_is_used(event, complaint):
    from core.sources.http import ShapeError

    good = {"timestamp": "1", "model": "gpt-5", "chargedCents": 1}
    with pytest.raises(ShapeError) as info:
        _convert("t", [good, event, good])
    assert str(info.value).startswith(complaint), str(info.value)


@pytest.mark.parametrize("body", [b"[]", b'{"usageEvents": {}}', b'{"totalUsageEventsCount": "many"}',
                                  b'{"pagination": {"currentPage": -1}}', b'{"pagination": {"hasNextPage": "y"}}'])
def test_a_wrong_events_envelope_is_a_shape_error(body):
    from core.sources.http import ShapeError

    with pytest.raises(ShapeError):
        curs.parse_events_page(body)
    with pytest.raises(ValueError):
        curs.parse_events_page(body[:-1] + b",")  # truncated/invalid JSON: retried by JsonApi.call


def _cc_page(tokens: dict, cents, date_text: str = "2026-11-20T00:00:00Z") -> bytes:
    row = {"date": date_text, "actor": {"type": "user_actor", "email_address": "a@example.com"},
           "model_breakdown": [{"model": "claude-sonnet-4-5", "tokens": tokens,
                                "estimated_cost": {"currency": "USD", "amount": cents}}]}
    return json.dumps({"data": [row], "has_more": False}).encode()


GOOD_TOKENS = {"input": 10, "output": 5, "cache_read": 0, "cache_creation": 0}


@pytest.mark.parametrize("page, field", [
    (_cc_page({**GOOD_TOKENS, "input": -1000}, 1), "tokens.input"),                 # negative count
    (_cc_page({**GOOD_TOKENS, "output": 10**19}, 1), "tokens.output"),              # beyond any real count
    (_cc_page(GOOD_TOKENS, -500), "estimated_cost.amount"),                         # a negative estimate
    (_cc_page(GOOD_TOKENS, 1e30), "estimated_cost.amount"),                         # absurd (and would overflow)
    (_cc_page(GOOD_TOKENS, 1, date_text="11/20/2026"), "date"),                     # not an ISO date
])
def test_anthropic_pages_with_impossible_values_are_refused(page, field):
    """Counts are non-negative and below 2**48, a usage record's cents are 0…$10M, dates are ISO:
    anything else is a validation error, which the client reports as one line and stores nothing."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as exc:
        anth._CLAUDE_CODE.validate_json(page)
    assert field.split(".")[-1] in str(exc.value)


def test_anthropic_bucket_start_must_be_an_iso_date():
    from pydantic import ValidationError

    body = {"data": [{"starting_at": "11/20/2026 00:00", "ending_at": None, "results": []}], "has_more": False}
    with pytest.raises(ValidationError, match="starting_at"):
        anth._MESSAGES.validate_json(json.dumps(body).encode())
    body["data"][0]["starting_at"] = "2026-11-20T00:00:00Z"
    assert anth._MESSAGES.validate_json(json.dumps(body).encode()).data[0].starting_at == "2026-11-20T00:00:00Z"


def test_cost_report_lines_may_be_credits_but_not_absurd():
    from pydantic import ValidationError

    def page(amount: str) -> bytes:
        bucket = {"starting_at": "2026-11-20T00:00:00Z", "results": [{"amount": amount, "currency": "USD"}]}
        return json.dumps({"data": [bucket], "has_more": False}).encode()

    assert anth._COSTS.validate_json(page("-1250.5")).data[0].results[0].amount == Decimal("-1250.5")
    for bad in ("1e30", "NaN", "Infinity"):
        with pytest.raises(ValidationError):
            anth._COSTS.validate_json(page(bad))


def test_an_iso_timestamp_with_its_offset_is_the_same_event_as_its_epoch_ms():
    """Documented: a string of epoch ms. Should the vendor switch to ISO 8601 with an offset, the
    event keeps its time, and so its key."""
    ms = 1_763_607_600_123  # 2025-11-20T03:00:00.123Z
    as_ms, as_iso, as_offset = ({"timestamp": t, "userEmail": "a@example.com", "model": "gpt-5",
                                 "tokenUsage": {"inputTokens": 1}, "chargedCents": 1}
                                for t in (str(ms), "2025-11-20T03:00:00.123Z", "2025-11-20T04:00:00.123+01:00"))
    records = [_convert("org", [ev])[0] for ev in (as_ms, as_iso, as_offset)]
    assert {(r.ts_ms, r.natural_key) for r in records} == {(ms, records[0].natural_key)}


def test_cost_analytics_rows_are_read_tolerantly_and_split_to_the_nano():
    """Usage and Cost Analytics API rows: `amount` as a decimal string or a number (cents), the
    actor's email as `email_address` or `email`, unknown fields ignored; the bill is split over the
    person-model's analytics rows in proportion to their estimates and sums to it exactly."""
    day = date(2026, 11, 2)
    body = json.dumps({"data": [
        {"starting_at": "2026-11-02T00:00:00Z", "ending_at": "2026-11-03T00:00:00Z", "surprise": 1,
         "group": {"actor": {"type": "user_actor", "email_address": "Ann@Example.com", "user_id": "user_1",
                             "deleted": False}, "product": None, "model": "claude-sonnet-4-5", "speed": None},
         "cost": {"amount": "100.000000001", "list_amount": "120", "currency": "USD", "requests": 7}},
        {"starting_at": "2026-11-02T00:00:00Z", "group": {"actor": {"type": "user_actor", "email": "bo@example.com"},
                                                          "model": "claude-opus-4-5"},
         "cost": {"amount": 50, "currency": "USD", "requests": None}},
        {"group": {"actor": {"type": "service_account_actor", "service_account_id": "svac_1"},
                   "model": "claude-opus-4-5"}, "cost": {"amount": "70"}},
    ], "has_more": False, "next_page": None, "data_refreshed_at": "2026-11-03T01:00:00Z"}).encode()
    rows = anth._ANALYTICS_COST.validate_json(body).data
    assert [r.group.actor.user_email for r in rows] == ["ann@example.com", "bo@example.com", None]
    resolver = IdentityResolver(domain="example.com")
    cc = [{"date": "2026-11-02T00:00:00Z", "actor": {"type": "user_actor", "email_address": "ann@example.com"},
           "terminal_type": t, "model_breakdown": [{"model": "claude-sonnet-4-5",
                                                    "tokens": {"input": 10, "output": 1},
                                                    "estimated_cost": {"currency": "USD", "amount": a}}]}
          for t, a in (("vscode", 1), ("tmux", 2))]
    usage, _ = anth.claude_code_usage([anth.ClaudeCodeRow.model_validate(r) for r in cc], day=day, org="o",
                                      resolver=resolver)
    billed, unmatched = anth.apply_billed_costs(usage, rows, day=day)
    # 100.000000001 cents = 1,000,000,000.01 nanos → 1,000,000,000 (half-even); split 1:2 by the
    # estimates (1 and 2 cents): 333,333,333.3 and 666,666,666.7 → the remainder nano goes to the larger
    assert [r.cost_nanos for r in billed] == [333_333_333, 666_666_667]
    assert sum(r.cost_nanos for r in billed) == 1_000_000_000
    assert all(r.cost_basis is CostBasis.VENDOR for r in billed)
    assert unmatched == 1  # bo has no analytics row; the service account is not a person
    assert {r.natural_key for r in billed}.isdisjoint({r.natural_key for r in usage})  # a new bill replaces


def _convert(org: str, events) -> list[EventRecord]:
    """The converter's rows with their fields named."""
    return [EventRecord._make(row) for row in curs.EventConverter(org).convert(events)]


def test_huge_model_names_are_stored_column_sized_and_not_kept_in_the_model_cache():
    """A feed of 200 distinct model names of 100,000 characters: each row holds 255 of them, and the
    process-wide model cache keeps none (it held every name as sent: 20 MB here, up to 4,096 names
    in a bot that syncs in-process)."""
    from core.sources import cursor_events

    before = dict(cursor_events._MODELS)
    names = [f"{i:03d}" + "m" * 99_997 for i in range(200)]
    rows = cursor_events.EventConverter("team").convert(
        [{"timestamp": 1_790_000_000_000 + i, "userEmail": "a@x.com", "model": name, "chargedCents": 1}
         for i, name in enumerate(names)])
    assert [len(EventRecord._make(r).raw_model) for r in rows] == [255] * 200
    assert [EventRecord._make(r).raw_model[:3] for r in rows] == [f"{i:03d}" for i in range(200)]
    assert set(cursor_events._MODELS) - set(before) == set()
