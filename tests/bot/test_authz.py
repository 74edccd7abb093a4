"""Who sees what: the pure role rule, per-subcommand requirements, the users.info cache and
settings validation (a refusal changes nothing)."""

from __future__ import annotations

import pytest

from bot.services.authz import (
    REQUIRED,
    Requester,
    Role,
    UserDirectory,
    authorize,
    decide_role,
)
from bot.services.grammar import Sub, parse_command
from bot.services.settings import SPEC_BY_KEY, SettingsService, parse_value
from core.errors import InputError, PermissionDenied


def role(**kw) -> Role:
    base = {"user_id": "U1", "email": "u1@example.com", "env_admins": ()}
    base.update(kw)
    return decide_role(**base)


def test_env_admins_by_id_or_email():
    assert role(env_admins=["U1"]) is Role.ADMIN
    assert role(env_admins=["U1@EXAMPLE.COM".lower()]) is Role.ADMIN
    assert role(env_admins=["u1"]) is Role.ADMIN  # ids compare case-insensitively
    assert role(env_admins=["U2"]) is Role.MEMBER


def test_without_env_admins_nobody_is_admin():
    assert role(setting_admins=["U1"]) is Role.MEMBER
    assert role(person_role="admin") is Role.VIEWER  # an admin role still sees team views
    assert role(env_admins=[], setting_admins=["u1@example.com"], person_role="admin") is not Role.ADMIN


def test_setting_admins_and_person_role_count_once_env_admins_exist():
    assert role(env_admins=["U9"], setting_admins=["U1"]) is Role.ADMIN
    assert role(env_admins=["U9"], setting_admins=["u1@example.com"]) is Role.ADMIN
    assert role(env_admins=["U9"], person_role="admin") is Role.ADMIN


def test_viewers():
    assert role(setting_viewers=["U1"]) is Role.VIEWER
    assert role(setting_viewers=["u1@example.com"]) is Role.VIEWER
    assert role(person_role="viewer") is Role.VIEWER
    assert role(email=None, setting_viewers=["u1@example.com"]) is Role.MEMBER
    assert role(person_role="member") is Role.MEMBER


def requester(r: Role, user_id="U1", email="u1@example.com") -> Requester:
    return Requester(user_id=user_id, email=email, role=r)


def test_every_subcommand_has_a_requirement():
    assert set(REQUIRED) == set(Sub)


@pytest.mark.parametrize("text", ["help", "me", "me 7d"])
def test_members_may_use_me_and_help(text):
    authorize(requester(Role.MEMBER), parse_command(text))


@pytest.mark.parametrize("text", ["dashboard", "top", "users", "models", "groups", "adoption", "forecast",
                                  "incidents", "export", "unmapped", "settings", "user someone@example.com"])
def test_members_may_not_see_team_views(text):
    with pytest.raises(PermissionDenied) as err:
        authorize(requester(Role.MEMBER), parse_command(text))
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    authorize(requester(Role.VIEWER), parse_command(text))


def test_members_may_see_their_own_user_page():
    authorize(requester(Role.MEMBER), parse_command("user u1@example.com"))
    authorize(requester(Role.MEMBER), parse_command("user <@U1|me>"))


@pytest.mark.parametrize("text", ["map k a@example.com", "sync", "sync 2026-01-01"])
def test_changes_need_an_admin(text):
    for r in (Role.MEMBER, Role.VIEWER):
        with pytest.raises(PermissionDenied, match="Only Abacus admins"):
            authorize(requester(r), parse_command(text))
    authorize(requester(Role.ADMIN), parse_command(text))


def test_user_directory_caches_and_survives_failures():
    calls = []

    def lookup(uid):
        calls.append(uid)
        if uid == "UBAD":
            raise RuntimeError("slack down")
        return {"id": uid, "profile": {"email": " Bob@Example.com ", "real_name": "Bob"}}

    d = UserDirectory(lookup)
    assert d.get("U1") == ("bob@example.com", "Bob")
    assert d.get("U1") == ("bob@example.com", "Bob")
    assert calls == ["U1"]
    assert d.get("UBAD") == (None, None)
    assert d.get("UBAD") == (None, None)
    assert calls == ["U1", "UBAD"]  # the failure is cached briefly, too


def test_setting_values_are_validated():
    budget = SPEC_BY_KEY["monthly_budget_usd"]
    assert parse_value(budget, "$1,250.50") == 1250.5
    assert parse_value(budget, "") is None
    for bad in ("abc", "-5", "nan", "1e99"):
        with pytest.raises(InputError):
            parse_value(budget, bad)
    per_day = SPEC_BY_KEY["threshold.max_requests_per_day"]
    assert parse_value(per_day, "1,200") == 1200
    with pytest.raises(InputError, match="must be a whole number"):  # was: "'2.5' is not a number"
        parse_value(per_day, "2.5")
    for bad in ("-1", "nan", "inf", "many"):
        with pytest.raises(InputError):
            parse_value(per_day, bad)
    viewers = SPEC_BY_KEY["viewers"]
    assert parse_value(viewers, "u0bob, <@U0CAROL>\nDave@Example.com") == ["U0BOB", "U0CAROL", "dave@example.com"]
    for bad in ("<!channel>", "'; DROP TABLE setting; --", "../../etc/passwd"):
        with pytest.raises(InputError):
            parse_value(viewers, bad)


def test_settings_update_requires_admin_and_writes_nothing_on_error(engine):
    service = SettingsService(engine, cache_seconds=0)
    with pytest.raises(PermissionDenied):
        service.update({"monthly_budget_usd": "10"}, requester=requester(Role.VIEWER))
    assert service.values()["monthly_budget_usd"] is None
    changed, errors = service.update({"monthly_budget_usd": "10", "threshold.zscore_multiplier": "zero"},
                                     requester=requester(Role.ADMIN))
    assert changed == {} and set(errors) == {"threshold.zscore_multiplier"}
    assert service.values()["monthly_budget_usd"] is None
    changed, errors = service.update({"monthly_budget_usd": "10", "viewers": "U0BOB", "unknown": "x"},
                                     requester=requester(Role.ADMIN))
    assert errors == {} and changed == {"monthly_budget_usd": 10.0, "viewers": ["U0BOB"]}
    assert service.access_lists() == ([], ["U0BOB"])
    assert service.values()["threshold.zscore_multiplier"] == 2.5
