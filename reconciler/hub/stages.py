"""What the hub's per-placement stages pass each other: ``Reconcile``, the inputs every placement
of one reconcile shares, and the frozen result of each stage before the rollout.

They live apart from the stages (reconciler/hub/pipeline.py sequences them, reconciler/hub/rollout.py
is the rollout stage) so that a stage in its own module reads the results it depends on without
importing the module that calls it: the arrows between the hub's modules point one way, from the
sequence to the stages to these values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.api.placement import Placement
from reconciler.hub.clusters import ClusterState
from reconciler.hub.gate import Gate
from reconciler.hub.inputs import HubInputs
from reconciler.hub.overrides import OverrideResult
from reconciler.hub.snapshots import SnapshotObjects
from reconciler.load.fleet import FleetSpec
from reconciler.policy.gate import Violation
from reconciler.rollout.staged.approver import ApproverLookup
from reconciler.scheduler.model import Binding, Schedule
from reconciler.status.memory import SnapshotRecord

ScheduleFn = Callable[[Placement, Sequence[ClusterState], Sequence[Binding], int, datetime], Schedule]


@dataclass(frozen=True, slots=True)
class Reconcile:
    """What every placement of one reconcile is placed against: the stages' shared inputs."""

    spec: FleetSpec
    inputs: HubInputs  # plain data; its hub memory is every placement's starting point
    states: Sequence[ClusterState]
    by_name: Mapping[str, ClusterState]
    labels: Mapping[str, Mapping[str, str]]  # cluster -> its labels (what overrides and staged runs match)
    commit: str
    now: datetime
    gate: Gate  # the one place that may read old renders (through ``inputs.previous_doc``)
    schedule: ScheduleFn
    approvers: ApproverLookup | None = None
    older: SnapshotObjects | None = None


@dataclass(frozen=True, slots=True)
class Snapshots:
    """The snapshot stage's result: the resource snapshot history and the policy snapshot."""

    history: tuple[SnapshotRecord, ...]  # oldest first; the last one holds this commit's selection
    policy_hash: str
    policy_index: int

    @property
    def latest(self) -> int:
        return self.history[-1].index


@dataclass(frozen=True, slots=True)
class Overridden:
    """The override stage's result: what every selected cluster gets from this commit."""

    results: Mapping[str, OverrideResult]  # selected cluster -> its objects, or its override failure
    versions: Mapping[str, str]  # cluster whose overrides succeeded -> ``placement_version`` of its render


@dataclass(frozen=True, slots=True)
class Gated:
    """The policy gate stage's result."""

    violations: Mapping[str, tuple[Violation, ...]]  # cluster -> what the gate found in its render
    desired: Mapping[str, str]  # cluster -> the newest version it may move to (blocked changes left out)
