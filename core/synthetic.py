"""A deterministic synthetic team: the offline demo and, scaled up, the benchmarks.

Same seed and end date → the same records, byte for byte. Records stream out of
generators so a 2M-event team never sits in memory at once.

Shape: people with a usage intensity (log-normal), a tool mix (most use Cursor, many
Claude Code, some both), a favourite model, a weekday rhythm (weekends ~15 % of a
weekday) and a billing group. Planted anomalies (see `PlantedAnomaly`) give detection
something real to find.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from core.pricing import estimate_cost_nanos, normalise_model
from core.usage import CostBasis, Feed, OccurrenceCounter, Source, UsageRecord, cursor_event_key, natural_key

FIRST = ("ada", "alan", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "john", "radia",
         "edsger", "katherine", "donald", "hedy", "tim", "shafi", "leslie", "elena", "guido", "yukihiro", "anders",
         "sophie", "bjarne", "adele", "niklaus", "jean", "tony", "fran", "robin", "mary", "ivan", "joan", "vint",
         "lynn", "brian", "susan", "rob", "carol", "jim", "ruth", "ward", "ellen", "kent", "martha", "chris")
LAST = ("lovelace", "turing", "hopper", "torvalds", "hamilton", "thompson", "liskov", "ritchie", "allen", "backus",
        "perlman", "dijkstra", "johnson", "knuth", "lamarr", "berners", "goldwasser", "lamport", "berg", "rossum",
        "matsumoto", "hejlsberg", "wilson", "stroustrup", "goldberg", "wirth", "sammet", "hoare", "bilas", "milner",
        "keller", "sutherland", "clarke", "cerf", "conway", "kernighan", "kare", "pike", "shaw", "gray")
GROUPS = ("Platform", "Payments", "Mobile", "Data", "Infrastructure", "Frontend", "Growth", "Security")

# (raw Cursor model, weight, mean tokens per event as (input, cache_write, cache_read, output))
CURSOR_MODELS = (
    ("claude-4.5-sonnet", 34, (2_400, 9_000, 60_000, 1_500)),
    ("auto", 22, (1_200, 4_000, 30_000, 900)),
    ("gpt-5", 16, (2_000, 0, 40_000, 1_800)),
    ("claude-4.5-opus-high-thinking", 9, (3_000, 14_000, 120_000, 2_500)),
    ("composer-1", 12, (1_500, 0, 25_000, 1_200)),
    ("gemini-2.5-pro", 7, (2_200, 0, 35_000, 1_400)),
)
CLAUDE_MODELS = (
    ("claude-sonnet-4-5-20250929", 55),
    ("claude-opus-4-5-20251101", 30),
    ("claude-haiku-4-5-20251001", 15),
)
ORG_ID = "org-demo-0001"
CURSOR_TEAM = "team-demo"
DEMO_ORGS = (ORG_ID, CURSOR_TEAM)  # what marks a record as the demo's


@dataclass(slots=True)
class SyntheticPerson:
    email: str
    name: str
    group: str
    intensity: float
    uses_cursor: bool
    uses_claude: bool
    claude_key_name: str | None  # set when this person's Claude Code usage arrives under an API key
    favourite_cursor: int
    seed: int


@dataclass(frozen=True, slots=True)
class PlantedAnomaly:
    email: str
    kind: str
    day: date
    description: str


@dataclass
class SyntheticTeam:
    people: list[SyntheticPerson]
    start: date
    end: date
    seed: int
    anomalies: list[PlantedAnomaly] = field(default_factory=list)
    unmapped_keys: tuple[str, ...] = ("ci-bot-key", "legacy-shared-key")
    cursor_events_per_day: float = 11.0

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def records(self) -> Iterator[UsageRecord]:
        """Every usage record: Cursor events and Claude Code daily analytics rows."""
        for person in self.people:
            yield from self._person_records(person)
        yield from self._unmapped_records()

    def cursor_event_count_estimate(self) -> int:
        per_day = sum(p.intensity * self.cursor_events_per_day for p in self.people if p.uses_cursor)
        return int(per_day * self.days * 0.78)

    # --------------------------------------------------------------------------------------
    def _multiplier(self, person: SyntheticPerson, day: date) -> float:
        for a in self.anomalies:
            if a.email != person.email:
                continue
            if a.kind == "spend_spike" and day == a.day:
                return 80.0
            if a.kind == "runaway_context" and a.day <= day <= a.day + timedelta(days=6):
                return 8.0 + 6.0 * (day - a.day).days
            if a.kind == "cycle_outlier" and day.month == a.day.month and day.year == a.day.year:
                return 45.0
        return 1.0

    def _person_records(self, p: SyntheticPerson) -> Iterator[UsageRecord]:
        rng = random.Random(p.seed)
        day = self.start
        while day <= self.end:
            weekday = day.weekday() < 5
            active_p = 0.86 if weekday else 0.12
            if rng.random() < active_p:
                mult = self._multiplier(p, day)
                if p.uses_cursor:
                    yield from self._cursor_day(p, day, rng, mult)
                if p.uses_claude:
                    yield from self._claude_day(p, day, rng, mult)
            day += timedelta(days=1)

    def _cursor_day(self, p: SyntheticPerson, day: date, rng: random.Random, mult: float) -> Iterator[UsageRecord]:
        n = max(1, int(rng.gauss(self.cursor_events_per_day * p.intensity, 3 * p.intensity) * (1 + (mult - 1) * 0.3)))
        counter = OccurrenceCounter()
        base_ms = int(datetime(day.year, day.month, day.day, 8, tzinfo=UTC).timestamp() * 1000)
        weights = [w for _, w, _ in CURSOR_MODELS]
        for i in range(n):
            idx = p.favourite_cursor if rng.random() < 0.45 else rng.choices(range(len(CURSOR_MODELS)), weights)[0]
            raw, _, (mi, mw, mr, mo) = CURSOR_MODELS[idx]
            scale = rng.lognormvariate(0, 0.6) * (mult if mult > 1 else 1.0) ** 0.5
            inp, cw, cr, out = (int(mi * scale), int(mw * scale * rng.random()), int(mr * scale), int(mo * scale))
            ts_ms = base_ms + int(i * (10 * 3600 * 1000 / n)) + rng.randrange(0, 60_000)
            est, basis = estimate_cost_nanos(raw, input_tokens=inp, cache_write_5m=cw, cache_read=cr, output=out,
                                             on=day)
            if basis is CostBasis.UNKNOWN_MODEL:
                est = (inp + cw + cr + out) * 400  # ~$0.40 per million tokens for Cursor's own models
            charged = int(est * (1.2 if raw != "auto" else 0.5))
            yield UsageRecord(
                source=Source.CURSOR, feed=Feed.CURSOR_EVENTS,
                natural_key=cursor_event_key(counter, ts_ms, p.email, raw, inp, cw, cr, out),
                ts=datetime.fromtimestamp(ts_ms / 1000, tz=UTC), person=p.email, raw_model=raw,
                model=normalise_model(raw), input_tokens=inp, cache_write_5m_tokens=cw, cache_read_tokens=cr,
                output_tokens=out, cost_nanos=charged, cost_basis=CostBasis.VENDOR, estimated_cost_nanos=est,
                requests=1, org=CURSOR_TEAM, kind="Usage-based" if charged > 50_000_000 else "Included",
                max_mode=idx == 3)

    def _claude_day(self, p: SyntheticPerson, day: date, rng: random.Random, mult: float) -> Iterator[UsageRecord]:
        ts = datetime(day.year, day.month, day.day, tzinfo=UTC)
        models = [m for m, _ in CLAUDE_MODELS]
        picks = {models[0]} | ({models[1]} if rng.random() < 0.5 else set()) | (
            {models[2]} if rng.random() < 0.3 else set())
        person = p.email
        for raw in sorted(picks):
            scale = p.intensity * rng.lognormvariate(0, 0.5) * mult
            inp, cw, cr, out = (int(40_000 * scale), int(90_000 * scale), int(900_000 * scale), int(30_000 * scale))
            est, basis = estimate_cost_nanos(raw, input_tokens=inp, cache_write_5m=cw, cache_read=cr, output=out,
                                             on=day)
            vendor_cents = round(est / 10_000_000)  # the analytics API reports whole cents
            actor = f"api:{p.claude_key_name}" if p.claude_key_name else f"user:{person}"
            yield UsageRecord(
                source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                natural_key=natural_key("cc", ORG_ID, day.isoformat(), actor, "vscode", False, raw),
                ts=ts, person=person, raw_model=raw, model=normalise_model(raw), input_tokens=inp,
                cache_write_5m_tokens=cw, cache_read_tokens=cr, output_tokens=out,
                cost_nanos=vendor_cents * 10_000_000, cost_basis=CostBasis.VENDOR, estimated_cost_nanos=est,
                requests=0, api_key=p.claude_key_name, org=ORG_ID)

    def _unmapped_records(self) -> Iterator[UsageRecord]:
        rng = random.Random(self.seed + 7)
        for key in self.unmapped_keys:
            day = self.start
            while day <= self.end:
                if day.weekday() < 5 and rng.random() < 0.7:
                    raw = "claude-sonnet-4-5-20250929"
                    inp, out, cr = rng.randrange(50_000, 400_000), rng.randrange(5_000, 40_000), rng.randrange(0, 10**6)
                    est, _ = estimate_cost_nanos(raw, input_tokens=inp, cache_read=cr, output=out, on=day)
                    yield UsageRecord(
                        source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                        natural_key=natural_key("cc", ORG_ID, day.isoformat(), f"api:{key}", "tmux", False, raw),
                        ts=datetime(day.year, day.month, day.day, tzinfo=UTC), person=f"unmapped:{key}",
                        raw_model=raw, model=normalise_model(raw), input_tokens=inp, cache_read_tokens=cr,
                        output_tokens=out, cost_nanos=round(est / 10_000_000) * 10_000_000,
                        estimated_cost_nanos=est, api_key=key, org=ORG_ID)
                day += timedelta(days=1)


def build_team(*, people: int = 48, days: int = 90, end: date, seed: int = 42, domain: str = "example.com",
               plant_anomalies: bool = True, cursor_events_per_day: float = 11.0) -> SyntheticTeam:
    """A deterministic team of `people` over the `days` ending on `end` (inclusive)."""
    if people < 1 or days < 1:
        raise ValueError("people and days must be positive")
    rng = random.Random(seed)
    members: list[SyntheticPerson] = []
    used: set[str] = set()
    for i in range(people):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7 + i // len(FIRST)) % len(LAST)]
        local = f"{first}.{last}"
        if local in used:
            local = f"{first}.{last}{i}"
        used.add(local)
        uses_cursor = rng.random() < 0.85
        uses_claude = rng.random() < (0.65 if uses_cursor else 1.0)
        key_name = f"claude_code_key_{local}_{rng.randrange(16**4):04x}" if uses_claude and rng.random() < 0.3 else None
        members.append(SyntheticPerson(
            email=f"{local}@{domain}", name=f"{first.title()} {last.title()}",
            group=GROUPS[rng.randrange(len(GROUPS))], intensity=min(6.0, math.exp(rng.gauss(0, 0.55))),
            uses_cursor=uses_cursor, uses_claude=uses_claude, claude_key_name=key_name,
            favourite_cursor=rng.randrange(len(CURSOR_MODELS)), seed=seed * 100_003 + i))
    start = end - timedelta(days=days - 1)
    team = SyntheticTeam(people=members, start=start, end=end, seed=seed,
                         cursor_events_per_day=cursor_events_per_day)
    if plant_anomalies and people >= 5:
        team.anomalies = _plant(members, start, end)
    return team


def _plant(members: list[SyntheticPerson], start: date, end: date) -> list[PlantedAnomaly]:
    both = [p for p in members if p.uses_cursor and p.uses_claude] or members
    cursor_users = [p for p in members if p.uses_cursor] or members

    def weekday_before(d: date, back: int) -> date:
        d = d - timedelta(days=back)
        while d.weekday() >= 5:
            d -= timedelta(days=1)
        return max(d, start)

    spike = weekday_before(end, 1)
    runaway = weekday_before(end, 8)
    out = [
        PlantedAnomaly(both[0].email, "spend_spike", spike,
                       f"{both[0].name} spends ~80x their normal on {spike}"),
        PlantedAnomaly(cursor_users[len(cursor_users) // 2].email, "runaway_context", runaway,
                       f"{cursor_users[len(cursor_users) // 2].name}'s context grows for a week from {runaway}: "
                       "cost per request climbs every day"),
        PlantedAnomaly(members[-1].email, "cycle_outlier", end,
                       f"{members[-1].name} spends over 10x the team median this month"),
    ]
    return out
