"""Builders for keys, mapping, sync, settings, the App Home and the modals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bot.ids import SLASH_COMMAND, ActionId, BlockId, CallbackId
from bot.services.settings import SPECS, SettingSpec, format_value
from core.sync import RunStatus

from . import common as c
from .payloads import KeyRef

if TYPE_CHECKING:
    from bot.services.reports import SyncStatusView, UnmappedView
    from storage.people_repo import UnmappedKey

HOME_UNMAPPED_SHOWN = 15
GROUP_TITLES = {"general": "Budget", "access": "Access", "thresholds": "Detection thresholds"}


def key_label(k: UnmappedKey) -> str:
    return k.key if not k.name or k.name == k.key else f"{k.name} ({k.key})"


# --- unmapped keys, map, sync ----------------------------------------------------------------------

def unmapped(view: UnmappedView) -> list[dict]:
    blocks = [c.header("Unmapped API keys")]
    if not view.keys:
        return [*blocks, c.section(":white_check_mark: Every key with usage is mapped to a person.")]
    cols = [("key", 34, "<"), ("tool", 11, "<"), ("spend", 11, ">"), ("tokens", 7, ">"), ("records", 7, ">"),
            ("seen", 21, "<")]
    rows = [(key_label(k), c.tool(k.source), c.usd(k.cost_nanos), c.tokens(k.total_tokens), f"{k.records:,}",
             f"{k.first_day}..{k.last_day}") for k in view.keys[:40]]
    blocks += [c.section(t) for t in c.code_table(cols, rows)]
    total = sum(k.cost_nanos for k in view.keys)
    blocks.append(c.context(f"{len(view.keys)} keys, {c.usd(total)} unattributed. Admins map one with "
                            f"`{SLASH_COMMAND} map &lt;key&gt; &lt;email&gt;` or from the App Home; "
                            "earlier usage moves too."))
    return c.cap_blocks(blocks)


def mapped(key: str, email: str, changed: int) -> list[dict]:
    return [c.section(f":white_check_mark: Mapped `{c.escape(c.clip(key, 120))}` → {c.escape(email)}; "
                      f"{changed:,} stored record{'s' if changed != 1 else ''} re-attributed.")]


def sync_result(lines: Sequence[str], *, ok: bool) -> list[dict]:
    icon = ":white_check_mark:" if ok else ":warning:"
    body = "\n".join(c.escape(line) for line in lines[:20]) or "nothing to do"
    return [c.section(f"{icon} *Sync*\n{body}")]


_RUN_STATE = {RunStatus.OK: ":white_check_mark: ok", RunStatus.FAILED: ":x: failed",
              RunStatus.RUNNING: ":hourglass: running", RunStatus.INTERRUPTED: ":warning: interrupted"}


def sync_status_fields(view: SyncStatusView) -> list[dict]:
    """One field per organisation/team (its newest run), so a failing one shows beside a healthy one."""
    pairs = []
    per_source = Counter(run.source for run in view.runs)
    for run in view.runs:
        state = _RUN_STATE.get(run.status, c.escape(run.status))
        text = f"{state} · {c.when(run.finished_at or run.started_at)}"
        if run.status == "ok":
            text += f" · {run.inserted:,} new"
        elif run.error:
            text += f"\n{c.escape(c.clip(run.error, 200))}"
        if run.status != "ok" and run.last_ok_at:
            text += f"\nlast success {c.when(run.last_ok_at)}"
        label = c.tool(run.source)
        if run.org and per_source[run.source] > 1:
            label = f"{label} · {c.escape(c.clip(run.org, 40))}"
        pairs.append((label, text))
    if not view.runs:
        configured = ", ".join(c.tool(s) for s in view.sources_configured) or "no vendor keys configured"
        pairs.append(("Last sync", f"never ({configured})"))
    pairs.append(("Next scheduled sync", c.when(view.next_run) if view.next_run else "not scheduled"))
    return c.fields(pairs)


# --- settings --------------------------------------------------------------------------------------

def _setting_value(spec: SettingSpec, value: Any) -> str:
    if value in (None, [], ""):
        return "_not set_" if spec.kind != "ids" else "_nobody_"
    if spec.kind == "ids":
        return c.escape(c.clip(", ".join(value), 1500))
    if spec.kind == "usd":
        return "off" if value == 0 and spec.key.startswith("threshold.max") else c.usd_value(float(value))
    if spec.kind == "int":
        return "off" if int(value) == 0 else f"{int(value):,}"
    return f"{float(value):g}"


def settings_sections(values: Mapping[str, Any], *, env_admins: int) -> list[dict]:
    blocks = []
    for group, title in GROUP_TITLES.items():
        pairs = [(spec.label, _setting_value(spec, values.get(spec.key))) for spec in SPECS if spec.group == group]
        if group == "access":
            pairs.insert(0, ("ABACUS_ADMINS", f"{env_admins} admin{'s' if env_admins != 1 else ''}" if env_admins
                             else "_unset: nobody may change anything_"))
        blocks += [c.section(f"*{title}*"), *c.fields(pairs)]
    return blocks


def settings(values: Mapping[str, Any], *, env_admins: int, can_edit: bool) -> list[dict]:
    blocks = [c.header("Settings"), *settings_sections(values, env_admins=env_admins)]
    if can_edit:
        blocks.append(c.actions([c.button("Edit settings", ActionId.SETTINGS_EDIT, style="primary")],
                                block_id=BlockId.SETTINGS_ACTIONS))
    else:
        blocks.append(c.context("Only admins can change settings."))
    return blocks


# --- App Home --------------------------------------------------------------------------------------

def home(*, role_label: str, can_admin: bool, values: Mapping[str, Any], env_admins: int,
         status: SyncStatusView, keys: Sequence[UnmappedKey] | None, describe: Mapping[str, str],
         extra: Sequence[dict] = ()) -> dict:
    """`extra`: the alerting sections (open incidents, schedule), shown first."""
    blocks = [
        c.header("Abacus"),
        c.context(f"What AI coding tools cost, who drives it, and when something is off. You are: *{role_label}*. "
                  f"Try `{SLASH_COMMAND} help`."),
        c.divider(),
        *extra,
        c.section("*Sync*"),
        *sync_status_fields(status),
        c.context(" · ".join(f"{c.escape(k)}: {c.escape(v)}" for k, v in describe.items())),
        c.divider(),
        *settings_sections(values, env_admins=env_admins),
    ]
    buttons = [c.button("Refresh", ActionId.HOME_REFRESH)]
    if can_admin:
        buttons.insert(0, c.button("Edit settings", ActionId.SETTINGS_EDIT, style="primary"))
    blocks.append(c.actions(buttons, block_id=BlockId.HOME_ACTIONS))
    if keys is None:
        blocks += [c.divider(), c.section("*Key mapping*"), c.context("Visible to admins and viewers.")]
        return {"type": "home", "blocks": c.cap_blocks(blocks, c.MAX_VIEW_BLOCKS)}
    blocks += [c.divider(), c.section(f"*Key mapping* · {len(keys)} unmapped key{'s' if len(keys) != 1 else ''}")]
    if not keys:
        blocks.append(c.context("Every key with usage is mapped to a person."))
    for k in keys[:HOME_UNMAPPED_SHOWN]:
        text = (f"`{c.escape(c.clip(key_label(k), 80))}` · {c.tool(k.source)} · {c.usd(k.cost_nanos)} · "
                f"{k.records:,} records · {k.first_day}..{k.last_day}")
        accessory = (c.button("Map…", ActionId.KEY_MAP, KeyRef(k.source, k.key).encode()) if can_admin else None)
        blocks.append(c.section(text, accessory=accessory))
    if len(keys) > HOME_UNMAPPED_SHOWN:
        blocks.append(c.context(f"{len(keys) - HOME_UNMAPPED_SHOWN} more: `{SLASH_COMMAND} unmapped`."))
    return {"type": "home", "blocks": c.cap_blocks(blocks, c.MAX_VIEW_BLOCKS)}


# --- modals ----------------------------------------------------------------------------------------

def _plain(text: str, limit: int = 24) -> dict:
    return {"type": "plain_text", "text": c.plain_clip(text, limit)}


def map_key_modal(ref: KeyRef) -> dict:
    return {
        "type": "modal",
        "callback_id": CallbackId.MAP_KEY_MODAL,
        "private_metadata": ref.encode(),
        "title": _plain("Map API key"),
        "submit": _plain("Map"),
        "close": _plain("Cancel"),
        "blocks": [
            c.section(f"Key `{c.escape(c.clip(ref.key, 200))}` ({c.tool(ref.source)}). Its usage so far, and from "
                      "now on, is attributed to this person."),
            {"type": "input", "block_id": BlockId.MAP_EMAIL, "label": _plain("Owner's email", 2000),
             "element": {"type": "plain_text_input", "action_id": ActionId.MAP_EMAIL_INPUT,
                         "placeholder": _plain("jane.doe@example.com", 150), "max_length": 254}},
        ],
    }


def settings_modal(values: Mapping[str, Any], *, backtest: str | None = None) -> dict:
    """`backtest`: what the last 30 days would have raised with these values (None: computing)."""
    blocks = [c.section(backtest or ":hourglass_flowing_sand: Working out what the last 30 days would have raised "
                                    "with these values…", block_id=BlockId.SETTINGS_BACKTEST),
              c.actions([c.button("Preview the last 30 days with these values", ActionId.SETTINGS_PREVIEW)],
                        block_id=BlockId.SETTINGS_ACTIONS)]
    for spec in SPECS:
        element: dict = {"type": "plain_text_input", "action_id": ActionId.SETTING_INPUT, "max_length": 3000,
                         "multiline": spec.kind == "ids"}
        initial = format_value(spec, values.get(spec.key))
        if initial:
            element["initial_value"] = initial[:3000]
        blocks.append({"type": "input", "block_id": f"{BlockId.SETTING_PREFIX}{spec.key}", "optional": True,
                       "label": _plain(spec.label, 2000), "hint": _plain(spec.hint, 2000), "element": element})
    return {"type": "modal", "callback_id": CallbackId.SETTINGS_MODAL, "title": _plain("Abacus settings"),
            "submit": _plain("Save"), "close": _plain("Cancel"), "blocks": blocks}
