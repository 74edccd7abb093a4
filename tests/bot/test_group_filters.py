"""`group:NAME` on dashboard, top, users, models and export: only the group's members count.
Fixture: three people's Cursor usage (imported) and a HiBob directory putting two of them in
"Platform > Infra" (3 people with the third, who has no usage). Expected figures by hand."""

from __future__ import annotations

import io

import pytest

from bot.import_service import ImportRequest, ImportService
from bot.services.grammar import UsageError, parse_command
from bot.services.reports import ReportService
from core.errors import InputError
from core.periods import DateRange
from storage.db import make_engine, upgrade

USAGE = (
    "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
    "Total Tokens,Cost\n"
    "2026-04-01T10:00:00Z,ann@example.com,Included,gpt-5,No,0,100,0,0,100,1.00\n"
    "2026-04-02T10:00:00Z,ann@example.com,Included,auto,No,0,50,0,0,50,0.50\n"
    "2026-04-01T11:00:00Z,ben@example.com,Included,gpt-5,No,0,200,0,0,200,2.00\n"
    "2026-04-01T12:00:00Z,cal@example.com,Included,gpt-5,No,0,400,0,0,400,4.00\n"
)
DIRECTORY = (
    "Email,Department,Group,Team\n"
    "ann@example.com,Eng,Platform,Infra\nben@example.com,Eng,Platform,Infra\nzed@example.com,Eng,Platform,Infra\n"
    "cal@example.com,Sales,,\n"
)


@pytest.fixture
def reports(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    service = ImportService(engine, email_domain=None)
    for name, text in (("usage.csv", USAGE), ("bob.csv", DIRECTORY)):
        service.run(ImportRequest(filename=name, open=lambda t=text: io.BytesIO(t.encode())))
    yield ReportService(engine)
    engine.dispose()


def _april():
    from datetime import date

    return DateRange(date(2026, 4, 1), date(2026, 4, 30))


def test_grammar_takes_a_group_on_the_five_views():
    for text in ("dashboard 7d group:Sales", "top 3 group:Sales", 'users group:"Platform &gt; Infra" ann',
                 "models group:Sales", "export 90d group:Sales share"):
        cmd = parse_command(text)
        assert cmd.group in ("Sales", "Platform > Infra")
    assert parse_command('users group:"Platform &gt; Infra" ann').query == "ann"
    assert parse_command("export 90d group:Sales share").share
    with pytest.raises(UsageError, match="works with dashboard"):
        parse_command("me group:Sales")
    with pytest.raises(UsageError, match="needs a name"):
        parse_command('top group:""')


def test_views_count_only_the_groups_members(reports):
    april = _april()
    infra = reports.group_members("platform > infra")  # names match case-insensitively
    assert infra == ["ann@example.com", "ben@example.com"]  # zed has no usage and no person until now
    dash = reports.dashboard(april, people=infra)
    # ann $1.00 + $0.50, ben $2.00 → $3.50; 100 + 50 + 200 tokens
    assert dash.current.cost_nanos == 3_500_000_000 and dash.current.total_tokens == 350
    assert dash.current.active_people == 2
    assert [m.model for m in dash.top_models] == ["gpt-5", "auto"]
    assert dash.top_models[0].cost_nanos == 3_000_000_000
    top = reports.top(april, 5, None, people=infra)
    assert [(r.person, r.cost_nanos) for r in top.rows] == [("ben@example.com", 2_000_000_000),
                                                             ("ann@example.com", 1_500_000_000)]
    assert top.total_nanos == 3_500_000_000
    models = reports.models(april, people=infra)
    assert [(m.model, m.cost_nanos, m.people) for m in models.rows] == [("gpt-5", 3_000_000_000, 2),
                                                                         ("auto", 500_000_000, 1)]
    users = reports.users(april, period_text="30d", sort=parse_command("users").sort, descending=True, query="",
                          offset=0, group="Platform > Infra")
    assert [r.person for r in users.rows] == ["ben@example.com", "ann@example.com"]
    assert users.group == "Platform > Infra"
    export = reports.export(april, people=reports.group_members("Sales")).csv.decode()
    assert "cal@example.com" in export and "ann@example.com" not in export
    assert export.splitlines()[-1].startswith("TOTAL,400,")


def test_an_unknown_group_is_bad_input(reports):
    with pytest.raises(InputError, match="no group named 'Nope'; groups: Platform > Infra, Sales"):
        reports.group_members("Nope")


def test_the_dashboard_of_a_group_notes_only_its_members_live_estimates(reports):
    """cal (not in "Platform > Infra") has live Claude Code telemetry for 2026-04-03. The team's
    dashboard says that day is a live estimate; the group's, where cal counts for nothing, said so too."""
    from datetime import UTC, date, datetime

    from core.usage import Feed, Source, UsageRecord, usd_to_nanos
    from storage.db import session_scope
    from storage.usage_repo import write_usage

    with session_scope(reports._engine) as s:
        write_usage([UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_OTEL_EVENTS, natural_key="live-cal",
                                 ts=datetime(2026, 4, 3, 9, tzinfo=UTC), person="cal@example.com",
                                 raw_model="claude-sonnet-4-5", model="sonnet-4.5", input_tokens=100,
                                 cost_nanos=usd_to_nanos("0.25"))], session=s)
    assert reports.dashboard(_april()).live_days == [date(2026, 4, 3)]
    group = reports.group_members("Platform > Infra")
    assert reports.dashboard(_april(), people=group).live_days == []
    assert reports.dashboard(_april(), people=reports.group_members("Sales")).live_days == [date(2026, 4, 3)]
