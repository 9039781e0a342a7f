"""The scheduler: a pure function from (placement, fleet, previous bindings, now) to a Schedule.

It reproduces KubeFleet's ``RunSchedulingCycleFor`` (``pkg/scheduler/framework/framework.go``)
decision for decision:

- bindings are classified per cycle: Unscheduled → dangling (cluster gone or leaving: marked Unscheduled)
  → obsolete (another policy hash) → Scheduled → Bound;
- PickAll: every cluster passing the filters is selected; obsolete bindings of clusters that no
  longer pass are unscheduled;
- PickN: downscale first (obsolete bindings unscheduled, then the excess — Scheduled before
  Bound, lowest stored score and smallest name first); stickiness (nothing runs while enough
  clusters are held); otherwise filter, score and pick the best ``min(N - held, batch limit)``
  clusters, ties broken by descending name;
- PickFixed (reconciler/scheduler/pickfixed.py): no plugins at all;
- picked clusters holding an obsolete binding keep it (re-pointed to the new policy), picked
  clusters holding an Unscheduled binding get their previous state back.

KubeFleet requeues after each cycle that hit a batch limit (topology spread picks ONE cluster
per cycle); here the cycles run inside one call until no requeue is due, so a fleet converges in
one reconcile with the same bindings and the same decisions KubeFleet shows after its last
cycle. Static plugin results are computed once per call and reused by every cycle; see
reconciler/scheduler/plugin.py for why a cycle then costs O(partitions + bindings).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from types import MappingProxyType

from reconciler.api.placement import Placement, PlacementType, policy_digest
from reconciler.errors import InternalError
from reconciler.hub.clusters import ClusterState
from reconciler.rollout.rolling import BindingState
from reconciler.scheduler.decisions import DecisionBuilder
from reconciler.scheduler.index import fleet_index, iter_positions, positions_of
from reconciler.scheduler.model import (
    MAX_UNSELECTED_DECISIONS,
    ZERO,
    Binding,
    ClusterScore,
    Pick,
    Schedule,
    ScheduledCondition,
)
from reconciler.scheduler.pickfixed import pick_fixed
from reconciler.scheduler.plugin import CallState, CyclePlugin, CycleState, Verdict
from reconciler.scheduler.profile import Profile, default_profile

# (score as a tuple, cluster name): sorting these in reverse gives KubeFleet's pick order.
Ranked = tuple[ClusterScore, str]


@dataclass(slots=True)
class Classified:
    bound: list[Binding] = field(default_factory=list)
    scheduled: list[Binding] = field(default_factory=list)
    obsolete: list[Binding] = field(default_factory=list)
    unscheduled: list[Binding] = field(default_factory=list)


def _rank(b: Binding) -> tuple[int, int, int]:
    """Which binding to keep when the input holds two for one cluster (never in fleetsync's own output)."""
    return (int(b.selected), int(b.state == BindingState.BOUND), int(b.score is not None))


def dedupe(previous: Sequence[Binding]) -> dict[str, Binding]:
    out: dict[str, Binding] = {}
    for b in sorted(previous, key=lambda x: (x.cluster, _rank(x), repr(x))):
        out[b.cluster] = b  # the highest rank wins, deterministically
    return out


def classify(bindings: dict[str, Binding], present: AbstractSet[str], policy_hash: str) -> Classified:
    """KubeFleet ``classifyBindings``; dangling bindings are marked Unscheduled in place."""
    out = Classified()
    for name in sorted(bindings):
        b = bindings[name]
        if b.state == BindingState.UNSCHEDULED:
            out.unscheduled.append(b)
        elif name not in present:
            bindings[name] = b.unscheduled()  # dangling: the cluster left the fleet
        elif b.policy_hash != policy_hash:
            out.obsolete.append(b)
        elif b.state == BindingState.SCHEDULED:
            out.scheduled.append(b)
        else:
            out.bound.append(b)
    return out


@dataclass(slots=True)
class _Static:
    """Static plugin results for one call: reused by every cycle."""

    filtered: _Filtered  # (name, reason), by name
    partitions: dict[tuple[Hashable, ...], list[Ranked]]  # members best first
    positions: list[int]  # the clusters that passed every static filter (of ``call.index``)
    keys: list[tuple[Hashable, ...]]  # their partitions
    scores: list[ClusterScore]  # their static scores
    _by_name: dict[str, tuple[tuple[Hashable, ...], ClusterScore]] | None = None

    def of(self, name: str, names: Sequence[str]) -> tuple[tuple[Hashable, ...], ClusterScore] | None:
        """(partition, static score) of a cluster that passed, else None; built on first use
        (only a cluster holding an obsolete binding asks)."""
        if self._by_name is None:
            self._by_name = {
                names[p]: (k, s) for p, k, s in zip(self.positions, self.keys, self.scores, strict=True)
            }
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True)
class _Filtered:
    """Every filtered cluster by name, with the reason of the first filter (in profile order) it
    failed; each iteration starts afresh, and computes only as far as it is read (the decisions
    list takes at most 20)."""

    names: Sequence[str]
    failed: tuple[tuple[int, Callable[[int], str]], ...]  # (clusters it filtered out, their reason)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        union = 0
        for bits, _ in self.failed:
            union |= bits
        for p in iter_positions(union):
            for bits, reason_of in self.failed:
                if bits >> p & 1:
                    yield self.names[p], reason_of(p)
                    break


