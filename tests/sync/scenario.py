"""A scripted team for the sync tests: what the fake vendors serve, and what reports must then say.

Every expected figure is written here by hand next to the payload it comes from (costs as decimal
literals, with the arithmetic in a comment); tests aggregate these contributions with plain sums and
never ask the code under test.

Days: D1..D3 are the three days before today, D4 is today.
  Anthropic org: Claude Code analytics on D1 and D2; the messages report has rows on D1 and D2
  (superseded by analytics: not counted) and on D3 (counted: no analytics that day), an empty D4.
  Cursor team 1: events D1..D3 incl. identical twins and day-boundary events; new /teams/spend shape.
  Cursor team 2: two events; old /teams/spend shape; no billing groups (403).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from tests.fakes.vendors import AnthropicOrg, CursorTeam, EventList, day_ms

ORG_ID = "1b2c3d4e-0000-4000-8000-00000000abcd"
DOMAIN = "example.com"


@dataclass(frozen=True)
class Expect:
    """One record's contribution to the reports."""

    person: str
    model: str
    day: date
    input: int = 0
    cache_write: int = 0
    cache_read: int = 0
    output: int = 0
    cost: Decimal = Decimal(0)  # USD
    requests: int = 0


@dataclass
class Scenario:
    today: date
    anthropic_key: str
    cursor_keys: list[str]
    org: AnthropicOrg
    teams: dict[str, CursorTeam]
    expected: list[Expect] = field(default_factory=list)

    @property
    def days(self) -> list[date]:
        return [self.today - timedelta(days=3 - i) for i in range(4)]

    @property
    def secrets(self) -> list[str]:
        return [self.anthropic_key, *self.cursor_keys]


def make_keys() -> tuple[str, list[str]]:
    return ("sk-ant-admin01-" + secrets.token_urlsafe(40), ["key_" + secrets.token_hex(32),
                                                            "crsr_" + secrets.token_hex(24)])


def _cc_row(day: date, actor: dict, breakdown: list[dict], *, terminal: str = "vscode", remote: bool = False,
            sessions: int = 1) -> dict:
    return {"date": f"{day.isoformat()}T00:00:00Z", "actor": actor, "organization_id": ORG_ID,
            "customer_type": "api", "subscription_type": None, "terminal_type": terminal, "is_remote": remote,
            "core_metrics": {"num_sessions": sessions, "lines_of_code": {"added": 10, "removed": 3},
                             "commits_by_claude_code": 1, "pull_requests_by_claude_code": 0},
            "tool_actions": {"edit_tool": {"accepted": 4, "rejected": 1}, "write_tool": {"accepted": 2, "rejected": 0}},
            "model_breakdown": breakdown}


def _mb(model: str, inp: int, out: int, read: int, creation: int, cents) -> dict:
    return {"model": model, "tokens": {"input": inp, "output": out, "cache_read": read, "cache_creation": creation},
            "estimated_cost": {"currency": "USD", "amount": cents}}


def _msg(key_id: str | None, ws: str | None, model: str, unc: int, c5: int, c1: int, read: int, out: int,
         context_window: str | None = None) -> dict:
    return {"uncached_input_tokens": unc, "cache_creation": {"ephemeral_1h_input_tokens": c1,
                                                             "ephemeral_5m_input_tokens": c5},
            "cache_read_input_tokens": read, "output_tokens": out, "server_tool_use": {"web_search_requests": 0},
            "api_key_id": key_id, "workspace_id": ws, "model": model, "service_tier": None,
            "context_window": context_window, "inference_geo": None, "account_id": None, "service_account_id": None}


def _ev(ms: int, email: str, model: str, tokens: tuple[int, int, int, int] | None, *, charged=None, total=None,
        fee=None, kind: str = "Usage-based") -> dict:
    ev = {"timestamp": str(ms), "userEmail": email, "model": model, "kind": kind, "maxMode": False,
          "requestsCosts": 1, "isTokenBasedCall": tokens is not None, "isChargeable": True, "isHeadless": False}
    if tokens is not None:
        inp, out, cw, cr = tokens
        ev["tokenUsage"] = {"inputTokens": inp, "outputTokens": out, "cacheWriteTokens": cw, "cacheReadTokens": cr}
        if total is not None:
            ev["tokenUsage"]["totalCents"] = total
    if charged is not None:
        ev["chargedCents"] = charged
    if fee is not None:
        ev["cursorTokenFee"] = fee
    return ev


