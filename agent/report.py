"""From one sync's results to the report branch: report.yaml, drift files, and whether to commit.

The report is the agent's only voice (docs/formats.md §2). Building it is pure: the apply results,
the availability observed, the inventory, the prune summary, the properties and the previous
report go in; the new report, its drift files, a fingerprint without times and a commit message
come out. Times that describe a *state* (a condition's lastTransitionTime, an object's
availableSince, a drift's firstObservedTime) are carried over from the previous report while the
state holds, so an unchanged cluster produces an unchanged report apart from observation times —
and the agent commits only when the fingerprint, which blanks those, changed. The previous report
outlives the process: a restarted agent reads it back from its report branch (agent/loop.py) and
``not_our_report`` says when one read back must not be trusted.

Work-level conditions follow KubeFleet (kubefleet-api.md §5.1, §7): ``Applied`` is
AllManifestsApplied / SomeManifestsAreNotApplied; ``Available`` is AllManifestsAvailable,
WorkNotTrackable (untrackable objects past ``unavailablePeriodSeconds``) or
SomeManifestsAreNotAvailable, and beyond KubeFleet ProgressDeadlineExceeded when an object failed
to become available (agent/health.py); a ReportDiff placement has ``DiffReported`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from agent.apply.manager import Result
from agent.health import availability
from fleetsync_contract.report import (
    APPLIED_OUTCOMES,
    DIFF_OUTCOMES,
    PROGRESS_DEADLINE_EXCEEDED,
    Availability,
    ClusterReport,
    Condition,
    Health,
    InventoryItem,
    ObjectDrift,
    ObjectResult,
    Outcome,
    PlacementReport,
    PropertyValue,
    PruneSummary,
    ResourceUsage,
    SourceState,
    canonical_yaml,
    drift_doc,
    drift_path,
    format_time,
    parse_time,
    report_doc,
)

_TIME_KEYS = frozenset(
    {"observedTime", "observationTime", "lastTransitionTime", "availableSince", "firstObservedTime", "time"}
)


@dataclass(frozen=True, slots=True)
class PlacementInfo:
    key: str
    resource_index: int
    report_diff: bool
    unavailable_period_seconds: int
    digest: str = ""  # fleetsync_contract.bundle.placement_digests: the hub keeps status by it


@dataclass(frozen=True, slots=True)
class ReportInput:
    cluster: str
    agent_version: str
    now: datetime
    bundle_id: str
    bundle_commit: str
    placements: Sequence[PlacementInfo]
    results: Sequence[Result]
    inventory: Sequence[InventoryItem]
    prune: PruneSummary
    properties: Mapping[str, str]
    usage: ResourceUsage
    source: SourceState
    health: Health


def _availability(r: Result) -> Availability:
    if r.live is None or r.outcome not in APPLIED_OUTCOMES:
        return Availability.UNKNOWN
    return availability(r.live)


def _object(r: Result, now: datetime, prev: ObjectResult | None, drift: str) -> ObjectResult:
    avail = _availability(r)
    since = ""
    if avail == Availability.AVAILABLE:
        since = prev.available_since if prev and prev.availability == avail and prev.available_since else ""
        since = since or format_time(now)
    elif avail == Availability.NOT_TRACKABLE:
        kept = prev.available_since if prev and prev.availability == avail else ""
        since = format_time(now) if r.wrote or not kept else kept
    return ObjectResult(
        identity=r.identity,
        api_version=r.api_version,
        outcome=r.outcome,
        reason=r.reason,
        message=r.message,
        availability=avail,
        available_since=since,
        observed_generation=r.observed_generation,
        envelope=r.envelope,
        drift=drift,
    )


def _condition(
    ctype: str, ok: bool, reason: str, message: str, now: datetime, prev: Sequence[Condition]
) -> Condition:
    status = "True" if ok else "False"
    old = next((c for c in prev if c.type == ctype), None)
    since = (
        old.last_transition_time
        if old and old.status == status and old.last_transition_time
        else format_time(now)
    )
    return Condition(ctype, status, reason, message, since)


def _conditions(
    p: PlacementInfo, objects: Sequence[ObjectResult], now: datetime, prev: Sequence[Condition]
) -> tuple[Condition, ...]:
    if p.report_diff:
        bad = [o for o in objects if o.outcome not in DIFF_OUTCOMES]
        reason = "SomeManifestsHaveNotReportedDiff" if bad else "AllManifestsDiffReported"
        msg = f"{len(bad)} of {len(objects)} objects have not reported their diff" if bad else ""
        return (_condition("DiffReported", not bad, reason, msg, now, prev),)
    not_applied = [o for o in objects if o.outcome not in APPLIED_OUTCOMES]
    applied = _condition(
        "Applied",
        not not_applied,
        "SomeManifestsAreNotApplied" if not_applied else "AllManifestsApplied",
        f"{len(not_applied)} of {len(objects)} objects are not applied" if not_applied else "",
        now,
        prev,
    )
    if not_applied:
        return (applied,)
    waiting = [o for o in objects if o.availability in (Availability.NOT_YET_AVAILABLE, Availability.UNKNOWN)]
    period = timedelta(seconds=p.unavailable_period_seconds)
    untracked = [o for o in objects if o.availability == Availability.NOT_TRACKABLE]
    young = [o for o in untracked if not o.available_since or now - parse_time(o.available_since) < period]
    failed = [o.identity for o in objects if o.availability == Availability.FAILED]
    if failed:  # beyond KubeFleet: terminal, the hub may roll a fix out (docs/agent.md)
        msg = f"{len(failed)} of {len(objects)} objects failed to become available: {', '.join(failed[:5])}"
        available = _condition("Available", False, PROGRESS_DEADLINE_EXCEEDED, msg, now, prev)
    elif waiting or young:
        msg = f"{len(waiting) + len(young)} of {len(objects)} objects are not available yet"
        available = _condition("Available", False, "SomeManifestsAreNotAvailable", msg, now, prev)
    elif untracked:
        available = _condition("Available", True, "WorkNotTrackable", "", now, prev)
    else:
        available = _condition("Available", True, "AllManifestsAvailable", "", now, prev)
    return (applied, available)


def build_report(
    inp: ReportInput, previous: ClusterReport | None, previous_drifts: Mapping[str, ObjectDrift]
) -> tuple[ClusterReport, dict[str, ObjectDrift]]:
    now_text = format_time(inp.now)
    prev_objects = {
        (p.key, o.identity): o for p in (previous.placements if previous else ()) for o in p.objects
    }
    prev_conditions = {p.key: p.conditions for p in (previous.placements if previous else ())}
    by_placement: dict[str, list[Result]] = {}
    for r in inp.results:
        by_placement.setdefault(r.placement, []).append(r)
    drifts: dict[str, ObjectDrift] = {}
    placements: list[PlacementReport] = []
    for p in sorted(inp.placements, key=lambda x: x.key):
        objects: list[ObjectResult] = []
        for r in sorted(by_placement.get(p.key, []), key=lambda x: x.identity):
            path = ""
            if r.details and r.drift_type is not None:
                path = drift_path(p.key, r.identity)
                old = previous_drifts.get(path)
                first = old.first_observed_time if old and old.type == r.drift_type else now_text
                drifts[path] = ObjectDrift(
                    r.identity, p.key, r.drift_type, now_text, first, r.observed_generation, r.details
                )
            objects.append(_object(r, inp.now, prev_objects.get((p.key, r.identity)), path))
        conditions = _conditions(p, objects, inp.now, prev_conditions.get(p.key, ()))
        placements.append(
            PlacementReport(p.key, p.resource_index, inp.bundle_id, conditions, tuple(objects), p.digest)
        )
    health = inp.health
    if previous and previous.health.healthy == health.healthy and previous.health.last_transition_time:
        health = replace(health, last_transition_time=previous.health.last_transition_time)
    elif not health.last_transition_time:
        health = replace(health, last_transition_time=now_text)
    report = ClusterReport(
        cluster=inp.cluster,
        agent_version=inp.agent_version,
        observed_time=now_text,
        applied_bundle_id=inp.bundle_id,
        applied_bundle_commit=inp.bundle_commit,
        source=inp.source,
        health=health,
        properties={k: PropertyValue(v, now_text) for k, v in sorted(inp.properties.items())},
        resource_usage=replace(inp.usage, observation_time=now_text),
        placements=tuple(placements),
        inventory=tuple(sorted(inp.inventory, key=lambda i: (i.api_version, i.kind, i.namespace, i.name))),
        prune=inp.prune,
    )
    return report, drifts


def not_our_report(report: ClusterReport, cluster: str, inventory_commit: str) -> str:
    """Why a report read back from the report branch must not be carried over by this agent
    ("" when it may): it is another cluster's, or it describes another bundle commit than the
    one this member's inventory records (another fleet, another member, or a lost write)."""
    if report.cluster != cluster:
        return f"it is cluster {report.cluster[:253]!r}'s, not {cluster!r}'s"
    if report.applied_bundle_commit != inventory_commit:
        return (
            f"it describes bundle commit {report.applied_bundle_commit[:12] or '(none)'}, this member's "
            f"inventory records {inventory_commit[:12] or '(none)'} (another fleet or member)"
        )
    return ""