def _ranked_members(positions: list[int], scores: list[ClusterScore], names: Sequence[str]) -> list[Ranked]:
    """(score, name) of one partition's clusters, best first (descending score, then name).
    Sorted on one integer per cluster: positions follow names, and a fleet has few distinct scores."""
    rank = {s: r for r, s in enumerate(sorted(set(scores)))}
    size = len(names)
    value = [rank[s] * size + p for s, p in zip(scores, positions, strict=True)]
    order = sorted(range(len(positions)), key=value.__getitem__, reverse=True)
    return [(scores[k], names[positions[k]]) for k in order]


def _static_pass(
    profile: Profile, call: CallState, cycle_plugins: Sequence[CyclePlugin], scoring: bool
) -> _Static:
    index = call.index
    filters = [p for p in profile.filters if p.pre_filter(call)]
    scorers = [p for p in profile.scorers if p.pre_score(call)] if scoring else []
    remaining = index.all
    failed: list[tuple[int, Callable[[int], str]]] = []
    for f in filters:  # in profile order: a cluster is reported by the first filter it fails
        passed, reason_of = f.filter_bits(call)
        if remaining & ~passed:
            failed.append((remaining & ~passed, reason_of))
        remaining &= passed
    positions = positions_of(remaining)
    scores = scorers[0].score_many(call, positions) if scorers else [ZERO] * len(positions)
    for s in scorers[1:]:
        scores = [a.plus(b) for a, b in zip(scores, s.score_many(call, positions), strict=True)]
    if cycle_plugins:
        per_plugin = [p.partition_keys(call, positions) for p in cycle_plugins]
        keys: list[tuple[Hashable, ...]] = list(zip(*per_plugin, strict=True))
    else:
        keys = [()] * len(positions)
    grouped: dict[tuple[Hashable, ...], tuple[list[int], list[ClusterScore]]] = {}
    for p, score, key in zip(positions, scores, keys, strict=True):
        group = grouped.get(key)
        if group is None:
            grouped[key] = group = ([], [])
        group[0].append(p)
        group[1].append(score)
    partitions = {key: _ranked_members(ps, ss, index.names) for key, (ps, ss) in grouped.items()}
    return _Static(_Filtered(index.names, tuple(failed)), partitions, positions, keys, scores)


@dataclass(slots=True)
class _CycleRun:
    ranked: Iterator[Ranked]  # every scored cluster, best first (lazy)
    filtered: Iterator[tuple[str, str]]  # every filtered cluster, by name (lazy)
    limit: int


def _run_cycle(
    static: _Static, call: CallState, cycle: CycleState, cycle_plugins: Sequence[CyclePlugin], scoring: bool
) -> _CycleRun:
    limit = cycle.desired_batch
    for p in cycle_plugins:
        lim = p.post_batch(call, cycle)
        if lim is not None and 0 <= lim < limit:
            limit = lim
    verdict_fns = [p.evaluate(call, cycle) for p in cycle_plugins]
    excluded: set[str] = set()
    bonus: dict[str, ClusterScore] = {}
    for p in cycle_plugins:
        excluded |= p.already_selected(call, cycle)
        if scoring:
            for name, s in p.bonus(call, cycle).items():
                bonus[name] = bonus.get(name, ZERO).plus(s)

    streams: list[Iterator[Ranked]] = []
    rejected: list[Iterator[tuple[str, str]]] = [iter(static.filtered)]
    names = call.index.names
    for key, members in static.partitions.items():
        reason: str | None = None
        group = ZERO
        for fn, k in zip(verdict_fns, key, strict=True):
            v: Verdict = fn(k)
            if v[0] is not None and reason is None:
                reason = v[0]
            group = group.plus(v[1])
        if reason is not None:
            rejected.append(_rejected(members, excluded, reason))
            continue
        if not scoring:
            group = ZERO
        streams.append(_partition_stream(members, group, excluded, bonus, static, key, names))
    ranked = heapq.merge(*streams, reverse=True)
    filtered = heapq.merge(*rejected)
    return _CycleRun(ranked, filtered, limit)


