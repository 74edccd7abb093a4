"""Block Kit validation that is stricter than slack_sdk's, for tests and for the fake Slack.

slack_sdk validates lazily (only in ``to_dict()`` / ``validate_json()``) and misses some of Slack's
server-side rules: more than 50 blocks in a message, a section field over 2000 characters, empty
text objects, duplicate ``block_id``s. Real Slack answers all of those with ``invalid_blocks``.

``validate_blocks`` returns a list of human-readable problems (empty = valid), so product tests can
call it on their block builders directly::

    assert validate_blocks(build_incident_blocks(incident)) == []
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}

SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
BUTTON_URL_MAX = 3000
ID_MAX = 255  # action_id, block_id, callback_id
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OVERFLOW_OPTIONS_MAX = 5
INPUT_LABEL_MAX = 2000
IMAGE_ALT_TEXT_MAX = 2000
IMAGE_URL_MAX = 3000
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
PRIVATE_METADATA_MAX = 3000

_TEXT_TYPES = ("plain_text", "mrkdwn")
_SLACK_SDK_ERRORS = (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError)
_KNOWN_BLOCK_TYPES = {
    "section", "divider", "image", "actions", "context", "context_actions", "input", "file", "call",
    "header", "markdown", "video", "rich_text", "table", "task_card", "plan", "card", "alert",
    "container", "carousel", "auth_provider",
}  # fmt: skip

# slack_sdk logs a warning for every key it does not model; that is noise here.
logging.getLogger("slack_sdk.models").setLevel(logging.ERROR)


def validate_blocks(blocks: Any, *, surface: str = "message") -> list[str]:
    """Return the problems Slack would reject in ``blocks`` on ``surface`` (message, modal, home)."""
    if surface not in MAX_BLOCKS:
        raise ValueError(f"surface must be one of {sorted(MAX_BLOCKS)}, not {surface!r}")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return ["blocks is a string but not JSON"]
    if not isinstance(blocks, list | tuple):
        return [f"blocks must be a list, got {type(blocks).__name__}"]
    problems: list[str] = []
    limit = MAX_BLOCKS[surface]
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (max {limit} in a {surface})")
    seen_block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        block = _as_dict(raw)
        where = f"blocks[{index}]"
        if block is None:
            problems.append(f"{where}: cannot be serialised ({type(raw).__name__})")
            continue
        block_type = block.get("type")
        where = f"blocks[{index}] ({block_type})"
        if block_type not in _KNOWN_BLOCK_TYPES:
            problems.append(f"{where}: unknown block type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            problems += _check_id(where, "block_id", block_id)
            if block_id in seen_block_ids:
                problems.append(f"{where}: duplicate block_id {block_id!r}")
            seen_block_ids.add(block_id)
        own = _check_block(where, block_type, block)
        # slack_sdk is the backstop for rules not checked here; skip it when a problem is already known.
        problems += own or _slack_sdk_problems(where, block)
    return problems


def validate_message(payload: Mapping[str, Any]) -> list[str]:
    """Problems in a message payload (chat.postMessage / update / postEphemeral / response_url)."""
    problems: list[str] = []
    text = payload.get("text")
    blocks = payload.get("blocks")
    if blocks is not None:
        if not isinstance(text, str) or not text.strip():
            problems.append("message with blocks has no non-empty `text` fallback")
        problems += validate_blocks(blocks, surface="message")
    attachments = payload.get("attachments")
    if isinstance(attachments, str):
        try:
            attachments = json.loads(attachments)
        except ValueError:
            attachments = None
    for index, attachment in enumerate(attachments or []):
        if isinstance(attachment, Mapping) and attachment.get("blocks") is not None:
            inner = validate_blocks(attachment["blocks"], surface="message")
            problems += [f"attachments[{index}].{p}" for p in inner]
    return problems


def validate_view(view: Any) -> list[str]:
    """Problems in a modal or Home tab view (views.open / push / update / publish)."""
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return ["view is a string but not JSON"]
    if not isinstance(view, Mapping):
        return [f"view must be an object, got {type(view).__name__}"]
    problems: list[str] = []
    view_type = view.get("type")
    if view_type not in ("modal", "home"):
        return [f"view type must be 'modal' or 'home', got {view_type!r}"]
    if view_type == "modal":
        problems += _check_text("view.title", view.get("title"), max_len=VIEW_TITLE_MAX, plain_only=True)
    for name in ("submit", "close"):
        if view.get(name) is not None:
            if view_type == "home":
                problems.append(f"home view cannot have {name}")
            problems += _check_text(f"view.{name}", view[name], max_len=VIEW_BUTTON_MAX, plain_only=True)
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA_MAX:
        problems.append(f"view.private_metadata is {len(metadata)} characters (max {PRIVATE_METADATA_MAX})")
    if view.get("callback_id") is not None:
        problems += _check_id("view", "callback_id", view["callback_id"])
    blocks = view.get("blocks")
    if blocks is None:
        problems.append("view has no blocks")
    else:
        problems += validate_blocks(blocks, surface=view_type)
        if (
            view_type == "modal"
            and view.get("submit") is None
            and isinstance(blocks, list)
            and any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
        ):
            problems.append("modal with input blocks needs a submit button")
    if not problems:
        try:
            View(**view).validate_json()
        except _SLACK_SDK_ERRORS as exc:
            problems.append(f"view: slack_sdk: {exc}")
    return problems


def assert_valid_blocks(blocks: Any, *, surface: str = "message") -> None:
    """Raise AssertionError listing every problem in ``blocks``."""
    problems = validate_blocks(blocks, surface=surface)
    if problems:
        raise AssertionError("invalid Block Kit:\n  " + "\n  ".join(problems))


# --- internals -----------------------------------------------------------------------------------


def _as_dict(raw: Any) -> dict | None:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, Block):
        try:
            return raw.to_dict()
        except _SLACK_SDK_ERRORS:
            return None
    return None


def _slack_sdk_problems(where: str, block: dict) -> list[str]:
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [f"{where}: slack_sdk cannot parse the block"]
        parsed.validate_json()
        parsed.to_dict()  # validates nested elements and text objects too
    except _SLACK_SDK_ERRORS as exc:
        return [f"{where}: slack_sdk: {exc}"]
    return []


def _check_id(where: str, name: str, value: Any) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{where}: {name} must be a non-empty string"]
    if len(value) > ID_MAX:
        return [f"{where}: {name} is {len(value)} characters (max {ID_MAX})"]
    return []


def _check_text(where: str, obj: Any, *, max_len: int, plain_only: bool = False, required: bool = True) -> list[str]:
    if obj is None:
        return [f"{where}: text object is missing"] if required else []
    if not isinstance(obj, Mapping):
        return [f"{where}: text must be a text object, got {type(obj).__name__}"]
    text_type = obj.get("type")
    allowed = ("plain_text",) if plain_only else _TEXT_TYPES
    if text_type not in allowed:
        return [f"{where}: text type must be {' or '.join(allowed)}, got {text_type!r}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    if len(text) > max_len:
        return [f"{where}: text is {len(text)} characters (max {max_len})"]
    return []


def _check_block(where: str, block_type: str, block: dict) -> list[str]:
    problems: list[str] = []
    if block_type == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            problems.append(f"{where}: section needs text or fields")
        if text is not None:
            problems += _check_text(f"{where}.text", text, max_len=SECTION_TEXT_MAX)
        if fields is not None:
            if not isinstance(fields, list):
                problems.append(f"{where}.fields must be a list")
            else:
                if len(fields) > SECTION_FIELDS_MAX:
                    problems.append(f"{where}: {len(fields)} fields (max {SECTION_FIELDS_MAX})")
                for i, field in enumerate(fields):
                    problems += _check_text(f"{where}.fields[{i}]", field, max_len=SECTION_FIELD_TEXT_MAX)
        if block.get("accessory") is not None:
            problems += _check_elements(f"{where}.accessory", [block["accessory"]])
    elif block_type == "header":
        problems += _check_text(f"{where}.text", block.get("text"), max_len=HEADER_TEXT_MAX, plain_only=True)
    elif block_type == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.append(f"{where}: context needs at least one element")
        elif len(elements) > CONTEXT_ELEMENTS_MAX:
            problems.append(f"{where}: {len(elements)} elements (max {CONTEXT_ELEMENTS_MAX})")
        for i, element in enumerate(elements or []):
            if isinstance(element, Mapping) and element.get("type") in _TEXT_TYPES:
                problems += _check_text(f"{where}.elements[{i}]", element, max_len=SECTION_TEXT_MAX)
            elif isinstance(element, Mapping) and element.get("type") == "image":
                problems += _check_image(f"{where}.elements[{i}]", element)
    elif block_type == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.append(f"{where}: actions needs at least one element")
        else:
            if len(elements) > ACTIONS_ELEMENTS_MAX:
                problems.append(f"{where}: {len(elements)} elements (max {ACTIONS_ELEMENTS_MAX})")
            problems += _check_elements(f"{where}.elements", elements)
    elif block_type == "image":
        problems += _check_image(where, block)
        if block.get("title") is not None:
            problems += _check_text(f"{where}.title", block["title"], max_len=2000, plain_only=True)
    elif block_type == "input":
        problems += _check_text(f"{where}.label", block.get("label"), max_len=INPUT_LABEL_MAX, plain_only=True)
        if block.get("element") is None:
            problems.append(f"{where}: input needs an element")
        else:
            problems += _check_elements(f"{where}.element", [block["element"]])
    return problems


def _check_image(where: str, image: Mapping) -> list[str]:
    problems: list[str] = []
    url = image.get("image_url")
    if url is None and image.get("slack_file") is None:
        problems.append(f"{where}: image needs image_url or slack_file")
    elif isinstance(url, str) and len(url) > IMAGE_URL_MAX:
        problems.append(f"{where}: image_url is {len(url)} characters (max {IMAGE_URL_MAX})")
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not alt:
        problems.append(f"{where}: image needs a non-empty alt_text")
    elif len(alt) > IMAGE_ALT_TEXT_MAX:
        problems.append(f"{where}: alt_text is {len(alt)} characters (max {IMAGE_ALT_TEXT_MAX})")
    return problems


def _check_elements(where: str, elements: Iterable[Any]) -> list[str]:
    problems: list[str] = []
    seen_action_ids: set[str] = set()
    for i, element in enumerate(elements):
        here = f"{where}[{i}]"
        if not isinstance(element, Mapping):
            problems.append(f"{here}: element must be an object")
            continue
        action_id = element.get("action_id")
        if action_id is not None:
            problems += _check_id(here, "action_id", action_id)
            if action_id in seen_action_ids:
                problems.append(f"{here}: duplicate action_id {action_id!r} in one block")
            seen_action_ids.add(action_id)
        element_type = element.get("type")
        if element_type == "button":
            problems += _check_text(f"{here}.text", element.get("text"), max_len=BUTTON_TEXT_MAX, plain_only=True)
            value = element.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE_MAX):
                problems.append(f"{here}: button value must be a string of at most {BUTTON_VALUE_MAX} characters")
            url = element.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > BUTTON_URL_MAX):
                problems.append(f"{here}: button url must be a string of at most {BUTTON_URL_MAX} characters")
        elif element_type in ("static_select", "multi_static_select", "overflow", "radio_buttons", "checkboxes"):
            options = element.get("options") or []
            limit = OVERFLOW_OPTIONS_MAX if element_type == "overflow" else SELECT_OPTIONS_MAX
            if len(options) > limit:
                problems.append(f"{here}: {len(options)} options (max {limit})")
            for j, option in enumerate(options):
                problems += _check_option(f"{here}.options[{j}]", option)
            for g, group in enumerate(element.get("option_groups") or []):
                for j, option in enumerate(group.get("options") or [] if isinstance(group, Mapping) else []):
                    problems += _check_option(f"{here}.option_groups[{g}].options[{j}]", option)
        elif element_type == "image":
            problems += _check_image(here, element)
    return problems


def _check_option(where: str, option: Any) -> list[str]:
    if not isinstance(option, Mapping):
        return [f"{where}: option must be an object"]
    problems = _check_text(f"{where}.text", option.get("text"), max_len=OPTION_TEXT_MAX)
    value = option.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > OPTION_VALUE_MAX):
        problems.append(f"{where}: option value must be a string of at most {OPTION_VALUE_MAX} characters")
    return problems
