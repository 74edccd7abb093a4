"""Block Kit for CSV files shared with the bot: the preview (with Import / Cancel, and for a HiBob
directory the moves to approve), the result that replaces it, and refusals."""

from __future__ import annotations

from bot.blocks import common as c
from bot.blocks.payloads import SharedFileRef
from bot.ids import ActionId, BlockId
from core.groups import GroupPlan
from core.usage import nanos_to_usd

MOVES_PER_BLOCK = 10  # Slack's limit of options per checkbox group
MAX_SELECTABLE_MOVES = 30  # three checkbox groups; more moves are approved as a whole


def _summary(outcome, *, preview: bool) -> list[dict]:
    t = outcome.totals
    pairs = [("Format", f"{outcome.format.label} ({c.escape(outcome.variant)})"),
             ("Rows", f"{outcome.rows_read:,} read")]
    if outcome.format.value == "hibob":
        plan = outcome.groups
        pairs += [("People", f"{len(outcome.people):,} in the file, {len(plan.unmatched):,} not matched"),
                  ("Moves", f"{len(plan.moves):,}" + (" to approve" if preview else " applied"))]
    else:
        pairs += [("New" if preview else "Inserted", f"{outcome.inserted:,}"),
                  ("Already present", f"{outcome.duplicates:,}")]
        if outcome.first_day:
            pairs += [("Days", f"{outcome.first_day} → {outcome.last_day}"), ("People", f"{len(outcome.people):,}"),
                      ("Tokens", f"{t.total_tokens:,}"), ("Cost", f"${nanos_to_usd(t.cost_nanos):,.2f}")]
            if t.requests:
                pairs.append(("Requests", f"{t.requests:,}"))
    if outcome.rejected:
        pairs.append(("Invalid rows", f"{outcome.rejected:,}"))
    if outcome.skipped:
        pairs.append(("Skipped", "\n".join(f"{n:,}: {c.escape(reason)}" for reason, n in outcome.skipped.items())))
    return c.fields(pairs)


def _errors(outcome) -> list[dict]:
    if not outcome.errors:
        return []
    lines = "\n".join(e.text() for e in outcome.errors[:10])
    more = f"\n… {outcome.rejected - 10:,} more" if outcome.rejected > 10 else ""
    return [c.section("*Invalid rows* (not imported):\n```" + c.escape(lines.replace("`", "'")) + more + "```")]


def _group_blocks(plan: GroupPlan, *, selectable: bool) -> list[dict]:
    blocks: list[dict] = []
    moves = plan.moves
    if moves and selectable and len(moves) <= MAX_SELECTABLE_MOVES:
        blocks.append(c.section("*Moves* — untick the ones you do not want, then Import:"))
        for n, start in enumerate(range(0, len(moves), MOVES_PER_BLOCK)):
            options = [c.option(f"{m.email}: {m.from_group or '(no group)'} → {m.to_group}", m.email)
                       for m in moves[start:start + MOVES_PER_BLOCK]]
            blocks.append({"type": "actions", "block_id": f"{BlockId.IMPORT_MOVES_PREFIX}{n}",
                           "elements": [{"type": "checkboxes", "action_id": ActionId.IMPORT_MOVES,
                                         "options": options, "initial_options": options}]})
    elif moves:
        shown = "\n".join(f"{c.escape(m.email)}: {c.escape(m.from_group or '(no group)')} → {c.escape(m.to_group)}"
                          for m in moves[:40])
        more = f"\n… and {len(moves) - 40:,} more" if len(moves) > 40 else ""
        blocks.append(c.section(f"*Moves*\n{shown}{more}"))
    notes = []
    if plan.created:
        notes.append("*Groups to create:* " + ", ".join(c.escape(g) for g in plan.created[:30]))
    if plan.merges:
        notes.append("*Small teams merged:* " + "; ".join(f"{c.escape(m.team)} ({m.people}) → {c.escape(m.into)}"
                                                           for m in plan.merges[:20]))
    if plan.unmatched:
        notes.append(f"*Not matched* ({len(plan.unmatched):,}): " + ", ".join(c.escape(e) for e in plan.unmatched[:20])
                     + (" …" if len(plan.unmatched) > 20 else ""))
    if plan.cleared:
        notes.append(f"*Leaving directory groups* ({len(plan.cleared):,}): "
                     + ", ".join(c.escape(e) for e in plan.cleared[:20]))
    if plan.removed:
        notes.append("*Empty groups to remove:* " + ", ".join(c.escape(g) for g in plan.removed[:20]))
    blocks += [c.section(n) for n in notes]
    return blocks


def preview(outcome, ref: SharedFileRef) -> tuple[str, list[dict]]:
    """The preview of a shared file, with Import / Cancel."""
    text = c.fallback(f"Import preview: {outcome.filename} — {outcome.format.label}, {outcome.rows_read:,} rows, "
                      f"{outcome.inserted:,} new")
    blocks = [c.header(f"Import preview: {outcome.filename}"), *_summary(outcome, preview=True), *_errors(outcome)]
    if outcome.groups is not None:
        blocks += _group_blocks(outcome.groups, selectable=True)
    label = f"Import the {outcome.rows_read - outcome.rejected:,} valid rows" if outcome.rejected else "Import"
    blocks.append(c.actions([c.button(label, ActionId.IMPORT_CONFIRM, ref.encode(), style="primary"),
                             c.button("Cancel", ActionId.IMPORT_CANCEL, ref.encode())],
                            block_id=BlockId.IMPORT_ACTIONS))
    blocks.append(c.context("Nothing is written until you press Import. Re-importing a file adds nothing."))
    return text, c.cap_blocks(blocks)


def result(outcome, *, by: str) -> tuple[str, list[dict]]:
    text = f"Imported {outcome.filename}: {outcome.inserted:,} new, {outcome.duplicates:,} already present"
    if outcome.format.value == "hibob":
        ch = outcome.group_changes or {}
        text = (f"Imported {outcome.filename}: {ch.get('moved', 0)} moved, {ch.get('created', 0)} group(s) created, "
                f"{ch.get('removed', 0)} removed")
    text = c.fallback(text)
    blocks = [c.header(f"Imported: {outcome.filename}"), *_summary(outcome, preview=False)]
    if outcome.groups is not None:
        blocks += _group_blocks(outcome.groups, selectable=False)
    blocks += [c.section(c.escape(n)) for n in outcome.notes[:5]]
    blocks.append(c.context(f"Import batch #{outcome.batch_id} by {by} · `abacus imports` lists every import"))
    return text, c.cap_blocks(blocks)


def closed(filename: str, what: str) -> tuple[str, list[dict]]:
    """A preview that was cancelled (or can no longer be used). `what` is the bot's own words and
    may carry a mention of who did it (`<@U…>`); the file name is the sharer's and stays inert."""
    text = f"{c.fallback(filename, 300)}: {what}"
    return text, [c.section(f":no_entry_sign: *{c.escape(filename)}*: {what}")]


def refused(filename: str, why: str) -> tuple[str, list[dict]]:
    text = c.fallback(f"Cannot import {filename}: {why}")
    lines = why.split("\n")
    body = c.escape(lines[0]) + ("\n```" + c.escape("\n".join(lines[1:])) + "```" if len(lines) > 1 else "")
    return text, [c.section(f":warning: *Cannot import {c.escape(filename)}*: {body}")]
