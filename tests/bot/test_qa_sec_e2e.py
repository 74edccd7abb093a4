"""QA pass (security) end to end: the real `abacus run` against the fake Slack, a member clicking
buttons that are not theirs. Figures come from tests/bot/seed.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.blocks.payloads import IncidentRef
from bot.ids import ActionId
from storage.db import make_engine, session_scope, upgrade
from storage.tables import Incident
from tests.fakes.slack_pytest import launch_bot_process

from . import seed
from .seed import ALICE, BOB, CAROL

pytestmark = pytest.mark.e2e

VIEWERS_ONLY = "Only Abacus admins and viewers can see team-wide figures"


@pytest.fixture(scope="module")
def env(fake_slack_module, tmp_path_factory):
    fake = fake_slack_module
    folder = tmp_path_factory.mktemp("qa-sec")
    url = f"sqlite:///{folder / 'abacus.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed.seed(engine, datetime.now(UTC).date())
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        team = Incident(dedup_key="team", kind="team_budget", user_email=None, severity="warning", status="alerted",
                        value=120.0, threshold=100.0, message="team spend $120 is over the $100 budget",
                        data_at=now - timedelta(hours=1), opened_at=now - timedelta(hours=1))
        s.add(team)
        s.flush()
        team_id = team.id
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT user_email, id FROM incident WHERE user_email IS NOT NULL")).all())
    for uid, email in ((ALICE, "alice@example.com"), (BOB, "bob@example.com"), (CAROL, "carol@example.com")):
        fake.register_user(uid, email)
    bot = launch_bot_process(fake, {"DATABASE_URL": url, "ABACUS_ADMINS": ALICE, "ABACUS_SYNC_SCHEDULE": "5 5 1 1 *",
                                    "ABACUS_DIGEST_SCHEDULE": "off"}, log_dir=folder)
    yield {"fake": fake, "team": team_id, "bob": ids["bob@example.com"], "carol": ids["carol@example.com"]}
    assert bot.stop() == 0, bot.describe()
    engine.dispose()
    assert "Traceback" not in bot.stderr(), bot.describe()


def details(fake, incident_id: int, user: str) -> str:
    payload = fake.block_actions(ActionId.INCIDENT_DETAILS, IncidentRef(incident_id).encode(), user_id=user)
    response_id = payload["response_url"].rsplit("/", 1)[1]
    fake.send(payload)
    return fake.wait_response(lambda r: r.response_id == response_id, timeout=20).body.get("text") or ""


def test_a_member_gets_their_own_report_from_details_and_nothing_about_other_incidents(env):
    """Details on an incident that is not about a person answered a member "Incident #N is about
    <subject>", and an unknown id "no longer exists": a member learnt which incidents exist and
    what they are about. Now only their own incident answers; every other one is refused alike."""
    fake = env["fake"]
    assert details(fake, env["bob"], BOB).startswith("bob@example.com ")
    for other in (env["team"], env["carol"], 999_999):
        answer = details(fake, other, BOB)
        assert answer.startswith(VIEWERS_ONLY), answer
        assert "team" not in answer.replace("team-wide", "") and "exist" not in answer
    # a viewer still hears what the incident is about
    assert "is about" in details(fake, env["team"], CAROL)
    assert "no longer exists" in details(fake, 999_999, CAROL)
