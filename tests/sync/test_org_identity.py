"""An organisation whose admin key cannot read /v1/organizations/me keeps one identity across key
rotations (its users say who it is), so re-syncing the same days under a new key counts nothing
twice; another organisation stays apart. Figures by hand; SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.fakes.vendors import AnthropicOrg, FakeAnthropic

pytestmark = pytest.mark.e2e
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=1), TODAY]
OLD_KEY = "sk-ant-admin01-old-key-before-rotation-00000000aaaa"
NEW_KEY = "sk-ant-admin01-new-key-after-rotation-000000000bbbb"
OTHER_KEY = "sk-ant-admin01-another-organisation-key-0000000cccc"


def _org(org_id: str, email: str, user_id: str, cents: int) -> AnthropicOrg:
    rows = {d.isoformat(): [{
        "date": f"{d.isoformat()}T00:00:00Z", "actor": {"type": "user_actor", "email_address": email},
        "organization_id": org_id, "customer_type": "api", "terminal_type": "vscode",
        "core_metrics": {"num_sessions": 1, "lines_of_code": {"added": 1, "removed": 0},
                         "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0},
        "tool_actions": {},
        "model_breakdown": [{"model": "claude-sonnet-4-5",
                             "tokens": {"input": 1000, "output": 100, "cache_read": 0, "cache_creation": 0},
                             "estimated_cost": {"currency": "USD", "amount": cents}}]}] for d in DAYS}
    users = [{"id": user_id, "type": "user", "email": email, "name": email.split("@")[0], "role": "developer",
              "added_at": "2024-10-30T23:58:27Z"}]
    return AnthropicOrg(org_id=org_id, users=users, claude_code=rows, me_available=False)


def test_key_rotation_without_organizations_me_counts_nothing_twice(abacus_env, cli, monkeypatch, engine):
    ours = _org("org-ours", "jo@example.com", "user_01jo", 250)
    theirs = _org("org-theirs", "kim@example.com", "user_02kim", 70)
    with FakeAnthropic({OLD_KEY: ours, NEW_KEY: ours, OTHER_KEY: theirs}) as vendor:
        monkeypatch.setenv("ANTHROPIC_API_URL", vendor.url)
        monkeypatch.setenv("ABACUS_SYNC_RATE_LIMIT", "off")
        window = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]

        def sync(key: str) -> None:
            monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", key)
            out = cli("sync", "--source", "anthropic", *window, "--quiet")
            assert out.code == 0, out.err

        def report() -> dict:
            out = cli("report", *window, "--by", "user", "--format", "json")
            return {r["key"]: (r["input_tokens"], r["cost_usd"], r["active_days"]) for r in json.loads(out.out)["rows"]}

        sync(OLD_KEY)
        first = report()
        assert first == {"jo@example.com": (2000, 5.0, 2)}  # 1,000 tokens and $2.50 a day, two days
        sync(NEW_KEY)  # the key was rotated: the same organisation
        assert report() == first
        sync(OTHER_KEY)  # another organisation without `me`: its own identity
        assert report() == {"jo@example.com": (2000, 5.0, 2), "kim@example.com": (2000, 1.4, 2)}
    with engine.connect() as conn:
        orgs = {o for (o,) in conn.execute(text("SELECT DISTINCT org FROM usage_event"))}
    assert len(orgs) == 2 and not any("aaaa" in o or "bbbb" in o for o in orgs)
