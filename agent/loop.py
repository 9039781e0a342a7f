"""The agent's one sequencer: fetch → verify → waves/apply → prune → availability → properties → report.

``Agent.sync`` runs one pass; ``Runner`` (agent/runner.py) runs passes on apscheduler's blocking
scheduler every ``--interval`` seconds (backing off with jitter while passes fail) and beats the
heartbeat ref at the MemberCluster's ``heartbeatPeriodSeconds``. The cluster, the Git source, the clock and the
sleep are injected, so a pass can be driven step by step in tests.

State that must survive a restart lives in the member cluster, not on the agent's disk: the
inventory ConfigMap (``fleetsync-inventory`` in the agent's namespace) holds what the agent
applied and the bundle commit it last accepted, which is what a new bundle must descend from.
While the Git source fails (unreachable, a bundle refused, a rewritten branch) the agent keeps
enforcing the last good bundle it holds and prunes nothing; after a restart without a reachable
source it reads the last accepted bundle (the commit the inventory names) from its local clone,
verifies it again and enforces it, still pruning nothing and reporting the source stale.
A running agent's fetch never holds the pass either (``fetch_wait``, ``FETCH_WAIT_SECONDS``): it
runs on a thread of its own, one at a time, and a pass it has not answered within the bound goes
on with the bundle it holds, exactly as when the fetch failed; a later pass takes its result.
The times a report carries over (a drift's firstObservedTime, an untrackable object's
availableSince, conditions' lastTransitionTime) survive in the report branch itself: the first
pass reads the agent's last report back and takes it as the previous report when it is this
cluster's and names the bundle commit the inventory records, so a restart (or each ``--once``)
neither restarts those clocks nor commits an identical report again (docs/agent.md, "Restarts").

The inventory also names its owner, one (fleet, cluster name) per member (agent/ownership.py):
each pass judges that claim first, so an agent of another cluster name stops with
``ClaimRefused`` before it touches anything, and a claim it cannot yet prove its own (another
fleet URL, an inventory older than claims) lends it nothing — no last commit to keep, no cached
bundle, no inventory entries to report — until its bundle is shown to descend from the claim's
commit, or it is refused as another fleet's member.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from agent.apply.backoff import ObjectBackoff
from agent.apply.decrypt import decryptor_for
from agent.apply.inventory import (
    Inventory,
    PrunePolicy,
    entry_for,
    updated_inventory,
)
from agent.apply.manager import Applier, Kube, Result, Strategy, Work
from agent.apply.prune import prune
from agent.apply.waves import apply_in_waves
from agent.errors import BundleRefused, ClaimRefused, KubeError, NotFound, SourceError, Unrelated
from agent.observe import Observing, detached, in_background
from agent.ownership import Claim, Standing, judge, refusal
from agent.properties import DefaultProvider, PropertyProvider
from agent.report import (
    PlacementInfo,
    ReportInput,
    build_report,
    commit_message,
    fingerprint,
    not_our_report,
)
from agent.source import FetchedBundle
from fleetsync_contract import BUNDLE_REF_PREFIX
from fleetsync_contract.bundle import Bundle, BundleError, placement_digests
from fleetsync_contract.integrity import BundleFiles, bundle_files
from fleetsync_contract.report import (
    HEARTBEAT_FILE,
    ClusterReport,
    Envelope,
    Health,
    Heartbeat,
    InventoryItem,
    ObjectDrift,
    Outcome,
    PruneSummary,
    ResourceUsage,
    SourceState,
    dump_heartbeat,
    format_time,
    parse_report_tree,
    report_files,
)

log = logging.getLogger("fleetsync.agent")

AGENT_VERSION = "0.1.0"
INVENTORY_NAME = "fleetsync-inventory"
# Objects applied at once within a wave. A real API server answers a server-side apply in ~10-60 ms
# and serves many requests at once, so the wave's time is about objects / WORKERS round trips
# (docs/agent.md, "Performance"); KubeClient pools as many connections.
WORKERS = 16
# Seconds between heartbeats until a bundle carries the MemberCluster's heartbeatPeriodSeconds
# (memberCluster in bundle.yaml), KubeFleet's default.
DEFAULT_HEARTBEAT_SECONDS = 60.0
# Seconds a pass of a running agent waits for its bundle fetch before it enforces the bundle it
# holds (``Agent.fetch_wait``; docs/agent.md, "Options"): long enough for a fetch from a Git host
# that answers, short enough that a silent one never holds drift correction.
FETCH_WAIT_SECONDS = 5.0

Obj = dict[str, Any]

# Outcomes that leave an object other than the hub wants it, with nothing this agent will do about
# it on its own: a finding (``agent run --once`` exits 1). Applied, Unchanged, TakenOver and
# NoDiff are not, nor RemovedByOverride and Pruned (the hub wanted the object gone).
FINDING_OUTCOMES = frozenset(
    {
        Outcome.FAILED_TO_APPLY,
        Outcome.FAILED_TO_TAKE_OVER,
        Outcome.SKIPPED_TAKE_OVER_NEVER,
        Outcome.DRIFTED,
        Outcome.DIFF_REPORTED,
        Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS,
        Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS,
        Outcome.WAITING_FOR_CRD,
    }
)


class Source(Protocol):
    def fetch_bundle(self, last_accepted: str | None) -> FetchedBundle | None: ...

    def local_bundle(self, commit: str) -> FetchedBundle | None: ...

    def last_report(self) -> Mapping[str, bytes] | None: ...

    def push_report(self, files: Mapping[str, bytes], message: str, author: str) -> str | None: ...

    def beat(self, files: Mapping[str, bytes], message: str, author: str) -> str: ...


def _done(applied: Future[Obj] | None) -> bool:
    """Whether an apply started earlier in the pass went through (an error: apply it again, where
    a failure fails the pass)."""
    if applied is None:
        return False
    try:
        applied.result()
    except KubeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Pending:
    """A report made and ready to push (``Agent._to_publish``)."""

    report: ClusterReport
    drifts: dict[str, ObjectDrift]
    fingerprint: bytes
    files: Mapping[str, bytes]
    message: str


class _StillFetching(Exception):
    """The fetch in flight has not ended within ``Agent.fetch_wait``."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    cluster: str
    namespace: str = "fleetsync-system"
    workers: int = WORKERS
    max_prune_share: float = 0.5
    allow_protected: frozenset[tuple[str, str]] = frozenset()
    crd_wait_seconds: float = 60.0
    agent_version: str = AGENT_VERSION
    fleet: str = ""  # the fleet repo URL, credentials removed: the inventory's claim names it
    take_over_from: str = ""  # --take-over-from: the owner this agent may take the member from
    # "": the Secret fleetsync-age-identity in ``namespace`` (agent/apply/decrypt.py)
    age_identity_file: str = ""