def _rejected(members: list[Ranked], excluded: set[str], reason: str) -> Iterator[tuple[str, str]]:
    """A filtered partition's clusters by name — lazily: only the last cycle lists them."""
    for name in sorted(n for _, n in members if n not in excluded):
        yield name, reason


def _partition_stream(
    members: list[Ranked],
    group: ClusterScore,
    excluded: set[str],
    bonus: dict[str, ClusterScore],
    static: _Static,
    key: tuple[Hashable, ...],
    names: Sequence[str],
) -> Iterator[Ranked]:
    if group == ZERO:
        plain: Iterator[Ranked] = ((t, n) for t, n in members if n not in excluded and n not in bonus)
    else:
        plain = ((t.plus(group), n) for t, n in members if n not in excluded and n not in bonus)
    boosted = sorted(
        (
            (of[1].plus(group).plus(s), n)
            for n, s in bonus.items()
            if n not in excluded and (of := static.of(n, names)) is not None and of[0] == key
        ),
        reverse=True,
    )
    if not boosted:
        return plain
    return heapq.merge(plain, iter(boosted), reverse=True)


def _cross_reference(
    bindings: dict[str, Binding], picked: list[Ranked], c: Classified, policy_hash: str, scoring: bool
) -> tuple[list[Binding], list[Binding]]:
    """KubeFleet ``crossReferencePickedClustersAndDeDupBindings``; returns (created, patched)."""
    scores = {n: t.stored() if scoring else ZERO for t, n in picked}
    checked: set[str] = set()
    patched: list[Binding] = []
    for b in c.obsolete:
        checked.add(b.cluster)
        if b.cluster in scores:
            nb = replace(b, policy_hash=policy_hash, score=scores[b.cluster])
            patched.append(nb)
            bindings[b.cluster] = nb
        else:
            bindings[b.cluster] = b.unscheduled()
    for b in c.unscheduled:
        checked.add(b.cluster)
        if b.cluster in scores:
            state = b.previous_state or BindingState.SCHEDULED
            nb = Binding(b.cluster, state, policy_hash, scores[b.cluster], None)
            patched.append(nb)
            bindings[b.cluster] = nb
    created: list[Binding] = []
    for _, n in picked:
        if n not in checked:
            nb = Binding(n, BindingState.SCHEDULED, policy_hash, scores[n], None)
            created.append(nb)
            bindings[n] = nb
    return created, patched


def _downscale(
    bindings: dict[str, Binding], c: Classified, count: int
) -> tuple[list[Binding], list[Binding]]:
    """KubeFleet ``downscale``; returns the (scheduled, bound) bindings that remain."""

    def order(bs: list[Binding]) -> list[Binding]:
        return sorted(bs, key=lambda b: (b.score is not None, b.score or ZERO, b.cluster))

    scheduled, bound = c.scheduled, c.bound
    if count == 0:
        return scheduled, bound
    if count < len(scheduled):
        ordered = order(scheduled)
        drop, keep_s, keep_b = ordered[:count], ordered[count:], bound
    elif count == len(scheduled):
        drop, keep_s, keep_b = list(scheduled), [], bound
    else:
        ordered = order(bound)
        left = count - len(scheduled)
        drop, keep_s, keep_b = [*scheduled, *ordered[:left]], [], ordered[left:]
    for b in drop:
        bindings[b.cluster] = b.unscheduled()
    return keep_s, keep_b


def record_picks(picks: dict[str, Pick], base: Pick, cycle: int, names: Iterable[str]) -> None:
    """Add ``names``, picked in this order in this call's ``cycle``, after the picks already
    made (``base``: the latest cycle and order among the bindings the placement holds; a cluster
    that already holds a pick keeps it, so a PickFixed or re-picked cluster is not renumbered)."""
    for name in names:
        if name not in picks:
            picks[name] = Pick(base.cycle + cycle, base.order + len(picks) + 1)


def with_picks(bindings: dict[str, Binding], picks: dict[str, Pick]) -> dict[str, Binding]:
    """The bindings with this call's picks on the clusters it picked (others keep theirs)."""
    return {n: replace(b, pick=picks[n]) if n in picks and b.selected else b for n, b in bindings.items()}


def scheduling_policy_hash(placement: Placement) -> str:
    """The policy snapshot identity of a placement (``policy_digest``: N is not part of it)."""
    return policy_digest(placement.policy)


