"""From one placement's stage results to the status view (reconciler/status/views.py renders it).

The loop keeps, per placement, what each stage returned (``Placed``); this module reads that
together with the agents' reports and turns it into ``PlacementView``/``ClusterView``: which
clusters are scheduled (plus KubeFleet's empty entries for PickN slots that found no cluster),
where each cluster's rollout stands, how overriding went, and which report entry speaks about
the bundle that is now on the cluster's branch — or about an older bundle whose share for this
placement is the same (its ``placement_digests`` entry), so another placement's change on the
cluster does not reset this one's status. It also gives the rollout planner its readiness
facts from the same report entry, so status and rollout never disagree about a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetsync_contract.bundle import placement_digests
from fleetsync_contract.report import PlacementReport, availability_failed, parse_time
from reconciler.api.placement import Placement, PlacementType, RolloutStrategyType
from reconciler.hub.inputs import HubInputs, PreviousBundle
from reconciler.hub.overrides import OverrideResult
from reconciler.hub.select import SelectedObject
from reconciler.policy.gate import Violation
from reconciler.rollout.rolling import RolloutDecision
from reconciler.scheduler.model import Schedule
from reconciler.status.conditions import Condition, Status
from reconciler.status.memory import BindingRecord, PlacementMemory
from reconciler.status.views import ClusterView, PlacementView, SelectedResource


@dataclass(frozen=True, slots=True)
class OlderShare:
    """What a staged run moves a cluster to, in this reconcile, when that is not this commit's
    newest render: an older snapshot, or the overrides of the commit the run started at."""

    index: int
    version: str
    result: OverrideResult
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class Placed:
    """One placement's stage results in this reconcile, before bundles are rendered
    (reconciler/hub/pipeline.py ``place`` builds it from the frozen result of each stage)."""

    placement: Placement
    memory: PlacementMemory
    schedule: Schedule | None  # None: the resource selectors are invalid, nothing moved
    selection_errors: tuple[str, ...]
    selected: Sequence[SelectedObject]
    results: Mapping[str, OverrideResult] = field(default_factory=dict)  # cluster -> newest objects
    desired: Mapping[str, str] = field(default_factory=dict)  # cluster -> newest version
    decision: RolloutDecision | None = None
    eviction_docs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # status path -> doc
    run_files: Mapping[str, bytes] = field(default_factory=dict)  # staged runs' status files
    violations: Mapping[str, tuple[Violation, ...]] = field(default_factory=dict)  # cluster -> policy gate
    older: Mapping[str, OlderShare] = field(default_factory=dict)  # staged runs: cluster -> its other render
    observed_selected: Sequence[SelectedObject] | None = (
        None  # External, all on one older snapshot: its objects
    )


def current_report(
    inputs: HubInputs, cluster: str, key: str, record: BindingRecord | None
) -> PlacementReport | None:
    """The agent's result for this placement, if it is about the bundle now on the cluster's branch."""
    agent = inputs.agents.get(cluster)
    bundle = inputs.bundles.get(cluster)
    if agent is None or agent.report is None or bundle is None:
        return None
    for p in agent.report.placements:
        if p.key == key and (p.bundle_id == bundle.bundle_id or _same_share(p, bundle)):
            if (
                record is not None
                and record.resource_index is not None
                and p.resource_index != record.resource_index
            ):
                return None
            return p
    return None


def _same_share(report: PlacementReport, bundle: PreviousBundle) -> bool:
    """The report speaks about an older bundle whose share for this placement is the one on the
    branch (another placement changed on the cluster since)."""
    if not report.digest:
        return False
    b = bundle.bundle
    return placement_digests(b.placements, b.files).get(report.key) == report.digest


def ready_facts(report: PlacementReport | None) -> dict[str, Any]:
    """RolloutBinding's readiness fields from a report entry (none: neither ready nor failed)."""
    if report is None:
        return {}
    conds = {c.type: c for c in report.conditions}
    applied, available, diff = conds.get("Applied"), conds.get("Available"), conds.get("DiffReported")
    since = None
    if available is not None and available.status == "True" and available.last_transition_time:
        try:
            since = parse_time(available.last_transition_time)
        except ValueError:
            since = None
    return {
        "available": available is not None and available.status == "True",
        "trackable": available is None or available.reason != "WorkNotTrackable",
        "available_since": since,
        "diff_reported": diff is not None and diff.status == "True",
        "failed": (applied is not None and applied.status == "False")
        or availability_failed(report.conditions),
    }


def _selected(objects: Sequence[SelectedObject]) -> tuple[SelectedResource, ...]:
    return tuple(SelectedResource(o.group, o.version, o.kind, o.namespace, o.name) for o in objects)


