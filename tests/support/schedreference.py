"""A deliberately naive scheduler: KubeFleet's cycle loop, every plugin on every cluster, every cycle.

It shares the plugins and the binding bookkeeping with the real framework but none of its
caching, partitioning or lazy merging, so comparing the two checks the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.api.placement import Placement, PlacementType, WhenUnsatisfiable
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.decisions import DecisionBuilder
from reconciler.scheduler.framework import (
    _cross_reference,
    _downscale,
    classify,
    dedupe,
    scheduling_policy_hash,
)
from reconciler.scheduler.model import (
    MAX_UNSELECTED_DECISIONS,
    Binding,
    ClusterDecision,
    ClusterScore,
    ScheduledCondition,
)
from reconciler.scheduler.plugin import CallState
from reconciler.scheduler.plugins.clusteraffinity import ClusterAffinity
from reconciler.scheduler.plugins.clustereligibility import ClusterEligibility
from reconciler.scheduler.plugins.namespaceaffinity import NamespaceAffinity
from reconciler.scheduler.plugins.tainttoleration import TaintToleration
from reconciler.scheduler.plugins.topologyspread import SCHEDULE_ANYWAY_PENALTY, VIOLATION, will_violate

Result = tuple[tuple[Binding, ...], tuple[ClusterDecision, ...], ScheduledCondition]


def reference(placement: Placement, clusters: Sequence[ClusterState], previous: Sequence[Binding]) -> Result:  # noqa: C901
    policy = placement.effective_policy
    assert policy.placement_type != PlacementType.PICK_FIXED
    h = scheduling_policy_hash(placement)
    fleet = sorted({c.name: c for c in clusters}.values(), key=lambda c: c.name)
    present = {c.name for c in fleet}
    bindings = dedupe(previous)
    pick_n = policy.placement_type == PlacementType.PICK_N
    wanted = policy.number_of_clusters or 0

    def out(builder: DecisionBuilder, cond: ScheduledCondition) -> Result:
        return tuple(bindings[n] for n in sorted(bindings)), builder.decisions(), cond

    while True:
        c = classify(bindings, present, h)
        held = len(c.scheduled) + len(c.bound)
        if pick_n and wanted <= held and held - wanted + len(c.obsolete) > 0:
            for b in c.obsolete:
                bindings[b.cluster] = b.unscheduled()
            s, bd = _downscale(bindings, c, held - wanted)
            builder = DecisionBuilder()
            builder.add_selected(s, bd)
            return out(builder, ScheduledCondition.from_count(len(s) + len(bd), wanted))
        if pick_n and wanted <= held:
            builder = DecisionBuilder()
            builder.add_selected(c.bound, c.scheduled)
            return out(builder, ScheduledCondition.from_count(held, wanted))
        selected = {b.cluster for b in (*c.scheduled, *c.bound)}
        obsolete = {b.cluster for b in c.obsolete}
        desired = wanted - held
        limit = 1 if (pick_n and policy.topology_spread_constraints) else desired
        call = CallState(placement, policy, fleet)
        filters = [
            p
            for p in (ClusterAffinity(), ClusterEligibility(), NamespaceAffinity(), TaintToleration())
            if p.pre_filter(call)
        ]
        scorer = ClusterAffinity()
        scoring = pick_n and scorer.pre_score(call)
        constraints = policy.topology_spread_constraints if pick_n else ()
        counts = []
        for k in constraints:
            domain = {cl.labels[k.topology_key]: 0 for cl in fleet if k.topology_key in cl.labels}
            for cl in fleet:
                if k.topology_key in cl.labels and cl.name in selected:
                    domain[cl.labels[k.topology_key]] += 1
            counts.append(domain)
        scored: list[tuple[ClusterScore, str]] = []
        filtered: list[tuple[str, str]] = []
        for cl in fleet:
            reason = next((r for f in filters if (r := f.filter(call, cl)) is not None), None)
            if reason is None and cl.name in selected:
                continue  # already selected
            topo = 0
            if reason is None:
                for i in sorted(
                    range(len(constraints)),
                    key=lambda i: constraints[i].when_unsatisfiable != WhenUnsatisfiable.DO_NOT_SCHEDULE,
                ):
                    k = constraints[i]
                    if k.topology_key not in cl.labels:
                        continue
                    violated, change = will_violate(counts[i], cl.labels[k.topology_key], k.max_skew)
                    if violated and k.when_unsatisfiable == WhenUnsatisfiable.DO_NOT_SCHEDULE:
                        reason = VIOLATION.format(key=f'"{k.topology_key}"', skew=k.max_skew)
                    elif violated:
                        topo -= SCHEDULE_ANYWAY_PENALTY
                    else:
                        topo -= change
            if reason is not None:
                filtered.append((cl.name, reason))
                continue
            if not pick_n:
                scored.append((ClusterScore(), cl.name))
                continue
            aff = scorer.score(call, cl).affinity if scoring else 0
            scored.append((ClusterScore(topo, aff, int(cl.name in obsolete)), cl.name))
        if pick_n:
            scored.sort(reverse=True)
            picked = scored[: min(desired, limit)]
            rest = scored[len(picked) :]
        else:
            picked, rest = sorted(scored, key=lambda r: r[1]), []
        created, patched = _cross_reference(bindings, picked, c, h, scoring=pick_n)
        if pick_n and desired > limit and len(created) + len(patched) == limit:
            continue
        builder = DecisionBuilder()
        builder.add_selected(created, patched, c.scheduled, c.bound)
        builder.add_not_picked(rest[: MAX_UNSELECTED_DECISIONS + 1])
        builder.add_filtered(sorted(filtered))
        found = len(created) + len(patched) + held
        return out(builder, ScheduledCondition.from_count(found, wanted if pick_n else found))
