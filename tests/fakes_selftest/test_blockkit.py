"""The Block Kit validator shared by the fake and product tests."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import DividerBlock, SectionBlock

from tests.fakes.blockkit import assert_valid_blocks, validate_blocks, validate_message, validate_view


def text(t: str, kind: str = "mrkdwn") -> dict:
    return {"type": kind, "text": t}


def button(label: str = "Ack", value: str = "7", action_id: str = "incident_ack") -> dict:
    return {"type": "button", "action_id": action_id, "value": value, "text": text(label, "plain_text")}


VALID = [
    {"type": "header", "text": text("Spend spike", "plain_text")},
    {"type": "section", "text": text("*bob* spent $214"), "fields": [text("a"), text("b")]},
    {"type": "divider"},
    {"type": "image", "image_url": "https://example.com/c.png", "alt_text": "chart"},
    {"type": "context", "elements": [text("incident 7")]},
    {
        "type": "actions",
        "block_id": "incident:7",
        "elements": [button(), button("Resolve", action_id="incident_resolve")],
    },
]


def test_a_typical_alert_is_valid() -> None:
    assert validate_blocks(VALID) == []
    assert validate_message({"text": "Spend spike", "blocks": VALID}) == []
    assert_valid_blocks(VALID)


def test_slack_sdk_block_objects_are_accepted() -> None:
    assert validate_blocks([SectionBlock(text="hi"), DividerBlock()]) == []


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([{"type": "divider"}] * 51, "51 blocks (max 50 in a message)"),
        ([{"type": "section", "text": text("x" * 3001)}], "text is 3001 characters (max 3000)"),
        ([{"type": "section", "fields": [text("x")] * 11}], "11 fields (max 10)"),
        ([{"type": "section", "fields": [text("x" * 2001)]}], "text is 2001 characters (max 2000)"),
        ([{"type": "header", "text": text("x" * 151, "plain_text")}], "text is 151 characters (max 150)"),
        ([{"type": "actions", "elements": [button(label="x" * 76)]}], "text is 76 characters (max 75)"),
        ([{"type": "actions", "elements": [button(value="x" * 2001)]}], "at most 2000 characters"),
        ([{"type": "actions", "elements": [button(action_id="x" * 256)]}], "action_id is 256 characters"),
        ([{"type": "divider", "block_id": "x" * 256}], "block_id is 256 characters"),
        ([{"type": "context", "elements": [text("x")] * 11}], "11 elements (max 10)"),
        ([{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}], "26 elements (max 25)"),
        ([{"type": "section", "text": text("")}], "non-empty"),
        ([{"type": "divider", "block_id": "b"}, {"type": "divider", "block_id": "b"}], "duplicate block_id"),
        ([{"type": "tabel"}], "unknown block type"),
        ([{"type": "image", "image_url": "https://example.com/c.png"}], "alt_text"),
    ],
)
def test_each_limit_is_reported(blocks: list, expected: str) -> None:
    problems = validate_blocks(blocks)
    assert any(expected in p for p in problems), problems


def test_home_and_modal_allow_100_blocks() -> None:
    assert validate_blocks([{"type": "divider"}] * 100, surface="home") == []
    assert validate_blocks([{"type": "divider"}] * 101, surface="modal") == ["101 blocks (max 100 in a modal)"]


def test_message_needs_a_text_fallback() -> None:
    assert validate_message({"blocks": VALID}) == ["message with blocks has no non-empty `text` fallback"]


def test_views_are_checked() -> None:
    modal = {"type": "modal", "title": text("Settings", "plain_text"), "blocks": [{"type": "divider"}]}
    assert validate_view(modal) == []
    assert validate_view({**modal, "title": text("x" * 25, "plain_text")}) == [
        "view.title: text is 25 characters (max 24)"
    ]
    assert "home view cannot have submit" in validate_view(
        {"type": "home", "blocks": [], "submit": text("Go", "plain_text")}
    )
    with_input = {**modal, "blocks": [{"type": "input", "label": text("Name", "plain_text"),
                                       "element": {"type": "plain_text_input", "action_id": "v"}}]}  # fmt: skip
    assert validate_view(with_input) == ["modal with input blocks needs a submit button"]
