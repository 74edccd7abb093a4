"""Block Kit for managing groups in the App Home: the list, and the create / rename / move modals."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.ids import ActionId, BlockId, CallbackId
from storage.groups_repo import GroupRow

from . import common as c
from .payloads import row_id

HOME_GROUPS_SHOWN = 20
NO_GROUP_VALUE = "none"
SOURCE_LABELS = {"hibob": "from HiBob", "cursor": "Cursor billing group", "manual": "made here"}


def home_section(groups: Sequence[GroupRow], *, can_admin: bool) -> list[dict]:
    blocks = [c.divider(), c.section(f"*Groups* · {len(groups)}")]
    if not groups:
        blocks.append(c.context("No groups yet: import a HiBob directory (`abacus import`, or share the CSV with "
                                "me), or create one here."))
    for g in groups[:HOME_GROUPS_SHOWN]:
        text = f"*{c.escape(c.clip(g.name, 200))}* · {g.members:,} member{'s' if g.members != 1 else ''} · " \
               f"{SOURCE_LABELS.get(g.source, c.escape(g.source))}"
        accessory = c.button("Rename…", ActionId.GROUP_RENAME, str(g.id)) if can_admin else None
        blocks.append(c.section(text, accessory=accessory))
    if len(groups) > HOME_GROUPS_SHOWN:
        blocks.append(c.context(f"{len(groups) - HOME_GROUPS_SHOWN} more: `/abacus groups`."))
    if can_admin:
        blocks.append(c.actions([c.button("Create group", ActionId.GROUP_CREATE),
                                 c.button("Move a person…", ActionId.GROUP_ASSIGN)], block_id=BlockId.GROUP_ACTIONS))
    return blocks


def _plain(text: str, limit: int = 24) -> dict:
    return {"type": "plain_text", "text": c.plain_clip(text, limit)}


def name_modal(group: GroupRow | None = None) -> dict:
    """Create a group (no `group`) or rename one."""
    element = {"type": "plain_text_input", "action_id": ActionId.GROUP_NAME_INPUT, "max_length": 255,
               "placeholder": _plain("Platform > Infra", 150)}
    if group is not None:
        element["initial_value"] = group.name[:255]
    return {
        "type": "modal", "callback_id": CallbackId.GROUP_NAME_MODAL,
        "private_metadata": json.dumps({"v": 1, "g": group.id if group else None}),
        "title": _plain("Rename group" if group else "Create group"), "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [{"type": "input", "block_id": BlockId.GROUP_NAME, "label": _plain("Name", 2000),
                    "hint": _plain("A team inside a group: “Group > Team”.", 2000), "element": element}],
    }


def assign_modal(groups: Sequence[GroupRow]) -> dict:
    options = [c.option("(no group)", NO_GROUP_VALUE)] + [c.option(g.name, str(g.id)) for g in groups[:99]]
    return {
        "type": "modal", "callback_id": CallbackId.GROUP_ASSIGN_MODAL, "title": _plain("Move a person"),
        "submit": _plain("Move"), "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": BlockId.GROUP_EMAIL, "label": _plain("Person's email", 2000),
             "element": {"type": "plain_text_input", "action_id": ActionId.GROUP_EMAIL_INPUT, "max_length": 254,
                         "placeholder": _plain("jane.doe@example.com", 150)}},
            {"type": "input", "block_id": BlockId.GROUP_CHOICE, "label": _plain("Group", 2000),
             "element": {"type": "static_select", "action_id": ActionId.GROUP_SELECT, "options": options,
                         "placeholder": _plain("Choose a group", 150)}},
        ],
    }


def group_id_from_metadata(raw: str | None) -> tuple[bool, int | None]:
    """(valid, group id or None for a new group) from a name modal's private_metadata."""
    try:
        data = json.loads(raw or "")
    except ValueError:
        return False, None
    if not isinstance(data, dict):
        return False, None
    g = data.get("g")
    if g is None:
        return True, None
    number = row_id(g)
    return (True, number) if number else (False, None)
