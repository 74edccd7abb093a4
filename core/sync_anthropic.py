"""The Anthropic side of the sync engine (`core.sync`): one organisation's members, keys, Claude Code
analytics, the messages usage report and the cost report, each day in its own transaction, with the
feed precedence described in `core.sync`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from core.sources import anthropic as anth
from core.sync import (
    Counts,
    DayStream,
    DayWrite,
    NullProgress,
    OrgResult,
    Progress,
    Stream,
    SyncOptions,
    SyncPlan,
    SyncStore,
    Vendor,
    begin_run,
    end_run,
    log,
    organisation_label,
    recorded_outcome,
)
from core.usage import Feed, Source, UsageRecord


def sync_anthropic(client: anth.AnthropicAdmin, store: SyncStore, plan: SyncPlan, *,
                   options: SyncOptions | None = None, progress: Progress | None = None) -> OrgResult:
    """Sync one Anthropic organisation. Vendor failures end up in `result.error`, never raised."""
    from core.sources import anthropic as anth  # its wire models only where Anthropic is synced

    options = options or SyncOptions()
    progress = progress or NullProgress()
    result = OrgResult(vendor=Vendor.ANTHROPIC, org=client.label, mode=plan.mode)
    run_id = None
    try:
        with recorded_outcome(result):
            org_info = client.organization()
            users = client.users()
            user_ids = {u.id for u in users if u.id}
            if org_info is not None:
                client.label = result.org = org_info.id
            else:
                label = organisation_label(user_ids, store.org_identities(vendor=Vendor.ANTHROPIC))
                if label is not None:
                    client.label = result.org = label
            org = result.org
            streams = {s: DayStream(store, Vendor.ANTHROPIC, org, s.value, plan, options)
                       for s in (Stream.CLAUDE_CODE, Stream.MESSAGES, Stream.COST)}
            all_days = [d for s in streams.values() for d in s.days]
            run_id = begin_run(store, result, plan, all_days)
            progress.begin(f"anthropic {org}", len(all_days))

            keys = client.api_keys()
            workspaces = client.workspaces()
            with store.transaction() as tx:
                tx.save_members(anth.member_records(users), vendor=Vendor.ANTHROPIC)
                tx.save_org_identity(vendor=Vendor.ANTHROPIC, org=org, user_ids=user_ids)
                moved = tx.save_keys(org=org, records=anth.key_records(keys, users))
            if moved:
                result.notes.append(f"{moved} stored record(s) re-attributed to key owners the vendor named")
            resolver = store.resolver(domain=plan.email_domain)
            key_names = {**store.key_names(), **{k.id: k.name for k in keys}}
            cc_workspaces = anth.claude_code_workspace_ids(workspaces)

            cc = streams[Stream.CLAUDE_CODE]
            counts = result.stream(Stream.CLAUDE_CODE)
            msg_counts = result.stream(Stream.MESSAGES)
            billing = BilledCosts(client, result)
            for day in cc.days:
                rows = client.claude_code_day(day)
                usage, activity = anth.claude_code_usage(rows, day=day, org=org, resolver=resolver)
                usage = billing.apply(usage, day)
                with store.transaction() as tx:
                    w = tx.replace_usage_day(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS, org=org,
                                             day=day, records=usage)
                    tx.replace_activity_day(source=Source.CLAUDE_CODE.value, org=org, day=day, records=activity)
                    # precedence: the vendor's figures for a person-day supersede live telemetry (core.telemetry)
                    persons = {r.person for r in usage} | {a.person for a in activity}
                    if persons:
                        counts.live_superseded += tx.drop_live_usage(day=day, persons=persons)
                        counts.replaced += tx.drop_imported_usage(day=day, persons={r.person for r in usage})
                    if rows:  # precedence: analytics rows are the day's Claude Code usage
                        msg_counts.replaced += tx.drop_usage_day(source=Source.CLAUDE_CODE,
                                                                 feed=Feed.ANTHROPIC_MESSAGES, org=org, day=day)
                    cc.done(tx, day)
                _count(counts, len(usage), w)
                progress.advance(1, f"claude_code {day}")

            ms = streams[Stream.MESSAGES]
            if ms.days:
                for day, results in client.messages_days(ms.days[0], ms.days[-1]):
                    usage, dropped = anth.messages_usage(results, day=day, org=org, resolver=resolver,
                                                         key_names=key_names, claude_code_workspaces=cc_workspaces)
                    msg_counts.dropped += dropped
                    with store.transaction() as tx:
                        if tx.analytics_covers(org=org, day=day):
                            msg_counts.read += len(usage)
                            msg_counts.superseded += len(usage)
                            tx.drop_usage_day(source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, org=org, day=day)
                        else:
                            w = tx.replace_usage_day(source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, org=org,
                                                     day=day, records=usage)
                            _count(msg_counts, len(usage), w)
                            persons = {r.person for r in usage}
                            if persons:
                                msg_counts.live_superseded += tx.drop_live_usage(day=day, persons=persons)
                                msg_counts.replaced += tx.drop_imported_usage(day=day, persons=persons)
                        ms.done(tx, day)
                    progress.advance(1, f"messages {day}")

            cs = streams[Stream.COST]
            cost_counts = result.stream(Stream.COST)
            if cs.days:
                for day, results in client.cost_days(cs.days[0], cs.days[-1]):
                    lines = anth.cost_lines(results, day=day, org=org)
                    with store.transaction() as tx:
                        tx.replace_vendor_costs(org=org, day=day, records=lines)
                        cs.done(tx, day)
                    cost_counts.read += len(lines)
                    progress.advance(1, f"cost_report {day}")
    finally:
        end_run(store, run_id, result, plan, progress, requests=client.api.requests)
    return result


class BilledCosts:
    """Claude Code's billed cost per person and model from the Usage and Cost Analytics API (beta),
    applied to each day's Claude Code Analytics records (core.sources.anthropic.apply_billed_costs).
    Where the key or organisation has no access, the run falls back to the analytics estimates:
    said once in the run's notes (and once per process in the log), never an error."""

    _logged: ClassVar[set[str]] = set()

    def __init__(self, client: anth.AnthropicAdmin, result: OrgResult) -> None:
        self.client, self.result = client, result
        self.available = True

    def apply(self, usage: list[UsageRecord], day: date) -> list[UsageRecord]:
        from core.sources import anthropic as anth

        if not self.available or not usage or not anth.cost_analytics_covers(day, datetime.now(UTC).date()):
            return usage  # days before 2026 or over a year old: the API refuses them, the estimates stay
        rows = self.client.claude_code_costs(day)
        if rows is None:
            self.available = False
            self.result.notes.append("Usage and Cost Analytics API (beta) not available to this key; Claude Code "
                                     "costs are the Claude Code Analytics estimates")
            if self.result.org not in self._logged:
                self._logged.add(self.result.org)
                log.info("anthropic %s: Usage and Cost Analytics API not available; using the Claude Code "
                         "Analytics estimates", self.result.org)
            return usage
        usage, unmatched = anth.apply_billed_costs(usage, rows, day=day)
        if unmatched:
            self.result.notes.append(f"{day}: {unmatched} billed person-model(s) without Claude Code analytics "
                                     "rows not added (no token figures)")
        return usage


def _count(counts: Counts, read: int, w: DayWrite) -> None:
    counts.read += read
    counts.inserted += w.inserted
    counts.present += w.present
    counts.replaced += w.removed
