"""What the fleet view shows, read from the hub refs with the readers ``fleetsync get`` uses.

``FleetState`` is one consistent read: the status branch's placement, cluster and run documents
(reconciler/status/read.py, runs.py, with the live heartbeats ``get clusters`` adds), the
placements' policy snapshots (the scheduler's reasons), the hub's memory (snapshot commits,
binding scores), and every report branch's drifts, masked as
``get drift`` masks them (reconciler/drift/reports.py). ``StateSource`` keeps the last read and
reads again only when a hub ref moved, checking at most once per ``min_interval`` seconds, so a
page view costs a ``for-each-ref`` (and a fetch for a remote) rather than a walk of every branch.
Reading is serialized by a lock: the HTTP server answers from several threads, the repository
is one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fleetsync_contract.canonical import CanonicalError
from fleetsync_contract.gitauth import mask_url_credentials
from reconciler.drift.reports import DriftEntry, read_all, report_clusters
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import STATUS_HEAD
from reconciler.status.memory import STATUS_FILE, HubMemory, StatusFormatError, parse_memory
from reconciler.status.policysnapshots import by_placement
from reconciler.status.read import objects, with_heartbeats
from reconciler.status.runs import run_docs


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FleetState:
    """One read of the status and report branches (documents as the hub wrote them)."""

    repo: str = ""  # the fleet repo's location, credentials masked
    status_commit: str = ""  # fleet/status tip ("" before the hub's first reconcile)
    placements: tuple[dict[str, Any], ...] = ()
    clusters: tuple[dict[str, Any], ...] = ()
    runs: tuple[dict[str, Any], ...] = ()
    memory: HubMemory = field(default_factory=HubMemory)
    drifts: tuple[DriftEntry, ...] = ()
    report_tips: Mapping[str, str] = field(default_factory=_empty)  # cluster -> report branch tip
    # placement key -> its latest scheduling policy snapshot (reconciler/status/policysnapshots.py)
    policy_snapshots: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))


def _memory(files: Mapping[str, bytes]) -> HubMemory:
    data = files.get(STATUS_FILE)
    if data is None:
        return HubMemory()
    try:
        return parse_memory(data)
    except (StatusFormatError, CanonicalError):
        return HubMemory()


def read_state(repo: HubRepo, location: str) -> FleetState:
    """Everything the pages show, from the hub refs as ``repo`` has them now (no fetch here)."""
    commit = repo.hub_refs().get(STATUS_HEAD, "")
    files = repo.read_files(commit) if commit else {}
    drifts, _ = read_all(repo)
    return FleetState(
        repo=mask_url_credentials(location),
        status_commit=commit,
        placements=tuple(objects(files, "placements")),
        clusters=tuple(with_heartbeats(repo, objects(files, "clusters"))),
        runs=tuple(run_docs(files)),
        memory=_memory(files),
        drifts=tuple(drifts),
        report_tips=MappingProxyType(report_clusters(repo)),
        policy_snapshots=MappingProxyType(by_placement(files)),
    )


class StateSource:
    """The newest ``FleetState``, read again when a hub ref moved (checked every ``min_interval`` s)."""

    def __init__(
        self,
        repo: HubRepo,
        location: str,
        *,
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_check: Callable[[], None] = lambda: None,
    ):
        self.repo = repo
        self.on_check = on_check  # called after every successful check of the refs (readiness)
        self.location = location
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._tips: dict[str, str] | None = None
        self._checked: float | None = None
        self._state = FleetState(repo=mask_url_credentials(location))
        self.reads = 0  # how many times the branches were read (tests and logs)

    def current(self) -> FleetState:
        with self._lock:
            now = self.clock()
            if self._checked is not None and now - self._checked < self.min_interval:
                return self._state
            self._checked = now
            self.repo.refresh(source=False)
            tips = self.repo.hub_refs()
            if tips != self._tips:
                self._state = read_state(self.repo, self.location)
                self._tips = tips
                self.reads += 1
            self.on_check()
            return self._state