def schedule(
    placement: Placement,
    clusters: Sequence[ClusterState],
    previous: Sequence[Binding],
    policy_index: int,
    now: datetime,
    *,
    profile: Profile | None = None,
) -> Schedule:
    """Schedule one placement; the same inputs in any order give the same Schedule.

    ``now`` is accepted for the stages that need it; eligibility was already decided against
    it when ``clusters`` were built (reconciler/hub/clusters.py).
    """
    del now  # eligibility is decided in ClusterState; kept in the signature for the pipeline
    profile = profile or default_profile()
    policy = placement.effective_policy
    policy_hash = scheduling_policy_hash(placement)
    index = fleet_index(clusters)  # built once per tuple of states: the hub's pass shares it
    fleet = index.clusters  # deduplicated, by name
    present = index.present  # a leaving cluster's bindings dangle
    bindings = dedupe(previous)
    picks: dict[str, Pick] = {}  # in the order this call picks, over all its cycles
    earlier = {n: b.pick for n, b in bindings.items() if b.selected and b.pick is not None}
    base = Pick(
        max((p.cycle for p in earlier.values()), default=0),
        max((p.order for p in earlier.values()), default=0),
    )

    def done(builder: DecisionBuilder, condition: ScheduledCondition, cycles: int) -> Schedule:
        final = with_picks(bindings, picks)
        return Schedule(
            placement=placement.key,
            policy_hash=policy_hash,
            policy_index=policy_index,
            bindings=tuple(final[n] for n in sorted(final)),
            decisions=builder.decisions(),
            condition=condition,
            cluster_count=len(fleet),
            cycles=cycles,
            picks=MappingProxyType({n: b.pick for n, b in final.items() if b.selected and b.pick}),
        )

    if policy.placement_type == PlacementType.PICK_FIXED:
        classified = classify(bindings, present, policy_hash)
        builder, condition = pick_fixed(policy.cluster_names, fleet, bindings, classified, policy_hash)
        chosen = {d.cluster_name for d in builder.decisions() if d.selected}
        record_picks(picks, base, 1, (n for n in policy.cluster_names if n in chosen and n not in earlier))
        return done(builder, condition, 1)

    pick_n = policy.placement_type == PlacementType.PICK_N
    wanted = (policy.number_of_clusters or 0) if pick_n else 0
    call = CallState(placement, policy, fleet, fleet=index)
    cycle_plugins = [p for p in profile.cycle_plugins if p.pre_filter(call)]
    static: _Static | None = None
    cycles = 0
    while True:
        cycles += 1
        c = classify(bindings, present, policy_hash)
        held = len(c.scheduled) + len(c.bound)
        if pick_n and wanted <= held and held - wanted + len(c.obsolete) > 0:
            for b in c.obsolete:
                bindings[b.cluster] = b.unscheduled()
            keep_s, keep_b = _downscale(bindings, c, held - wanted)
            builder = DecisionBuilder()
            builder.add_selected(keep_s, keep_b)
            return done(builder, ScheduledCondition.from_count(len(keep_s) + len(keep_b), wanted), cycles)
        if pick_n and wanted <= held:  # sticky: nothing to do, refresh the status only
            builder = DecisionBuilder()
            builder.add_selected(c.bound, c.scheduled)
            return done(builder, ScheduledCondition.from_count(held, wanted), cycles)

        if static is None:
            static = _static_pass(profile, call, cycle_plugins, scoring=pick_n)
        cycle = CycleState(
            selected=frozenset(b.cluster for b in (*c.scheduled, *c.bound)),
            obsolete=frozenset(b.cluster for b in c.obsolete),
            desired_batch=wanted - held if pick_n else len(fleet),
        )
        run = _run_cycle(static, call, cycle, cycle_plugins, scoring=pick_n)
        if pick_n:
            picked = list(islice(run.ranked, min(cycle.desired_batch, run.limit)))
        else:  # PickAll: everything that passed, by name (all scores are zero)
            picked = sorted(run.ranked, key=lambda r: r[1])
        created, patched = _cross_reference(bindings, picked, c, policy_hash, scoring=pick_n)
        record_picks(picks, base, cycles, (n for _, n in picked if n not in earlier))
        if pick_n and cycle.desired_batch > run.limit and len(created) + len(patched) == run.limit:
            if cycles > len(fleet) + 1:  # a bug guard: every requeue binds one more distinct cluster
                raise InternalError("scheduler did not converge")
            continue  # KubeFleet requeues: one more cycle with the new bindings
        builder = DecisionBuilder()
        builder.add_selected(created, patched, c.scheduled, c.bound)
        if pick_n:
            builder.add_not_picked(islice(run.ranked, MAX_UNSELECTED_DECISIONS + 1))
        builder.add_filtered(run.filtered)
        found = len(created) + len(patched) + held
        return done(builder, ScheduledCondition.from_count(found, wanted if pick_n else found), cycles)
