"""KubeFleet's update rules as a pure check between two commits of a fleet repo.

On a KubeFleet hub some changes to an existing object are refused by CEL transition rules
(``oldSelf``) or by the validating webhook: a placement's type, a staged update run's target,
an eviction's spec. In fleetsync there is no API server to refuse the ``kubectl apply``; the
equivalent is comparing the commit a change is based on with the commit that makes it. So
``check_update(old, new)`` takes two ``FleetSpec``s and returns one located finding per refused
change: ``fleetsync plan`` compares base with head, the hub compares its last good commit with a
new one, and both refuse what KubeFleet would refuse — with the reason and what to do instead.

Only *updates* are judged: an object is the same object in both commits when its FleetSpec key
(kind, namespace, name) is the same. An object present in one commit only is a create or a
delete, which these rules never refuse. That is why the advice is "create one with another
name": deleting and re-adding the same name in one commit is still an update here.

Each rule compares KubeFleet's *effective* values (after CRD defaults), as the models hold
them: a missing policy is PickAll, a missing toleration operator is Equal, a missing run state
is Initialize. A finding points at the new object's file and line; given the new commit's
located documents (``LoadResult.documents``) it points at the changed field itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from fleetsync_contract import identity
from reconciler.api.eviction import EVICTION_KIND, Eviction
from reconciler.api.meta import ObjectMeta, Origin
from reconciler.api.override import Override, PlacementRef, placement_ref_change
from reconciler.api.placement import Placement, PlacementType, RolloutStrategyType, Toleration
from reconciler.api.staged import ApprovalRequest, RunState, StagedUpdateRun
from reconciler.errors import SCOPE_OBJECT, Finding
from reconciler.load.fleet import FleetSpec
from reconciler.load.yamldoc import Document, dotted

GROUP = "placement.kubernetes-fleet.io"
FieldPath = tuple[str | int, ...]

# KubeFleet's CEL rules on the run spec: once started a run cannot go back to Initialize, and a
# run that was never started cannot be stopped. (Initialize->Run and Run<->Stop are allowed.)
FORBIDDEN_TRANSITIONS: Mapping[tuple[RunState, RunState], str] = {
    (RunState.INITIALIZE, RunState.STOP): "set state Run to start it (Stop pauses a run that has started)",
    (RunState.RUN, RunState.INITIALIZE): "set state Stop to pause it, or create a new run with another name "
    "to start over",
    (RunState.STOP, RunState.INITIALIZE): "set state Run to resume it, or create a new run with another name "
    "to start over",
}
_NEW_PLACEMENT = "create a new placement with another name and delete this one"
_MAX_LISTED = 5


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused change of one object: the field (YAML path from the object root) and why."""

    path: FieldPath
    message: str


class _Object(Protocol):
    @property
    def meta(self) -> ObjectMeta: ...

    @property
    def origin(self) -> Origin: ...


T = TypeVar("T", bound=_Object)


def check_update(
    old: FleetSpec, new: FleetSpec, *, documents: Mapping[str, Document] | None = None
) -> list[Finding]:
    """Every change from ``old`` to ``new`` that KubeFleet would refuse as an update.

    ``documents`` (optional) are the new commit's located documents by identity, from
    ``LoadResult.documents``; with them a finding names the changed field's line and column,
    without them the line where the object starts.
    """
    findings = [f for found in refused_updates(old, new, documents=documents).values() for f in found]
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.field, f.message))


def refused_updates(
    old: FleetSpec, new: FleetSpec, *, documents: Mapping[str, Document] | None = None
) -> dict[str, tuple[Finding, ...]]:
    """``check_update`` by object: the identity of each object whose update KubeFleet would
    refuse → its refusals (object scope: the hub keeps that object's last good definition)."""
    found: list[tuple[str, Finding]] = []
    found += _updates(old.placements, new.placements, lambda p: p.kind, placement_changes, documents)
    found += _updates(
        old.cluster_overrides, new.cluster_overrides, lambda o: o.kind, override_changes, documents
    )
    found += _updates(
        old.resource_overrides, new.resource_overrides, lambda o: o.kind, override_changes, documents
    )
    found += _updates(old.runs, new.runs, lambda r: r.kind, run_changes, documents)
    found += _updates(old.approvals, new.approvals, lambda a: a.kind, approval_changes, documents)
    found += _updates(old.evictions, new.evictions, lambda _e: EVICTION_KIND, eviction_changes, documents)
    out: dict[str, list[Finding]] = {}
    for ident, finding in found:
        out.setdefault(ident, []).append(finding)
    return {k: tuple(v) for k, v in sorted(out.items())}


def _updates(
    old: Mapping[str, T],
    new: Mapping[str, T],
    kind_of: Callable[[T], str],
    rule: Callable[[T, T], Iterable[Refusal]],
    documents: Mapping[str, Document] | None,
) -> Iterator[tuple[str, Finding]]:
    for key in sorted(old.keys() & new.keys()):
        before, after = old[key], new[key]
        kind = kind_of(after)
        meta = after.meta
        label = f"{kind}/{meta.namespace}/{meta.name}" if meta.namespace else f"{kind}/{meta.name}"
        ident = identity(GROUP, kind, meta.namespace, meta.name)
        doc = documents.get(ident) if documents is not None else None
        for refusal in rule(before, after):
            line, column = doc.locate(refusal.path) if doc is not None else (after.origin.line, 0)
            finding = Finding(after.origin.file, line, column, dotted(refusal.path), refusal.message, label)
            yield ident, replace(finding, scope=SCOPE_OBJECT)


