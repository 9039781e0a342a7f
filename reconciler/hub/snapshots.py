"""Older resource snapshots, read back from the fleet commit that created them.

KubeFleet keeps every resource snapshot as an immutable object, so a staged update run can
roll out any index still in the history — a rollback is a run whose ``resourceSnapshotIndex``
names an older one, and a run keeps rolling out its frozen index after newer commits arrive.
fleetsync keeps no copy of a snapshot's objects: the hub memory records each snapshot's index,
content hash and the fleet commit that created it (``SnapshotRecord``). The commit *is* the
snapshot, so an older one is recovered by loading that commit and selecting with the
placement as it stood then; the content hash recorded at the time must come out again, or the
snapshot is refused (a loader or kustomize that now reads the commit differently would
otherwise roll out something nobody reviewed).

The same holds for overrides: KubeFleet freezes a run's override snapshots at initialization,
and fleetsync records the fleet commit a run was initialized at, whose overrides the run then
applies (``overrides(commit)``), whatever later commits do to them.

``SnapshotReader`` does this behind one small interface the pure stages receive (the
clock-and-git injection rule): ``reader(placement_key, record)`` returns the selected objects or
raises ``SnapshotUnavailable`` with a sentence that a run's status can carry. Loaded commits and
selections are kept in small LRUs keyed by content (commit ids, snapshot records); the hub's
session (reconciler/hub/session.py) keeps the reader, so a long-running hub loads an old commit
once, not every pass.
"""

from __future__ import annotations

import logging
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from reconciler.api.override import Override
from reconciler.errors import StageSignal, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.select import SelectedObject, select_resources
from reconciler.load.fleet import FleetSpec, load_directory
from reconciler.status.memory import SnapshotRecord

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

KEEP = 16  # selections remembered (a few placements' rollbacks)
KEEP_SPECS = 3  # loaded fleet commits remembered


class SnapshotUnavailable(StageSignal):
    """This snapshot's objects cannot be recovered; the message says why, for the run's status."""


class SnapshotObjects(Protocol):
    """What the pure stages may ask of older fleet commits."""

    def __call__(self, placement_key: str, record: SnapshotRecord, /) -> Sequence[SelectedObject]: ...

    def overrides(self, commit: str, /) -> tuple[Sequence[Override], Sequence[Override]]:
        """The ClusterResourceOverrides and ResourceOverrides of ``commit`` (SnapshotUnavailable if unreadable)."""
        ...


class _Memo(Generic[K, V]):
    """The last ``size`` results by key, a ``SnapshotUnavailable`` remembered like a value
    (a commit that cannot be read stays unreadable; a TransientError is not remembered)."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[K, V | str] = OrderedDict()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        hit = self._items.get(key)
        if hit is None:
            try:
                hit = compute()
            except SnapshotUnavailable as e:
                hit = str(e)
            self._items[key] = hit
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        self._items.move_to_end(key)
        if isinstance(hit, str):
            raise SnapshotUnavailable(hit)
        return hit


class SnapshotReader:
    """``SnapshotObjects`` over a hub repository (see the module docstring)."""

    def __init__(self, repo: HubRepo, keep: int = KEEP):
        self.repo = repo
        self._hits: _Memo[tuple[str, int, str, str], tuple[SelectedObject, ...]] = _Memo(keep)
        self._specs: _Memo[str, FleetSpec] = _Memo(KEEP_SPECS)

    def overrides(self, commit: str) -> tuple[Sequence[Override], Sequence[Override]]:
        spec = self._spec(commit)
        return list(spec.cluster_overrides.values()), list(spec.resource_overrides.values())

    def _spec(self, commit: str) -> FleetSpec:
        return self._specs.get(commit, lambda: self._load(commit))

    def _load(self, commit: str) -> FleetSpec:
        if self.repo.resolve(commit) != commit:
            raise SnapshotUnavailable(
                f"fleet commit {commit[:12]} is no longer in the repository (history rewritten?)"
            )
        try:
            with tempfile.TemporaryDirectory(prefix="fleetsync-snapshot-") as tmp:
                self.repo.export(commit, Path(tmp))
                loaded = load_directory(Path(tmp))
        except UserError as e:  # a TransientError propagates: the reconcile is retried
            raise SnapshotUnavailable(f"fleet commit {commit[:12]} cannot be read: {e}") from e
        if not loaded.ok:
            first = next((f for f in loaded.findings if f.severity == "error"), None)
            raise SnapshotUnavailable(
                f"fleet commit {commit[:12]} no longer loads" + (f" ({first})" if first is not None else "")
            )
        return loaded.spec

    def __call__(self, placement_key: str, record: SnapshotRecord) -> Sequence[SelectedObject]:
        key = (placement_key, record.index, record.hash, record.commit)
        return self._hits.get(key, lambda: tuple(self._read(placement_key, record)))

    def _read(self, placement_key: str, record: SnapshotRecord) -> Sequence[SelectedObject]:
        what = f"resource snapshot `{record.index}`"
        if not record.commit:
            raise SnapshotUnavailable(
                f"{what} was recorded without its fleet commit (by an older fleetsync), "
                "so its objects cannot be read back"
            )
        try:
            spec = self._spec(record.commit)
        except SnapshotUnavailable as e:
            raise SnapshotUnavailable(f"{what}: {e}") from e
        placement = spec.placements.get(placement_key)
        if placement is None:
            raise SnapshotUnavailable(
                f"{what}: fleet commit {record.commit[:12]} has no placement {placement_key}"
            )
        selection = select_resources(placement, spec.resources)
        if selection.errors or selection.hash != record.hash:
            raise SnapshotUnavailable(
                f"{what}: fleet commit {record.commit[:12]} no longer selects the objects "
                "recorded for it (the loader or kustomize reads it differently now)"
            )
        log.info(
            "read an older resource snapshot",
            extra={"placement": placement_key, "index": record.index, "commit": record.commit},
        )
        return selection.objects
