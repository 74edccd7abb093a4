"""HiBob directory → groups: "Group > Team" (Department when no Group), small teams merged, dry run
prints the moves and writes nothing, applying leaves no stale group or membership."""

from __future__ import annotations

import pytest
from sqlalchemy import text

DIRECTORY = (
    "Email,Department,Group,Team,Display name,Job title\n"
    "p1@example.com,Engineering,Platform,Infra,P One,SRE\n"
    "p2@example.com,Engineering,Platform,Infra,P Two,SRE\n"
    "P3@Example.com,Engineering,Platform,Infra,P Three,SRE\n"
    "p4@example.com,Engineering,Platform,Tools,P Four,Developer\n"
    "p5@example.com,Sales,,,P Five,AE\n"
    '"p6@example.com","Sales","","EMEA","Six, P","AE"\n'
    "p7@example.com,Sales,,EMEA,P Seven,AE\n"
    "x9@example.com,Legal,,,Unknown Person,Counsel\n"
)


@pytest.fixture
def people(abacus_env):
    from storage.db import make_engine, session_scope, upgrade
    from storage.people_repo import upsert_person
    from storage.tables import BillingGroup

    engine = make_engine(abacus_env["DATABASE_URL"])
    upgrade(engine)
    with session_scope(engine) as s:
        old = BillingGroup(name="Old Group", source="hibob")
        manual = BillingGroup(name="Manual", source="manual")
        s.add(old)
        s.add(manual)
        s.flush()
        for i in range(1, 8):
            upsert_person(session=s, email=f"p{i}@example.com", group_id=old.id if i == 1 else None)
        upsert_person(session=s, email="old@example.com", group_id=old.id)
        upsert_person(session=s, email="m@example.com", group_id=manual.id)

    def memberships() -> dict[str, str | None]:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT p.email, g.name FROM person p LEFT JOIN billing_group g "
                                          "ON g.id = p.group_id")).all())

    def groups() -> set[str]:
        with engine.connect() as conn:
            return {n for (n,) in conn.execute(text("SELECT name FROM billing_group"))}

    yield memberships, groups
    engine.dispose()


def test_dry_run_prints_the_moves_and_writes_nothing(cli, write, people):
    memberships, groups = people
    before = (memberships(), groups())
    res = cli("import", "--quiet", "--dry-run", write("bob.csv", DIRECTORY))
    assert res.code == 0, res.err
    out = res.out
    # Tools (1 person): Platform would hold only that one, its sibling Infra has 3 → joins Infra
    assert "move p4@example.com: (no group) -> Platform > Infra" in out
    assert "merged small team Platform > Tools (1) into Platform > Infra" in out
    # EMEA (2 people): Sales has 1 direct member + 2 = 3 → merged into Sales
    assert "merged small team Sales > EMEA (2) into Sales" in out
    assert "move p1@example.com: Old Group -> Platform > Infra" in out
    assert "move p6@example.com: (no group) -> Sales" in out
    assert "create group Platform > Infra" in out and "create group Sales" in out
    assert "not matched (no such person in Abacus): x9@example.com" in out
    assert "leaves directory groups: old@example.com" in out
    assert "remove empty group Old Group" in out
    assert "7 move(s), 2 group(s) to create, 0 unchanged, 1 not matched" in out
    assert (memberships(), groups()) == before


def test_apply_writes_groups_and_leaves_nothing_stale(cli, write, people):
    memberships, groups = people
    res = cli("import", "--quiet", write("bob.csv", DIRECTORY))
    assert res.code == 0, res.err
    assert memberships() == {
        "p1@example.com": "Platform > Infra", "p2@example.com": "Platform > Infra",
        "p3@example.com": "Platform > Infra", "p4@example.com": "Platform > Infra",
        "p5@example.com": "Sales", "p6@example.com": "Sales",
        "p7@example.com": "Sales", "old@example.com": None, "m@example.com": "Manual"}
    assert groups() == {"Platform > Infra", "Sales", "Manual"}
    again = cli("import", "--quiet", "--json", write("bob.csv", DIRECTORY))
    assert again.json()["groups"]["moves"] == [] and again.json()["groups"]["unchanged"] == 7
    # p1..p3 leave the company: Tools (p4 alone) has no big sibling left → merged into its parent Platform
    fewer = "\n".join(line for line in DIRECTORY.splitlines() if not line.lower().startswith(("p1@", "p2@", "p3@")))
    res = cli("import", "--quiet", write("bob2.csv", fewer + "\n"))
    assert res.code == 0, res.err
    after = memberships()
    assert after["p1@example.com"] is None and after["p4@example.com"] == "Platform"
    assert groups() == {"Platform", "Sales", "Manual"}


def test_skipping_an_invalid_row_takes_nobody_out_of_their_group(cli, write, people):
    """--skip-invalid imports the valid rows; a skipped row is not a person who left. A bad cell
    (here an optional Display name) used to take that person out of their directory group and
    remove the group left empty, as if they were gone from the directory."""
    memberships, groups = people
    assert cli("import", "--quiet", write("bob.csv", DIRECTORY)).code == 0
    before = (memberships(), groups())
    broken = DIRECTORY.replace("p5@example.com,Sales,,,P Five,AE", 'p5@example.com,Sales,,,"=HYPERLINK(""x"")",AE')
    res = cli("import", "--quiet", "--skip-invalid", write("bob2.csv", broken))
    assert res.code == 0, res.err
    assert "rejected: 1" in res.out and "row 6, Display name" in res.out
    assert "leaves directory groups" not in res.out and "nobody is taken out of a directory group" in res.out
    assert (memberships(), groups()) == before  # p5 is still in Sales
    # the same file with the row fixed is the whole directory again: leavers leave
    fewer = "\n".join(line for line in DIRECTORY.splitlines() if not line.startswith("p7@")) + "\n"
    res = cli("import", "--quiet", write("bob3.csv", fewer))
    assert res.code == 0 and "leaves directory groups: p7@example.com" in res.out, res.out