# -- placements (KubeFleet §2.1) ------------------------------------------------------------------


def placement_changes(old: Placement, new: Placement) -> Iterator[Refusal]:
    """policy not removable; placementType immutable; tolerations append-only; External stays
    External; statusReportingScope immutable."""
    was, now = old.placement_type, new.placement_type
    if old.policy is not None and new.policy is None:
        if was == PlacementType.PICK_ALL:
            todo = "put it back: write policy: {placementType: PickAll} to place on every cluster"
        else:
            todo = f"put it back (placementType {was} cannot change either), or {_NEW_PLACEMENT}"
        yield Refusal(
            ("spec", "policy"),
            f"policy cannot be removed once set (was placementType {was}, now unset): {todo}",
        )
    else:
        if was != now:
            unset = " (no policy means PickAll)" if old.policy is None else ""
            yield Refusal(
                ("spec", "policy", "placementType"),
                f"placementType is immutable (was {was}{unset}, now {now}): {_NEW_PLACEMENT}",
            )
        kept = set(new.effective_policy.tolerations)
        gone = [t for t in old.effective_policy.tolerations if t not in kept]
        if gone:
            listed = ", ".join(_toleration(t) for t in gone[:_MAX_LISTED])
            more = f" and {len(gone) - _MAX_LISTED} more" if len(gone) > _MAX_LISTED else ""
            yield Refusal(
                ("spec", "policy", "tolerations"),
                f"existing tolerations cannot be updated or deleted, only appended (changed or removed: "
                f"{listed}{more}): restore them as they were and add new tolerations after them; to drop "
                f"or change one, {_NEW_PLACEMENT}",
            )
    if (
        old.strategy.type == RolloutStrategyType.EXTERNAL
        and new.strategy.type != RolloutStrategyType.EXTERNAL
    ):
        yield Refusal(
            ("spec", "strategy", "type"),
            f"strategy type cannot change from External (now {new.strategy.type}): this placement is "
            f"rolled out by staged update runs; keep type External, or {_NEW_PLACEMENT}",
        )
    if old.status_reporting_scope != new.status_reporting_scope:
        yield Refusal(
            ("spec", "statusReportingScope"),
            f"statusReportingScope is immutable (was {old.status_reporting_scope}, now "
            f"{new.status_reporting_scope}): {_NEW_PLACEMENT}",
        )


def _toleration(t: Toleration) -> str:
    parts = [f"key: {t.key}" if t.key else "key: <any>", f"operator: {t.operator}"]
    if t.value:
        parts.append(f"value: {t.value}")
    parts.append(f"effect: {t.effect}" if t.effect else "effect: <any>")
    return "{" + ", ".join(parts) + "}"


# -- overrides (KubeFleet §4) ---------------------------------------------------------------------


def override_changes(old: Override, new: Override) -> Iterator[Refusal]:
    """``spec.placement`` cannot be added, removed or changed."""
    if placement_ref_change(old, new) is None:
        return
    yield Refusal(
        ("spec", "placement"),
        f"the placement field is immutable (was {_ref(old.placement)}, now {_ref(new.placement)}): "
        f"create a new {new.kind} with another name and delete this one",
    )


def _ref(ref: PlacementRef | None) -> str:
    return "unset" if ref is None else f"{{name: {ref.name}, scope: {ref.scope}}}"


# -- staged updates (KubeFleet §10) ---------------------------------------------------------------


def run_changes(old: StagedUpdateRun, new: StagedUpdateRun) -> Iterator[Refusal]:
    """placementName, resourceSnapshotIndex and stagedRolloutStrategyName are immutable; three
    state transitions are forbidden."""
    for key, was, now in (
        ("placementName", old.placement_name, new.placement_name),
        ("resourceSnapshotIndex", old.resource_snapshot_index, new.resource_snapshot_index),
        ("stagedRolloutStrategyName", old.strategy_name, new.strategy_name),
    ):
        if was != now:
            yield Refusal(
                ("spec", key),
                f"{key} is immutable (was {_text(was)}, now {_text(now)}): create a new "
                f"{new.kind} with another name for the new value",
            )
    todo = FORBIDDEN_TRANSITIONS.get((old.state, new.state))
    if todo is not None:
        yield Refusal(
            ("spec", "state"),
            f"invalid state transition: cannot transition from {old.state} to {new.state}: {todo}",
        )


def approval_changes(old: ApprovalRequest, new: ApprovalRequest) -> Iterator[Refusal]:
    """The spec of an approval request is immutable (its status is how a stage is approved)."""
    for key, was, now in (
        ("parentStageRollout", old.update_run, new.update_run),
        ("targetStage", old.target_stage, new.target_stage),
    ):
        if was != now:
            yield Refusal(
                ("spec", key),
                f"the spec field is immutable ({key} was {_text(was)}, now {_text(now)}): "
                "put it back; to approve another stage, approve the request the hub made for that "
                "stage (fleetsync approve)",
            )


# -- evictions (KubeFleet §11) --------------------------------------------------------------------


def eviction_changes(old: Eviction, new: Eviction) -> Iterator[Refusal]:
    """An eviction's spec is immutable: it is executed at most once, for what it named then."""
    for key, was, now in (
        ("placementName", old.placement_name, new.placement_name),
        ("clusterName", old.cluster_name, new.cluster_name),
    ):
        if was != now:
            yield Refusal(
                ("spec", key),
                f"{key} is immutable (was {_text(was)}, now {_text(now)}): an eviction "
                "runs once; create a new eviction with another name",
            )


def _text(value: str) -> str:
    return value if value else "unset"