# Applied and Unchanged (and their reasons) say the same about the cluster: the object is as the
# hub wants it. Only the sync that wrote it differs, which is not worth a commit of its own.
_SAME = {"Unchanged": "Applied", "ManifestAlreadyUpToDate": "ManifestApplied"}


def _blank_times(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: (
                ""
                if k in _TIME_KEYS
                else _SAME.get(v, v)
                if isinstance(v, str) and k in ("outcome", "reason")
                else _blank_times(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank_times(v) for v in value]
    return value


def fingerprint(report: ClusterReport, drifts: Mapping[str, ObjectDrift]) -> bytes:
    """The report's content with every time blanked (and Unchanged read as Applied): equal
    fingerprints need no commit."""
    doc = {"report": report_doc(report), "drifts": {p: drift_doc(d) for p, d in sorted(drifts.items())}}
    blanked = _blank_times(doc)
    assert isinstance(blanked, dict)
    return canonical_yaml(blanked)


def commit_message(
    report: ClusterReport,
    drifts: Mapping[str, ObjectDrift],
    previous: ClusterReport | None,
    previous_drifts: Mapping[str, ObjectDrift],
) -> str:
    """One summary line saying what changed, then details (bounded)."""
    lines = _bundle_lines(report, previous)
    lines.extend(_drift_lines(report.cluster, drifts, previous_drifts))
    lines.extend(_outcome_changes(report, previous))
    lines.extend(_availability_changes(report, previous))  # before prune and source: often the reason
    lines.extend(_prune_and_source_lines(report, previous))
    if not lines:
        lines.append(f"status: {report.cluster} availability, inventory or properties changed")
    head = lines[0][:200]
    body = "\n".join(x[:300] for x in lines[1:51])
    return f"{head}\n\n{body}\n" if body else head + "\n"


def _bundle_lines(report: ClusterReport, previous: ClusterReport | None) -> list[str]:
    """``joined`` for a first report without a bundle, ``applied`` when the bundle id moved."""
    if previous is None and not report.applied_bundle_id:
        return [f"joined: {report.cluster} has no bundle yet"]
    if previous is None or previous.applied_bundle_id != report.applied_bundle_id:
        objects = sum(len(p.objects) for p in report.placements)
        return [f"applied {report.applied_bundle_id or '(no bundle)'} ({objects} objects)"]
    return []


def _drift_lines(
    cluster: str, drifts: Mapping[str, ObjectDrift], previous_drifts: Mapping[str, ObjectDrift]
) -> list[str]:
    """A line per new or changed drift (its first field, hub value → member value), then one per
    drift that is gone."""
    lines: list[str] = []
    for path, d in sorted(drifts.items()):
        old = previous_drifts.get(path)
        if old is not None and old.details == d.details:
            continue
        first = d.details[0] if d.details else None
        change = ""
        if first is not None:
            change = f" {first.path} {first.value_in_hub or '(unset)'}→{first.value_in_member or '(unset)'}"
            if len(d.details) > 1:
                change += f" (+{len(d.details) - 1} more)"
        lines.append(f"{d.type.value.lower()}: {cluster} {d.identity}{change}")
    for path in sorted(set(previous_drifts) - set(drifts)):
        lines.append(f"resolved: {cluster} {previous_drifts[path].identity}")
    return lines


def _outcome_changes(report: ClusterReport, previous: ClusterReport | None) -> list[str]:
    """``<identity>: <before> → <now>`` for each object whose apply outcome moved (Unchanged and
    Applied are one)."""
    if previous is None:
        return []
    prev_outcomes = {o.identity: o.outcome for p in previous.placements for o in p.objects}
    lines: list[str] = []
    for p in report.placements:
        for o in p.objects:
            before = prev_outcomes.get(o.identity)
            if before is not None and _settled(before) != _settled(o.outcome):
                lines.append(f"{o.identity}: {before.value} → {o.outcome.value}")
    return lines


def _prune_and_source_lines(report: ClusterReport, previous: ClusterReport | None) -> list[str]:
    """What pruning did or refused, and the bundle source turning fresh or stale."""
    lines: list[str] = []
    if report.prune.deleted:
        lines.append(f"pruned {len(report.prune.deleted)} objects")
    if previous is not None and report.prune.refused and report.prune.refused != previous.prune.refused:
        lines.append(f"prune refused: {report.prune.refused}")
    if previous is not None and previous.source != report.source:
        lines.append("source fresh" if report.source.fresh else f"source stale: {report.source.message}")
    return lines


def _availability_changes(report: ClusterReport, previous: ClusterReport | None) -> list[str]:
    """``available: <identity>`` (or ``not available``) for each object whose availability moved
    since the previous report: usually the very reason a commit is made, so it comes first."""
    if previous is None:
        return []
    before = {(p.key, o.identity): o.availability for p in previous.placements for o in p.objects}
    lines = []
    for p in report.placements:
        for o in p.objects:
            old = before.get((p.key, o.identity))
            if old is None or old == o.availability:
                continue
            state = "available" if o.availability == Availability.AVAILABLE else o.availability.value
            lines.append(f"{state}: {report.cluster} {o.identity}")
    return lines


def _settled(outcome: Outcome) -> Outcome:
    """Unchanged is Applied again (as the fingerprint reads it): no news for a commit message."""
    return Outcome.APPLIED if outcome == Outcome.UNCHANGED else outcome
