"""QA pass on what alerts and import previews put in front of people: the `text` of every message
(Slack parses it as mrkdwn for the notification and the screen reader, so a mention in a person's
name would ping the channel), the bold story of an alert with several signals, and the mention of
who cancelled an import."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from bot.blocks import alerts, imports
from bot.blocks.payloads import SharedFileRef
from bot.import_service import ImportOutcome
from core.importers.formats import ImportFormat
from core.incidents import AlertKind, AnomalyKind, IncidentStatus, Severity, Signal
from tests.bot.test_alert_delivery import view
from tests.fakes.blockkit import validate_message

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EVIL = "<!channel> <@U0ALICE> <https://evil.example|click> & *bold*"
LIVE = ("<!channel>", "<!here>", "<@U0ALICE>", "<https://evil.example|click>")


def _hostile_view(incident_id: int = 9, **kw):
    return view(incident_id, user=f"unmapped:{EVIL}", name=EVIL, message=f"{EVIL} spent $214 today", **kw)


def _assert_inert(text: str) -> None:
    for live in LIVE:
        assert live not in text, (live, text)


@pytest.mark.parametrize("render", [
    lambda: alerts.incident_message(_hostile_view(), now=NOW),
    lambda: alerts.incident_message(_hostile_view(status=IncidentStatus.RESOLVED), now=NOW),
    lambda: alerts.summary_message([_hostile_view(i) for i in range(1, 6)], now=NOW),
    lambda: alerts.thread_reply(_hostile_view(), AlertKind.ESCALATED, now=NOW),
    lambda: alerts.standalone_update(_hostile_view(), AlertKind.REALERT, now=NOW),
    lambda: alerts.nudge_message(_hostile_view(), None),
], ids=["alert", "resolved", "summary", "thread", "standalone", "nudge"])
def test_the_fallback_text_of_an_alert_carries_no_live_mention(render):
    message = render()
    assert validate_message({"text": message.text, "blocks": message.blocks}) == []
    _assert_inert(message.text)
    assert "&lt;!channel&gt;" in message.text or "channel" not in message.text


def _outcome(filename: str) -> ImportOutcome:
    return ImportOutcome(filename=filename, format=ImportFormat.CURSOR, variant="v2, with User", rows_read=3,
                         inserted=3)


@pytest.mark.parametrize("render", [
    lambda: imports.preview(_outcome(f"{EVIL}.csv"), SharedFileRef("F123")),
    lambda: imports.result(_outcome(f"{EVIL}.csv"), by="<@U0ADMIN>"),
    lambda: imports.closed(f"{EVIL}.csv", "import cancelled by <@U0ADMIN>; nothing was written"),
    lambda: imports.refused(f"{EVIL}.csv", "only CSV files can be imported"),
], ids=["preview", "result", "closed", "refused"])
def test_the_fallback_text_of_an_import_message_carries_no_live_mention_from_the_file_name(render):
    text, blocks = render()
    assert validate_message({"text": text, "blocks": blocks}) == []
    _assert_inert(text)


def test_who_cancelled_an_import_is_a_mention_and_the_file_name_stays_inert():
    text, blocks = imports.closed(f"{EVIL}.csv", "import cancelled by <@U0ADMIN>; nothing was written")
    shown = blocks[0]["text"]["text"]
    assert "cancelled by <@U0ADMIN>" in shown  # a real mention of the admin who clicked
    assert "&lt;@U0ADMIN&gt;" not in shown
    _assert_inert(shown)
    assert "<@U0ADMIN>" in text and "<!channel>" not in text


def test_a_story_with_several_signals_is_bold_line_by_line():
    """Slack's *bold* does not span a line break: `*a\\n• b*` shows both asterisks literally."""
    extra = Signal(kind=AnomalyKind.ZSCORE_SPEND, severity=Severity.WARNING, day=date(2026, 3, 1), value=214.0,
                   baseline=40.0, baseline_label="team mean", unit="usd",
                   message="Alice spent $214, 3.1σ above the team", data_at=NOW, ratio=3.1)
    v = view(7)
    v = dataclasses.replace(v, signals=(*v.signals, extra))
    story = alerts.incident_message(v, now=NOW).blocks[1]["text"]["text"]
    for line in story.split("\n"):
        assert line.count("*") % 2 == 0, story
    assert story.split("\n")[0] == "*Alice spent $214 today, 4.2× her 7-day average of $51*"
    assert "• Alice spent $214, 3.1σ above the team" in story


# --- incident_snooze payloads (docs/contract.md: the selected option's value identifies the incident) ---

@pytest.mark.parametrize(("option", "expected"), [
    ({"text": {"type": "plain_text", "text": "Snooze 4 hours"}, "value": '{"v":1,"id":7,"for":"4h"}'}, (7, "4h")),
    ({"text": {"type": "plain_text", "text": "1 h"}, "value": "7"}, (7, "1h")),
    ({"text": {"type": "plain_text", "text": "4 hours"}, "value": "7"}, (7, "4h")),
    ({"text": {"type": "plain_text", "text": "Snooze 1 day"}, "value": "7"}, (7, "1d")),
    ({"text": {"type": "plain_text", "text": "7 d"}, "value": "7"}, (7, "7d")),
    ({"text": {"type": "plain_text", "text": "x"}, "value": "7:1d"}, (7, "1d")),
    ({"text": {"type": "plain_text", "text": "x"}, "value": "7|7d"}, (7, "7d")),
    ({"text": {"type": "plain_text", "text": "x"}, "value": '{"incident_id":7,"snooze":"1 h"}'}, (7, "1h")),
])
def test_a_snooze_option_names_its_incident_and_a_duration_in_any_plain_shape(option, expected):
    from bot.listeners.incidents import _ref
    from core.incidents import parse_snooze

    ref = _ref({"action_id": "incident_snooze", "type": "static_select", "selected_option": option})
    assert ref is not None and (ref.id, ref.snooze) == expected
    parse_snooze(ref.snooze)  # one of the durations the service accepts


