"""Groups from the HR directory (HiBob): who belongs where, and what applying it changes.

Rules
-----
* A person's group is "Group > Team"; without a Group column value, Department stands in for
  Group ("Department > Team"); without a Team, the group alone.
* A team of fewer than `MIN_TEAM_SIZE` people (counted over the whole directory) is too fine to
  report on: it is merged into its parent group — unless the parent would then still be under
  `MIN_TEAM_SIZE` people while a sibling team is big enough, in which case it joins the largest
  sibling (ties: by name). So no small team is left alone, and no new tiny parent is made.
* Applying sets every matched person's group, creates the groups that are missing, takes people
  out of directory-made groups when they left the directory, and deletes directory-made groups
  that end up empty: nothing stale remains. People in the file that Abacus does not know are
  listed as not matched and not created.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.importers.hibob import DirectoryEntry

SEPARATOR = " > "
MIN_TEAM_SIZE = 3
MAX_GROUP_NAME = 255


def group_path(entry: DirectoryEntry) -> str:
    top = entry.group or entry.department
    return f"{top}{SEPARATOR}{entry.team}" if entry.team and entry.team != top else top


@dataclass(frozen=True, slots=True)
class Merge:
    team: str
    into: str
    people: int


def target_groups(entries: Iterable[DirectoryEntry]) -> tuple[dict[str, str], list[Merge]]:
    """Every directory entry's group after merging small teams: {email: group}, and the merges."""
    entries = list(entries)
    paths = {e.email: group_path(e) for e in entries}
    sizes = Counter(paths.values())
    teams_by_parent: dict[str, list[str]] = defaultdict(list)
    for path in sizes:
        if SEPARATOR in path:
            teams_by_parent[path.split(SEPARATOR, 1)[0]].append(path)
    where: dict[str, str] = {}
    merges: list[Merge] = []
    for parent, teams in sorted(teams_by_parent.items()):
        small = sorted(t for t in teams if sizes[t] < MIN_TEAM_SIZE)
        if not small:
            continue
        big = sorted((t for t in teams if sizes[t] >= MIN_TEAM_SIZE), key=lambda t: (-sizes[t], t))
        parent_size = sizes.get(parent, 0) + sum(sizes[t] for t in small)
        into = parent if parent_size >= MIN_TEAM_SIZE or not big else big[0]
        for team in small:
            where[team] = into
            merges.append(Merge(team=team, into=into, people=sizes[team]))
    return {address: where.get(path, path) for address, path in paths.items()}, merges


@dataclass(frozen=True, slots=True)
class Move:
    email: str
    name: str | None
    from_group: str | None
    to_group: str


@dataclass
class GroupPlan:
    assignments: dict[str, str]  # matched person → group
    moves: list[Move]  # the assignments that change someone's group
    created: list[str]  # groups that do not exist yet
    cleared: list[str]  # people taken out of directory groups (no longer in the directory)
    removed: list[str]  # directory groups left empty, deleted
    unmatched: list[str]  # directory emails Abacus does not know
    merges: list[Merge] = field(default_factory=list)
    unchanged: int = 0

    def approve(self, emails: Iterable[str]) -> GroupPlan:
        """The plan with only these moves (a selective approval); groups and clean-up follow."""
        keep = set(emails)
        moves = [m for m in self.moves if m.email in keep]
        skipped = {m.email for m in self.moves if m.email not in keep}
        assignments = {e: g for e, g in self.assignments.items() if e not in skipped}
        created = sorted({m.to_group for m in moves} & set(self.created))
        return GroupPlan(assignments=assignments, moves=moves, created=created, cleared=list(self.cleared),
                         removed=list(self.removed), unmatched=list(self.unmatched), merges=list(self.merges),
                         unchanged=self.unchanged)


def plan_groups(entries: Iterable[DirectoryEntry], *, people: dict[str, tuple[str | None, str | None]],
                groups: dict[str, str], complete: bool = True) -> GroupPlan:
    """What applying the directory changes.

    `people`: every known person's email → (name, current group or None);
    `groups`: every existing group name → its source (`hibob`, `cursor`, `manual`).
    `complete`: the entries are the whole directory. A file whose invalid rows were skipped is not:
    someone missing from it may be on a skipped row, so nobody is taken out of a directory group
    (nor a group removed for being left empty) on its account.
    """
    entries = list(entries)
    targets, merges = target_groups(entries)
    assignments: dict[str, str] = {}
    moves: list[Move] = []
    unmatched: list[str] = []
    unchanged = 0
    for e in entries:
        target = targets[e.email][:MAX_GROUP_NAME]
        if e.email not in people:
            unmatched.append(e.email)
            continue
        name, current = people[e.email]
        assignments[e.email] = target
        if current == target:
            unchanged += 1
        else:
            moves.append(Move(email=e.email, name=e.display_name or name, from_group=current, to_group=target))
    directory_groups = {g for g, source in groups.items() if source == "hibob"}
    cleared = sorted(address for address, (_, current) in people.items()
                     if complete and current in directory_groups and address not in assignments)
    used = set(assignments.values())
    created = sorted(used - set(groups))
    remaining = Counter(current for address, (_, current) in people.items()
                        if current is not None and address not in assignments and address not in cleared)
    removed = sorted(g for g in directory_groups if g not in used and not remaining.get(g))
    moves.sort(key=lambda m: (m.to_group, m.email))
    return GroupPlan(assignments=assignments, moves=moves, created=created, cleared=cleared, removed=removed,
                     unmatched=sorted(unmatched), merges=merges, unchanged=unchanged)


def valid_group_name(text: str) -> str:
    """A group name typed by an admin: trimmed, single-spaced, 1–255 characters, no control
    characters, not a spreadsheet formula; raises ValueError saying what is wrong."""
    from core.importers.values import CellProblem, safe_text

    name = " ".join((text or "").split())
    if not name:
        raise ValueError("give the group a name")
    try:
        return safe_text(name, what="the name", limit=MAX_GROUP_NAME, required=True)
    except CellProblem as exc:
        raise ValueError(str(exc)) from None