def build(today: date, anthropic_key: str | None = None, cursor_keys: list[str] | None = None) -> Scenario:
    if anthropic_key is None or cursor_keys is None:
        anthropic_key, cursor_keys = make_keys()
    d1, d2, d3, d4 = (today - timedelta(days=3 - i) for i in range(4))
    E: list[Expect] = []

    # ---- Anthropic -----------------------------------------------------------------------------
    users = [{"id": "user_01alice", "type": "user", "email": "alice@example.com", "name": "Alice", "role": "developer",
              "added_at": "2024-10-30T23:58:27Z"},
             {"id": "user_02bob", "type": "user", "email": "bob@example.com", "name": "Bob", "role": "developer",
              "added_at": "2024-10-30T23:58:27Z"},
             {"id": "user_03carol", "type": "user", "email": "carol@example.com", "name": "Carol",
              "role": "claude_code_user", "added_at": "2025-02-11T08:00:00Z"}]
    workspaces = [{"id": "wrkspc_cc", "type": "workspace", "name": "Claude Code", "archived_at": None},
                  {"id": "wrkspc_prod", "type": "workspace", "name": "Production", "archived_at": None}]

    def key(kid, name, ws, creator):
        return {"id": kid, "type": "api_key", "name": name, "created_at": "2025-01-01T00:00:00Z",
                "created_by": {"id": creator, "type": "user"} if creator else None, "expires_at": None,
                "partial_key_hint": "sk-ant-api03-abc...wxyz", "status": "active", "workspace_id": ws}

    api_keys = [key("apikey_01dave", "claude_code_key_dave.smith_ab12", "wrkspc_cc", None),  # pattern → dave.smith
                key("apikey_02ci", "ci-bot-key", "wrkspc_prod", "user_02bob"),  # vendor → bob
                key("apikey_03prod", "prod-backend", "wrkspc_prod", "user_01alice"),  # not Claude Code
                key("apikey_04ccws", "cc-workspace-key", "wrkspc_cc", None),  # Claude Code workspace, no owner
                key("apikey_05laptop", "alice-laptop", "wrkspc_cc", "user_01alice")]  # vendor → alice

    claude_code = {
        d1.isoformat(): [
            _cc_row(d1, {"type": "user_actor", "email_address": "alice@example.com"},
                    [_mb("claude-sonnet-4-5-20250929", 100000, 35000, 10000, 5000, 141),
                     _mb("claude-haiku-4-5-20251001", 2000, 300, 0, 0, 1)], sessions=5),
            _cc_row(d1, {"type": "user_actor", "email_address": "alice@example.com"},
                    [_mb("claude-opus-4-6", 5000, 1000, 0, 0, 50)], remote=True, terminal="web"),
            _cc_row(d1, {"type": "api_actor", "api_key_name": "ci-bot-key"},
                    [_mb("claude-haiku-4-5-20251001", 20000, 4000, 50000, 3000, 7)], terminal="tmux"),
        ],
        d2.isoformat(): [
            _cc_row(d2, {"type": "user_actor", "email_address": "carol@example.com"},
                    [_mb("claude-sonnet-4-5-20250929", 1000, 100, 0, 0, 2)]),
            _cc_row(d2, {"type": "api_actor", "api_key_name": "claude_code_key_dave.smith_ab12"},
                    [_mb("claude-sonnet-4-5-20250929", 4000, 400, 0, 0, 3.5)]),
            _cc_row(d2, {"type": "user_actor", "email_address": "ALICE@Example.com"},
                    [_mb("claude-haiku-4-5-20251001", 10, 10, 0, 0, 0)], terminal="iTerm.app"),
        ],
    }
    # analytics: cost = estimated_cost.amount cents / 100; cache_creation counts as cache writes
    E += [Expect("alice@example.com", "sonnet-4.5", d1, 100000, 5000, 10000, 35000, Decimal("1.41")),
          Expect("alice@example.com", "haiku-4.5", d1, 2000, 0, 0, 300, Decimal("0.01")),
          Expect("alice@example.com", "opus-4.6", d1, 5000, 0, 0, 1000, Decimal("0.50")),
          Expect("bob@example.com", "haiku-4.5", d1, 20000, 3000, 50000, 4000, Decimal("0.07")),
          Expect("carol@example.com", "sonnet-4.5", d2, 1000, 0, 0, 100, Decimal("0.02")),
          Expect("dave.smith@example.com", "sonnet-4.5", d2, 4000, 0, 0, 400, Decimal("0.035")),
          Expect("alice@example.com", "haiku-4.5", d2, 10, 0, 0, 10, Decimal("0"))]

    messages = {
        # D1/D2: covered by analytics → superseded, never counted
        d1.isoformat(): [_msg("apikey_01dave", "wrkspc_cc", "claude-sonnet-4-20250514", 9000, 0, 0, 0, 900),
                         _msg("apikey_03prod", "wrkspc_prod", "claude-sonnet-4-20250514", 1, 0, 0, 0, 1)],
        d2.isoformat(): [_msg("apikey_05laptop", "wrkspc_cc", "claude-haiku-4-5-20251001", 777, 0, 0, 0, 77)],
        # D3: no analytics → the messages report is the day's Claude Code usage
        d3.isoformat(): [
            _msg("apikey_01dave", "wrkspc_cc", "claude-sonnet-4-20250514", 1500, 500, 1000, 200, 500),
            _msg("apikey_04ccws", "wrkspc_cc", "claude-haiku-4-5-20251001", 42000, 12000, 0, 310000, 9100),
            _msg("apikey_03prod", "wrkspc_prod", "claude-sonnet-4-20250514", 5_000_000, 0, 0, 0, 100_000),  # dropped
            _msg(None, None, "claude-opus-4-6", 1234, 0, 0, 0, 12),  # Console usage: dropped
            _msg("apikey_01dave", "wrkspc_cc", "claude-sonnet-4-5-20250929", 300000, 0, 0, 0, 2000, "200k-1M"),
            _msg("apikey_05laptop", "wrkspc_cc", "claude-sonnet-4-20250514", 100, 0, 0, 0, 10),
        ],
        # D4 (today): an empty bucket
    }
    # messages: priced from the table ($/Mtok): sonnet-4 in 3 / 5m 3.75 / 1h 6 / read 0.30 / out 15;
    # haiku-4.5 in 1 / 5m 1.25 / read 0.10 / out 5; sonnet-4.5 long context (200k-1M): in 6 / out 22.50
    E += [Expect("dave.smith@example.com", "sonnet-4", d3, 1500, 1500, 200, 500,
                 Decimal("0.019935")),  # 1500*3 + 500*3.75 + 1000*6 + 200*0.3 + 500*15 = 19935 µ$
          Expect("unmapped:cc-workspace-key", "haiku-4.5", d3, 42000, 12000, 310000, 9100,
                 Decimal("0.1335")),  # 42000*1 + 12000*1.25 + 310000*0.1 + 9100*5 = 133500 µ$
          Expect("dave.smith@example.com", "sonnet-4.5", d3, 300000, 0, 0, 2000,
                 Decimal("1.845")),  # 300000*6 + 2000*22.5 = 1845000 µ$
          Expect("alice@example.com", "sonnet-4", d3, 100, 0, 0, 10,
                 Decimal("0.00045"))]  # 100*3 + 10*15 = 450 µ$

    cost = {d1.isoformat(): [
        {"amount": "123.78912", "currency": "USD", "cost_type": "tokens",
         "description": "Claude Sonnet 4 Usage - Input Tokens", "model": "claude-sonnet-4-20250514",
         "token_type": "uncached_input_tokens", "service_tier": "standard", "context_window": "0-200k",
         "inference_geo": None, "workspace_id": "wrkspc_cc"},
        {"amount": "10", "currency": "USD", "cost_type": "web_search", "description": "Web Search Usage",
         "model": None, "token_type": None, "service_tier": None, "context_window": None, "inference_geo": None,
         "workspace_id": None}]}

    org = AnthropicOrg(org_id=ORG_ID, users=users, api_keys=api_keys, workspaces=workspaces, claude_code=claude_code,
                       messages=messages, cost=cost)

    # ---- Cursor team 1 -------------------------------------------------------------------------------
    t1_events = [
        _ev(day_ms(d1, 10), "alice@example.com", "claude-4.5-sonnet", (126, 450, 6112, 11964),
            total=20.18232, charged=21.36232, fee=1.18),
        _ev(day_ms(d1, 10), "alice@example.com", "claude-4.5-sonnet", (126, 450, 6112, 11964),
            total=20.18232, charged=21.36232, fee=1.18),  # an identical twin: a second, real event
        _ev(day_ms(d1, 11, 30, 0, 500), "erin@example.com", "gpt-5", (5805, 311, 11964, 0),
            total=40.167, fee=1.18),  # no chargedCents: totalCents + cursorTokenFee
        _ev(day_ms(d1, 12), "erin@example.com", "claude-4-sonnet-thinking", None, charged=8,
            kind="Included in Business"),  # request-based: no tokens, still a request
        _ev(day_ms(d1, 23, 59, 59, 999), "alice@example.com", "auto", (1000, 200, 0, 0), total=0.5),  # last ms
        _ev(day_ms(d2, 0), "alice@example.com", "auto", (1000, 200, 0, 0), charged=0.5),  # first ms of D2
        _ev(day_ms(d2, 9, 15, 0, 250), "erin@example.com", "claude-4-sonnet-thinking", None,
            kind="Errored, No Charge"),  # no price at all: cost 0, one request
        _ev(day_ms(d2, 14), "frank@example.com", "claude-4.5-sonnet", (10, 20, 0, 0), charged=1.5),
        _ev(day_ms(d3, 8), "alice@example.com", "gpt-5", (50, 5, 0, 0), charged=3.33333),
        _ev(day_ms(d3, 8, 0, 0, 1), "alice@example.com", "gpt-5", (50, 5, 0, 0), charged=0.00001),
        _ev(day_ms(d3, 9), "alice@example.com", "gpt-5", (60, 6, 0, 0), charged=2),
    ]
    E += [Expect("alice@example.com", "sonnet-4.5", d1, 126, 6112, 11964, 450, Decimal("0.2136232"), 1),
          Expect("alice@example.com", "sonnet-4.5", d1, 126, 6112, 11964, 450, Decimal("0.2136232"), 1),
          Expect("erin@example.com", "gpt-5", d1, 5805, 11964, 0, 311, Decimal("0.41347"), 1),  # 40.167+1.18 ¢
          Expect("erin@example.com", "sonnet-4-thinking", d1, 0, 0, 0, 0, Decimal("0.08"), 1),
          Expect("alice@example.com", "auto", d1, 1000, 0, 0, 200, Decimal("0.005"), 1),
          Expect("alice@example.com", "auto", d2, 1000, 0, 0, 200, Decimal("0.005"), 1),
          Expect("erin@example.com", "sonnet-4-thinking", d2, 0, 0, 0, 0, Decimal("0"), 1),
          Expect("frank@example.com", "sonnet-4.5", d2, 10, 0, 0, 20, Decimal("0.015"), 1),
          Expect("alice@example.com", "gpt-5", d3, 50, 0, 0, 5, Decimal("0.0333333"), 1),
          Expect("alice@example.com", "gpt-5", d3, 50, 0, 0, 5, Decimal("0.0000001"), 1),
          Expect("alice@example.com", "gpt-5", d3, 60, 0, 0, 6, Decimal("0.02"), 1)]

    members1 = [{"id": "user_alice", "name": "Alice", "email": "alice@example.com", "role": "owner",
                 "isRemoved": False},
                {"id": "user_erin", "name": "Erin", "email": "erin@example.com", "role": "member", "isRemoved": False},
                {"id": "user_frank", "name": "Frank", "email": "frank@example.com", "role": "member",
                 "isRemoved": True}]
    daily1 = []
    for d in (d1, d2, d3):
        for email, active in (("alice@example.com", True), ("erin@example.com", d != d3), ("frank@example.com", False)):
            daily1.append({"userId": email.split("@")[0], "day": d.isoformat(), "date": day_ms(d), "email": email,
                           "isActive": active, "totalLinesAdded": 100 if active else 0, "totalLinesDeleted": 5,
                           "acceptedLinesAdded": 50 if active else 0, "acceptedLinesDeleted": 2, "totalApplies": 3,
                           "totalAccepts": 2, "totalRejects": 1, "totalTabsShown": 30, "totalTabsAccepted": 20,
                           "composerRequests": 4, "chatRequests": 5, "agentRequests": 6, "cmdkUsages": 7,
                           "subscriptionIncludedReqs": 8, "apiKeyReqs": 0, "usageBasedReqs": 1, "bugbotUsages": 0,
                           "mostUsedModel": "gpt-5" if active else None, "applyMostUsedExtension": ".py",
                           "tabMostUsedExtension": ".ts", "clientVersion": "1.7.0" if active else None})
    spend1 = [{"userId": "user_alice", "name": "Alice", "email": "alice@example.com", "role": "owner",
               "spendCents": 2450.125487, "overallSpendCents": 3200.750456, "fastPremiumRequests": 1250,
               "hardLimitOverrideDollars": 0, "monthlyLimitDollars": 200, "effectivePerUserLimitDollars": 100},
              {"userId": "user_erin", "name": "Erin", "email": "erin@example.com", "role": "member",
               "spendCents": 0, "overallSpendCents": 500, "fastPremiumRequests": 0, "hardLimitOverrideDollars": 0,
               "monthlyLimitDollars": None}]
    groups1 = {"groups": [{"id": "group_eng", "name": "Engineering", "type": "BILLING", "directoryGroupId": None,
                           "memberCount": 2, "spendCents": 100,
                           "currentMembers": [{"userId": "user_alice", "name": "Alice", "email": "alice@example.com"},
                                              {"userId": "user_erin", "name": "Erin", "email": "erin@example.com"}],
                           "formerMembers": [], "dailySpend": []}],
               "unassignedGroup": {"id": "group_unassigned", "name": "Unassigned", "type": "BILLING",
                                   "currentMembers": [{"userId": "user_frank", "email": "frank@example.com"}]},
               "billingCycle": {"cycleStart": f"{d1.isoformat()}T00:00:00.000Z",
                                "cycleEnd": f"{(d1 + timedelta(days=30)).isoformat()}T00:00:00.000Z"}}
    team1 = CursorTeam(members=members1, events=EventList(t1_events), daily=daily1, spend=spend1,
                       cycle_start_ms=day_ms(d1), groups=groups1)

    # ---- Cursor team 2 ------------------------------------------------------------------------------
    t2_events = [_ev(day_ms(d2, 8), "gina@example.com", "composer-1", (300, 30, 0, 100), charged=0.42),
                 _ev(day_ms(d3, 8), "gina@example.com", "composer-1", (300, 30, 0, 100), charged=0.42)]
    E += [Expect("gina@example.com", "composer-1", d2, 300, 0, 100, 30, Decimal("0.0042"), 1),
          Expect("gina@example.com", "composer-1", d3, 300, 0, 100, 30, Decimal("0.0042"), 1)]
    team2 = CursorTeam(members=[{"id": 42, "name": "Gina", "email": "gina@example.com", "role": "member"}],
                       events=EventList(t2_events),
                       spend=[{"email": "gina@example.com", "spendCents": 1000, "includedSpendCents": 800,
                               "fastPremiumRequests": 5}],  # the old shape: no overallSpendCents
                       cycle_start_ms=day_ms(d1), groups=None)

    return Scenario(today=today, anthropic_key=anthropic_key, cursor_keys=cursor_keys, org=org,
                    teams={cursor_keys[0]: team1, cursor_keys[1]: team2}, expected=E)