def test_a_snooze_option_without_any_duration_is_not_guessed():
    from bot.listeners.incidents import _ref

    ref = _ref({"action_id": "incident_snooze", "selected_option": {"text": {"type": "plain_text", "text": "later"},
                                                                    "value": "7"}})
    assert ref is not None and ref.id == 7 and ref.snooze is None


def test_the_commands_quoted_in_a_refusal_or_warning_keep_their_code_formatting():
    """Our own messages quote commands in backticks; escaping them into look-alike glyphs showed
    people `ˋ/abacus meˋ`. What a user typed still renders literally."""
    from bot.blocks import help
    from bot.listeners.incidents import EXPIRED
    from bot.services.authz import REFUSALS, Role

    refusal = help.refusal_blocks(REFUSALS[Role.VIEWER])[0]["text"]["text"]
    assert "`/abacus me`" in refusal and "\u02cb" not in refusal
    warning = help.warning_blocks(EXPIRED)[0]["text"]["text"]
    assert "`/abacus incidents`" in warning and "\u02cb" not in warning
    hostile = help.warning_blocks("unknown subcommand `<!channel> *x*` (`abacus <@U1>`)")[0]["text"]["text"]
    assert "<!channel>" not in hostile and "<@U1>" not in hostile and "`<" not in hostile


def test_bidirectional_overrides_in_a_name_cannot_reorder_an_alert():
    """A right-to-left override in a name (`\\u202e`) would display the rest of the line reversed — the
    dollars included ("$214" read as "412$"). Names keep their letters, lose the controls."""
    from bot.blocks import common

    rtl = "\u202eevE\u202c \u2066x\u2069 \u200fy"
    v = view(9, name=rtl, message=f"{rtl} spent $214 today")
    message = alerts.incident_message(v, now=NOW)
    shown = "\n".join([message.text, *(b["text"]["text"] for b in message.blocks if b.get("text"))])
    for control in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200f"):
        assert control not in shown
    assert "evE" in common.escape(rtl) and "spent $214 today" in shown
    assert "داشبورد" in common.escape("داشبورد")  # right-to-left letters themselves stay


# --- 4 or more first alerts of a run: ONE summary message in which each incident can be acted on ---

@pytest.mark.parametrize("count", [21, 30, 42])
def test_a_big_run_is_still_one_summary_with_every_incident_actionable(count):
    views = [view(i, user=f"p{i}@example.com", name=f"Person {i} " + "x" * 200, message="A very long story " * 40)
             for i in range(1, count + 1)]
    message = alerts.summary_message(views, now=NOW)
    assert validate_message({"text": message.text, "blocks": message.blocks}) == []
    assert len(message.blocks) <= 50
    assert message.blocks[0]["text"]["text"] == f":warning: {count} new incidents"
    actions = [b for b in message.blocks if b["type"] == "actions"]
    assert [b["block_id"] for b in actions] == [f"incident:{i}" for i in range(1, count + 1)]
    for i, block in enumerate(actions, start=1):
        ids = [e["action_id"] for e in block["elements"]]
        assert ids == ["incident_ack", "incident_resolve", "incident_snooze"], ids
        assert all(e.get("value") == str(i) for e in block["elements"] if e["type"] == "button")
        assert f"#{i}" in block["elements"][0]["text"]["text"]  # the button says which incident
    listed = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert all(f"#{i} " in listed for i in range(1, count + 1))


def test_a_run_of_25_first_alerts_is_posted_as_one_message(engine):
    from slack_sdk import WebClient

    from bot.services.alerting import AlertSender
    from tests.bot.test_alert_delivery import Clock, MemoryStore, add_incidents, queue
    from tests.fakes.slack import BOT_TOKEN, FakeSlack

    add_incidents(engine, range(1, 26))
    for i in range(1, 26):
        queue(engine, i, batch="run-big")
    store = MemoryStore([view(i, user=f"p{i}@example.com") for i in range(1, 26)])
    with FakeSlack() as slack:
        slack.register_channel("C0ALERTS", "alerts")
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        sender = AlertSender(engine, client, channel="C0ALERTS", store=store, clock=Clock())
        assert sender.drain().sent == 25
        [post] = [c for c in slack.calls("chat.postMessage") if c.ok]
        assert post["blocks"][0]["text"]["text"] == ":warning: 25 new incidents"
        assert validate_message(post.body) == []


def test_a_group_filtered_reply_does_not_carry_a_live_mention_from_the_group_name():
    from bot.services.commands import _in_group
    from bot.services.reply import Reply

    reply = _in_group(Reply(text="AI coding spend 30d: $10.00", blocks=[]), "<!channel> Platform", ["a@x.io"])
    _assert_inert(reply.text)
    assert reply.text.startswith("[group &lt;!channel&gt; Platform]")