def placement_view(
    p: Placed,
    inputs: HubInputs,
    bundle_ids: Mapping[str, str],
    digests: Callable[[str], Mapping[str, str]] | None = None,
) -> PlacementView:
    """``digests``: a cluster -> the placement digests of the bundle now on its branch (read
    only when a report speaks about another bundle)."""
    placement, key = p.placement, p.memory.key
    report_diff = str(placement.strategy.apply_strategy.type) == "ReportDiff"
    external = placement.strategy.type == RolloutStrategyType.EXTERNAL
    if p.schedule is None:
        scheduled = Condition(
            "Scheduled", Status.FALSE, "InvalidResourceSelectors", "; ".join(p.selection_errors)
        )
        return PlacementView(
            placement.kind,
            placement.namespace,
            placement.name,
            key,
            scheduled,
            _selected(p.selected),
            report_diff=report_diff,
            external=external,
        )
    sc = p.schedule.condition
    scheduled = Condition("Scheduled", sc.status, sc.reason, sc.message)
    decision = p.decision or RolloutDecision()
    held = set(decision.held)
    views: list[ClusterView] = []
    for b in p.schedule.bindings:
        if not b.selected:
            continue
        rec = p.memory.binding(b.cluster)
        result = p.results.get(b.cluster)
        bound = rec is not None and bool(rec.version)
        if result is not None and not result.ok:
            rollout = Status.TRUE
        elif external:  # KubeFleet: whatever the binding holds, once a run has moved it (any index)
            rollout = Status.TRUE if bound else Status.UNKNOWN
        elif b.cluster in held or not bound:
            rollout = Status.FALSE
        elif rec is not None and rec.version == p.desired.get(b.cluster):
            rollout = Status.TRUE
        else:
            rollout = Status.FALSE
        violations = p.violations.get(b.cluster, ())
        blocking = [v for v in violations if v.blocking]
        if blocking and rollout != Status.TRUE:
            rollout = Status.FALSE
        decision_text = next((d.reason for d in p.schedule.decisions if d.cluster_name == b.cluster), "")
        report = _report_for(inputs, b.cluster, key, bundle_ids.get(b.cluster, ""), digests)
        views.append(
            ClusterView(
                cluster=b.cluster,
                scheduled_message=decision_text,
                pick=(b.pick.cycle, b.pick.order) if b.pick else None,
                rollout=rollout,
                rollout_message=""
                if rollout == Status.TRUE
                else (
                    f"blocked by policy {blocking[0].policy}: {blocking[0].message}"
                    if blocking
                    else "waiting for a staged update run to roll it out"
                    if external
                    else "held by the rollout strategy"
                ),
                policy_violations=tuple(v.to_dict() for v in violations),
                overridden=Status.TRUE if result is None or result.ok else Status.FALSE,
                override_message=result.error if result is not None else "",
                applicable_cluster_overrides=result.applicable_cros if result is not None else (),
                applicable_resource_overrides=result.applicable_ros if result is not None else (),
                bound_index=rec.resource_index if bound and rec is not None else None,
                bundle_id=bundle_ids.get(b.cluster, "") if bound else "",
                report=report,
                same_share=report is not None and report.bundle_id != bundle_ids.get(b.cluster, ""),
                drifts={
                    path: d
                    for path, d in (
                        inputs.agents[b.cluster].drifts.items() if b.cluster in inputs.agents else ()
                    )
                    if d.placement == key
                },
            )
        )
    policy = placement.effective_policy
    if policy.placement_type == PlacementType.PICK_N and policy.number_of_clusters is not None:
        for _ in range(max(policy.number_of_clusters - len(views), 0)):
            views.append(ClusterView("", Status.FALSE, sc.message))
    latest = p.memory.latest
    observed = str(latest.index) if latest is not None else ""
    if external:
        indexes = {v.bound_index for v in views if v.cluster}
        observed = str(indexes.pop()) if len(indexes) == 1 and None not in indexes else ""
    selected = p.observed_selected if p.observed_selected is not None else p.selected
    return PlacementView(
        placement.kind,
        placement.namespace,
        placement.name,
        key,
        scheduled,
        _selected(selected),
        observed,
        report_diff,
        external,
        tuple(views),
    )


def _report_for(
    inputs: HubInputs,
    cluster: str,
    key: str,
    bundle_id: str,
    digests: Callable[[str], Mapping[str, str]] | None,
) -> PlacementReport | None:
    """The agent's entry for this placement when it speaks about the bundle on the branch, or
    about an older one with the same share for this placement (same digest)."""
    agent = inputs.agents.get(cluster)
    if agent is None or agent.report is None or not bundle_id:
        return None
    entry = next((p for p in agent.report.placements if p.key == key), None)
    if entry is None or entry.bundle_id == bundle_id:
        return entry
    if entry.digest and digests is not None and digests(cluster).get(key) == entry.digest:
        return entry
    return None