# ---- expected report rows, aggregated by hand -------------------------------------------------------------

def _usd4(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))


def expected_rows(contributions: list[Expect], by: str, *, source_filter=None) -> dict[str, dict]:
    acc: dict[str, dict] = defaultdict(lambda: {"input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0,
                                                "cache_read_tokens": 0, "cost": Decimal(0), "requests": 0,
                                                "days": set()})
    for c in contributions:
        row = acc[c.person if by == "user" else c.model]
        row["input_tokens"] += c.input
        row["output_tokens"] += c.output
        row["cache_write_tokens"] += c.cache_write
        row["cache_read_tokens"] += c.cache_read
        row["cost"] += c.cost
        row["requests"] += c.requests
        row["days"].add(c.day)
    out = {}
    for k, r in acc.items():
        out[k] = {"input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
                  "cache_write_tokens": r["cache_write_tokens"], "cache_read_tokens": r["cache_read_tokens"],
                  "total_tokens": r["input_tokens"] + r["output_tokens"] + r["cache_write_tokens"]
                  + r["cache_read_tokens"], "cost_usd": _usd4(r["cost"]), "requests": r["requests"],
                  "active_days": len(r["days"])}
    return out


def report_rows(report: dict) -> dict[str, dict]:
    return {row["key"]: {k: v for k, v in row.items() if k != "key"} for row in report["rows"]}