@dataclass(frozen=True, slots=True)
class SyncSummary:
    bundle_id: str
    results: tuple[Result, ...]
    report_commit: str | None
    deleted: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    # seconds per phase, in pass order: inventory (read), last_report (first pass only), fetch
    # (and verify), parse, apply, prune, observe (health and properties), inventory_write, report
    timings: Mapping[str, float] = field(default_factory=dict)

    def findings(self) -> tuple[Result, ...]:
        """The objects a person must look at after this pass: not applied (failed, refused,
        waiting for their CRD), or still differing from the hub — drift left in place
        (IfNotDrifted, a conflict), a diff reported, or fields an apply could not set
        (FullComparison). Drift the pass corrected is not one: the object is as the hub wants it."""
        return tuple(
            r
            for r in self.results
            if r.outcome in FINDING_OUTCOMES or (r.details and r.drift_type is not None)
        )


@dataclass
class _State:
    bundle: Bundle | None = None
    # the verified bundle's files, with the parses verification made (one parse per file per sync)
    files: BundleFiles = field(default_factory=lambda: BundleFiles({}))
    commit: str = ""
    signed_by: str = ""  # the hub key that signed ``commit`` (checked with --verify-key-file)
    report: ClusterReport | None = None
    drifts: dict[str, ObjectDrift] = field(default_factory=dict)
    fingerprint: bytes = b""
    report_read: bool = False  # the report branch was read back (once per process, at start)
    discovery_fresh: bool = True  # the client discovers on construction
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 → parsed manifest


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        kube: Kube,
        source: Source,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        providers: Sequence[PropertyProvider] = (DefaultProvider(),),
        rng: random.Random | None = None,
        fetch_wait: float | None = None,
    ):
        self.config = config
        # None: a pass waits for its fetch (bounded by the git timeout: ``--once``); a number: the
        # fetch runs on a thread of its own and a pass waits at most that long for it (``_fetch``).
        self.fetch_wait = fetch_wait
        self._fetching: Future[FetchedBundle | None] | None = None  # the one fetch in flight
        self.kube = kube
        self.source = source
        self.clock = clock
        self.sleep = sleep
        self.providers = tuple(providers)
        self.rng = rng or random.Random()
        self.state = _State()
        self.backoff = ObjectBackoff(clock=clock, rng=self.rng)  # objects held across passes
        self._lock = threading.Lock()  # one sync at a time; the heartbeat reads the result
        self._claim = Claim()  # the member's owner as this pass read it (agent/ownership.py)
        self._standing = Standing.NONE

    @property
    def author(self) -> str:
        return f"fleetsync-agent-{self.config.cluster}"

    # -- inventory (in-cluster) -------------------------------------------------------------
    @property
    def inventory_name(self) -> str:
        return f"ConfigMap {self.config.namespace}/{INVENTORY_NAME}"

    def check_claim(self) -> None:
        """Raise ClaimRefused when the member is claimed by another cluster name (a start-up
        check: another fleet's claim on this name is known only once a bundle is fetched)."""
        self._read_inventory()

    def _read_inventory(self) -> tuple[Inventory, str, bool]:
        """(inventory, the bundle commit it was written for, whether the ConfigMap exists), as
        far as this agent may use them: empty after a hand-over (``--take-over-from``); raises
        ClaimRefused for another cluster name's claim."""
        cm = self.kube.get(self.kube.kind("v1", "ConfigMap"), INVENTORY_NAME, self.config.namespace)
        data = (cm or {}).get("data") or {}
        c = self.config
        self._claim = Claim.from_data(data)
        self._standing = judge(
            self._claim, c.cluster, c.fleet, c.take_over_from, inventory=self.inventory_name
        )
        if self._standing is Standing.NONE and self._claim.commit:
            log.warning("taking this member over from %s (--take-over-from)", self._claim.owner)
            return Inventory(), "", cm is not None
        return Inventory.from_data(data), self._claim.commit, cm is not None

    def _claim_outdated(self) -> bool:
        """Whether the ConfigMap's claim must be written again (new owner or URL spelling)."""
        return (self._claim.cluster, self._claim.fleet) != (self.config.cluster, self.config.fleet)

    def _refused(self, e: Exception | None = None) -> ClaimRefused:
        c = self.config
        return refusal(
            self._claim,
            c.cluster,
            c.fleet,
            inventory=self.inventory_name,
            branch=f"fleet/bundles/{c.cluster} of {c.fleet}" if e is not None else "",
        )

    def _namespace(self) -> Obj:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.config.namespace}}

    def _write_inventory(
        self, inv: Inventory, commit: str, *, exists: bool, namespace: Future[Obj] | None = None
    ) -> None:
        """Apply the inventory ConfigMap; the agent's namespace first when the ConfigMap was absent
        (a first run) and the namespace was not applied already (``namespace``: while the pass
        ran), or when the apply says the namespace is gone."""
        ns = self.config.namespace
        inventory: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": INVENTORY_NAME,
                "namespace": ns,
                "labels": {"app.kubernetes.io/managed-by": "fleetsync"},
            },
            "data": {**inv.to_data(), **Claim(self.config.cluster, self.config.fleet, commit).to_data()},
        }
        if not exists and not _done(namespace):
            self.kube.apply(self._namespace(), force=True)
        try:
            self.kube.apply(inventory, force=True)
        except NotFound:
            self.kube.apply(self._namespace(), force=True)
            self.kube.apply(inventory, force=True)

    # -- one pass ---------------------------------------------------------------------------
    def sync(self) -> SyncSummary:
        with self._lock:
            return self._sync()

    def _sync(self) -> SyncSummary:
        errors: list[str] = []
        st = self.state
        if not st.discovery_fresh:
            self.kube.refresh_discovery()  # a kind was missing last pass: its CRD may be here now
            st.discovery_fresh = True
        timings: dict[str, float] = {}
        mark = self.clock()

        def lap(phase: str) -> None:
            nonlocal mark
            now = self.clock()
            timings[phase] = (now - mark).total_seconds()
            mark = now

        inventory, inv_commit, inv_exists = self._read_inventory()
        lap("inventory")
        if not st.report_read and self._fetching is None:  # one git process at a time (_fetched)
            self._read_last_report(inv_commit, errors)
            lap("last_report")
        unproven = self._standing is Standing.UNPROVEN
        source = self._fetch(inv_commit if unproven else (st.commit or inv_commit or None))
        lap("fetch")
        if not source.fresh:
            errors.append(source.message)
        if self._standing is Standing.UNPROVEN:  # not shown ours: nothing of the claim is used
            inventory, inv_commit = Inventory(), ""
        bundle = st.bundle if self._standing is not Standing.UNPROVEN else None
        results: tuple[Result, ...] = ()
        deleted: tuple[str, ...] = ()
        prune = PruneSummary()
        new_inventory = inventory
        observing: Observing | None = None
        writing: Future[None] | None = None
        if bundle is not None:
            # A first run applies the agent's namespace while it parses and applies, so that the
            # inventory write at the end is one request rather than two in a row.
            namespace = None if inv_exists else in_background(self.kube.apply, self._namespace(), force=True)
            works = self._works(bundle, st.files)
            lap("parse")
            results = self._apply(bundle, works)
            lap("apply")
            observing = Observing(self.kube)  # health, nodes and pods, read while the prune runs
            st.discovery_fresh = not any(r.outcome == Outcome.WAITING_FOR_CRD for r in results)
            deleted, prune, kept = self._prune(bundle, works, inventory, source.fresh)
            applied = [entry_for(r.live, r.placement) for r in results if r.owned and r.live is not None]
            wanted = {w.identity for w in works}
            held = {e.identity for e in inventory.entries if e.identity in wanted} - {
                a.identity for a in applied
            }
            new_inventory = updated_inventory(inventory, applied, deleted, kept | held, bundle.bundle_id)
            if (
                new_inventory.to_data() != inventory.to_data()
                or inv_commit != st.commit
                or self._claim_outdated()
            ):
                # Written while the report is built; a failed write still fails the pass before
                # the report is pushed.
                writing = in_background(
                    self._write_inventory, new_inventory, st.commit, exists=inv_exists, namespace=namespace
                )
            lap("prune")
        now = self.clock()
        collected, healthy, why = (observing or Observing(self.kube)).result(self.providers, now, errors)
        lap("observe")
        digests = placement_digests(bundle.placements, bundle.files) if bundle else {}
        report, drifts = build_report(
            ReportInput(
                cluster=self.config.cluster,
                agent_version=self.config.agent_version,
                now=now,
                bundle_id=bundle.bundle_id if bundle else "",
                bundle_commit=st.commit,
                placements=[
                    PlacementInfo(
                        p.key,
                        p.resource_index,
                        Strategy.parse(p.apply_strategy).type == "ReportDiff",
                        p.unavailable_period_seconds,
                        digests.get(p.key, ""),
                    )
                    for p in (bundle.placements if bundle else ())
                ],
                results=results,
                inventory=[
                    InventoryItem(e.api_version, e.kind, e.namespace, e.name, e.placement, e.uid)
                    for e in new_inventory.entries
                ],
                prune=prune,
                properties=collected.properties,
                usage=ResourceUsage(collected.capacity, collected.allocatable, collected.available),
                source=source,
                health=Health(healthy, why),
            ),
            st.report,
            st.drifts,
        )
        # The report's files and message are made while the inventory write is in flight; the
        # push waits for it (a failed write fails the pass before anything is pushed).
        pending = self._to_publish(report, drifts)
        if writing is not None:
            writing.result()
            lap("inventory_write")
        commit = self._publish(pending, errors)
        lap("report")
        return SyncSummary(report.applied_bundle_id, results, commit, deleted, tuple(errors), timings)

    def _fetched(self, last: str | None) -> FetchedBundle | None:
        """The source's newest bundle. With ``fetch_wait`` the fetch runs detached and a pass waits
        at most that long: a fetch it leaves running is taken by a later pass, result or error
        (checked against the ``last`` it started with), and none is started while one is in
        flight: one git process against the clone. _StillFetching when it has not ended."""
        if self.fetch_wait is None:
            return self.source.fetch_bundle(last)
        if self._fetching is None:
            self._fetching = detached(self.source.fetch_bundle, last, name="fetch")
        fetching = self._fetching
        if not wait([fetching], timeout=self.fetch_wait).done:
            raise _StillFetching
        self._fetching = None
        return fetching.result()

    def _fetch(self, last: str | None) -> SourceState:
        st = self.state
        unproven = self._standing is Standing.UNPROVEN
        try:
            fetched = self._fetched(last)
        except _StillFetching:
            return self._still_fetching(last)
        except SourceError as e:
            if unproven and isinstance(e, Unrelated):  # the claim's commit is not in our history
                raise self._refused(e) from e
            # in the pass's errors: the runner logs it once, not once per pass while it persists
            log.debug("keeping the last good bundle: %s", e)
            if st.bundle is None and last and not unproven:
                self._load_cached(last)
            refused = e.reason if isinstance(e, BundleRefused) else ""  # SourceVerified=False
            commit = e.commit if isinstance(e, BundleRefused) else ""
            return SourceState(False, str(e)[:1024], not refused, refused, commit, st.signed_by)
        if fetched is None:
            if unproven:  # the fleet has no bundle for us, the claim names one: not ours
                raise self._refused(None)
            return SourceState(True, "", signed_by=st.signed_by)
        self._standing = Standing.OURS  # our bundle descends from the claim's commit (or no claim)
        if fetched.commit != st.commit or st.bundle is None:
            files = bundle_files(fetched.files)  # the verifier's parses, handed on
            try:
                bundle = files.bundle()
            except BundleError as e:
                return SourceState(False, f"bundle {fetched.commit[:12]} is not readable: {e}"[:1024])
            st.bundle, st.files, st.commit = bundle, files, fetched.commit
            st.signed_by = fetched.signed_by
        return SourceState(True, "", signed_by=st.signed_by)

    def _still_fetching(self, last: str | None) -> SourceState:
        """A pass whose fetch is still running goes on as when it failed: the bundle it holds (or
        the cached one after a restart) stays in force, nothing is pruned, the source is stale."""
        st = self.state
        unproven = self._standing is Standing.UNPROVEN
        if st.bundle is None and last and not unproven:
            self._load_cached(last)
        held = (
            f"enforcing the last verified bundle {st.commit[:12]}"
            if st.bundle is not None and not unproven
            else "no verified bundle to enforce yet"
        )
        return SourceState(
            False,
            f"fetch of {BUNDLE_REF_PREFIX}{self.config.cluster} still running after "
            f"{self.fetch_wait:g} s; {held} (the report is pushed once it ends)",
        )

    def _load_cached(self, commit: str) -> None:
        """After a restart with the source unreachable: the last accepted bundle from the clone."""
        st = self.state
        try:
            cached = self.source.local_bundle(commit)
            if cached is None:
                log.warning(
                    "bundle %s is not in the local clone; nothing to enforce until Git is back", commit[:12]
                )
                return
            files = bundle_files(cached.files)
            bundle = files.bundle()
        except (SourceError, BundleError) as e:
            log.warning("cannot enforce the cached bundle %s: %s", commit[:12], e)
            return
        log.info("enforcing the cached bundle %s until Git is back", commit[:12])
        st.bundle, st.files, st.commit = bundle, files, cached.commit
        st.signed_by = cached.signed_by

    def _works(self, bundle: Bundle, files: BundleFiles) -> list[Work]:
        strategies = {p.key: Strategy.parse(p.apply_strategy) for p in bundle.placements}
        works = []
        parsed: dict[str, dict[str, Any]] = {}
        for e in bundle.files:
            env = Envelope(e.envelope.kind, e.envelope.namespace, e.envelope.name) if e.envelope else None
            manifest = self.state.manifests.get(e.sha256)
            if manifest is None:
                manifest = files.manifest(e.path)  # parsed when it was verified
            parsed[e.sha256] = manifest
            works.append(Work(e.placement, e.identity, manifest, strategies[e.placement], env))
        self.state.manifests = parsed  # parsed once per content, kept only while in the bundle
        return works

    def _apply(self, bundle: Bundle, works: Sequence[Work]) -> tuple[Result, ...]:
        applier = Applier(
            self.kube,
            self.config.cluster,
            bundle.bundle_id,
            [p.key for p in bundle.placements],
            sleep=self.sleep,
            rng=self.rng,
            backoff=self.backoff,
            decryptor=decryptor_for(self.config.age_identity_file, self.kube, self.config.namespace),
        )
        return apply_in_waves(
            self.kube,
            applier,
            works,
            workers=self.config.workers,
            clock=self.clock,
            sleep=self.sleep,
            crd_wait_seconds=self.config.crd_wait_seconds,
        )

    def _prune(
        self, bundle: Bundle, works: Sequence[Work], inventory: Inventory, fresh: bool
    ) -> tuple[tuple[str, ...], PruneSummary, set[str]]:
        done = prune(
            self.kube,
            inventory,
            {w.identity for w in works},
            {r.identity for r in bundle.removals},
            cluster=self.config.cluster,
            policy=PrunePolicy(self.config.max_prune_share, allow_protected=self.config.allow_protected),
            source_fresh=fresh,
            workers=self.config.workers,
            leaving=bundle.leaving,
        )
        return done.deleted, done.summary, done.kept

    def _to_publish(self, report: ClusterReport, drifts: dict[str, ObjectDrift]) -> _Pending | None:
        """What to push for ``report``: None when nothing must be (its fingerprint is the last
        pushed one, the last report is unread, or a fetch is in flight)."""
        st = self.state
        fp = fingerprint(report, drifts)
        if fp == st.fingerprint or not st.report_read:  # unread: its times would be lost
            return None
        if self._fetching is not None:  # no second git process beside the fetch in flight (_fetch)
            return None
        message = commit_message(report, drifts, st.report, st.drifts)
        return _Pending(report, drifts, fp, report_files(report, drifts), message)

    def _publish(self, pending: _Pending | None, errors: list[str]) -> str | None:
        if pending is None:
            return None
        st = self.state
        try:
            commit = self.source.push_report(pending.files, pending.message, self.author)
        except SourceError as e:
            errors.append(str(e))
            return None
        st.report, st.drifts, st.fingerprint = pending.report, pending.drifts, pending.fingerprint
        return commit

    def _read_last_report(self, inventory_commit: str, errors: list[str]) -> None:
        """Carry the times of this agent's last report over a restart (docs/agent.md, "Restarts"):
        the report branch's tip becomes the previous report, when it is this cluster's and
        describes the bundle commit this member's inventory records; anything else is ignored
        with a warning, never trusted. Until the branch could be read nothing is published."""
        st = self.state
        try:
            files = self.source.last_report()
            last = parse_report_tree(files) if files is not None else None
        except SourceError as e:
            errors.append(f"cannot read the last report yet, so none is published: {e}")
            return
        except ValueError as e:  # ReportFormatError, or larger than the bound
            log.warning("the last report is not readable, not carrying its times over: %s", e)
            last = None
        st.report_read = True
        if last is None:
            return
        report, drifts = last
        why = not_our_report(report, self.config.cluster, inventory_commit)
        if why:
            log.warning("not carrying the last report's times over: %s", why)
            return
        st.report, st.drifts, st.fingerprint = report, drifts, fingerprint(report, drifts)

    # -- heartbeat --------------------------------------------------------------------------
    def heartbeat_period(self) -> float:
        """The MemberCluster's heartbeatPeriodSeconds as the last accepted bundle carries it."""
        bundle = self.state.bundle
        period = bundle.heartbeat_period_seconds if bundle is not None else None
        return float(period) if period else DEFAULT_HEARTBEAT_SECONDS

    def heartbeat(self) -> str:
        healthy, why = self.kube.ready()
        previous = self.state.report.health if self.state.report else None
        since = previous.last_transition_time if previous and previous.healthy == healthy else ""
        now = self.clock()
        beat = Heartbeat(
            self.config.cluster,
            format_time(now),
            self.state.bundle.bundle_id if self.state.bundle else "",
            Health(healthy, why, since or format_time(now)),
        )
        return self.source.beat({HEARTBEAT_FILE: dump_heartbeat(beat)}, f"heartbeat {beat.time}", self.author)
