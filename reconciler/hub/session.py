"""The one cache of a hub process, held explicitly, so a pass costs what changed, not the fleet.

A hub polls every few seconds, and almost every poll finds nothing to do. ``HubSession`` owns
everything a hub process remembers between passes: the loaded fleet trees and the policy sets
they enable (``LoadCache``), every parsed report, heartbeat, status file and status document
(``InputMemo``), the policy gate's results (``PolicyCache``), the reader of older resource
snapshots (``SnapshotReader``), and the facts of the last pass that wrote nothing. Every entry is
keyed by content (a tree or commit id, a document's digest), so a hit can never be stale. Whoever
wants memory across passes creates one session and passes it on every call (``fleetsync hub run``
keeps one for its lifetime, ``fleetsync plan`` makes its own); a call without one gets a fresh
session. Nothing is kept at module level, so two hubs in one process (tests, the demo) never
share a cache by accident, and dropping the session frees everything.

The quiet pass: when the fleet commit and every hub ref except heartbeats are what the last
no-op pass saw, nothing but the clock and heartbeats can change the outcome. Heartbeats and the
clock reach the stages only through the cluster states (eligibility, health, joined), which are
recomputed from the heartbeat refs each pass and compared; the other clock-driven decisions
(a rollout waiting out ``unavailablePeriodSeconds``, a staged run's wait) say when they end
(``requeue_after``), and the pass at or after that time is a full one. So a quiet pass is: list
refs, compare ids, recompute states, done — and a heartbeat going stale still flips eligibility
in the very pass that notices it. As a safety net a full pass runs at least every
``FULL_PASS_EVERY`` anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fleetsync_contract import HEARTBEAT_REF_PREFIX
from reconciler.errors import Finding
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterState
from reconciler.hub.inputs import HubInputs, InputMemo, LoadCache, Loaded, observation, read_agents
from reconciler.hub.pipeline import fleet_states
from reconciler.hub.snapshots import SnapshotReader
from reconciler.hub.teams import TeamSources
from reconciler.hub.teamstatus import TeamStatus
from reconciler.policy.cache import PolicyCache

FULL_PASS_EVERY = timedelta(minutes=10)


def _facts(states: tuple[ClusterState, ...]) -> tuple[ClusterState, ...]:
    """The cluster states as the stages see them: whether an agent ever beat, not when it did.
    An ineligibility is kept whole: it carries absolute times only (the time of the last beat of
    a silent cluster), so it changes only when a stage would write something different."""
    return tuple(
        replace(s, heartbeat_time=None if s.heartbeat_time is None else datetime.min) for s in states
    )


def _without_heartbeats(refs: Mapping[str, str]) -> dict[str, str]:
    return {r: c for r, c in refs.items() if not r.startswith(HEARTBEAT_REF_PREFIX)}


@dataclass(frozen=True, slots=True)
class _Quiet:
    commit: str
    refs: Mapping[str, str]  # every hub ref but heartbeats
    states: tuple[ClusterState, ...]  # _facts of the cluster states
    until: datetime | None  # a clock-driven decision is due then
    verified: datetime  # when a full pass last confirmed there is nothing to do
    findings: tuple[Finding, ...]  # what that pass reported (warnings), reported again


class HubSession:
    """Every cache of one hub process (see the module docstring); ``trees`` loaded fleet trees
    are kept (0: none, for a caller that loads each commit once)."""

    def __init__(self, trees: int = 2):
        self.loads = LoadCache(trees)
        self.inputs = InputMemo()
        self.policies = PolicyCache()
        self._snapshots: SnapshotReader | None = None
        self._quiet: _Quiet | None = None
        self.teams = TeamSources()  # the team repos' heads and loads (reconciler/hub/teams.py)
        self.team_status = TeamStatus()  # the teams' own status branches (reconciler/hub/teamstatus.py)

    def load(self, repo: HubRepo, commit: str) -> Loaded:
        """``commit`` loaded, with the policy set it enables (once per distinct tree)."""
        return self.loads.load(repo, commit)

    def snapshot_reader(self, repo: HubRepo) -> SnapshotReader:
        """The reader of older resource snapshots for ``repo``, kept across passes."""
        if self._snapshots is None or self._snapshots.repo is not repo:
            self._snapshots = SnapshotReader(repo)
        return self._snapshots

    def _states(
        self, repo: HubRepo, commit: str, refs: Mapping[str, str], inputs: HubInputs | None, now: datetime
    ) -> tuple[ClusterState, ...] | None:
        hit = self.load(repo, commit)
        if hit.result.held:  # failed objects alone do not stop a commit from being rendered
            return None
        agents = inputs.agents if inputs is not None else read_agents(repo, refs, self.inputs)
        return _facts(
            tuple(fleet_states(hit.result.spec, {c: observation(a) for c, a in agents.items()}, now))
        )

    def quiet(self, repo: HubRepo, commit: str, now: datetime) -> tuple[Finding, ...] | None:
        """The last full pass's findings when a full pass at ``now`` is known to write nothing
        (see the module docstring); None when a full pass must run."""
        last = self._quiet
        if (
            last is None
            or last.commit != commit
            or now - last.verified >= FULL_PASS_EVERY
            or now < last.verified
        ):
            return None
        if last.until is not None and now >= last.until:
            return None
        refs = repo.hub_refs()
        if (
            _without_heartbeats(refs) != last.refs
            or self._states(repo, commit, refs, None, now) != last.states
        ):
            return None
        return last.findings

    def requeue_after(self, now: datetime) -> timedelta | None:
        """How long until the clock-driven decision the last full pass waits on is due."""
        until = self._quiet.until if self._quiet is not None else None
        return until - now if until is not None else None

    def settled(
        self,
        repo: HubRepo,
        commit: str,
        inputs: HubInputs,
        now: datetime,
        wrote: bool,
        loaded: bool,
        requeue_after: timedelta | None,
        findings: tuple[Finding, ...],
    ) -> None:
        """Record a full pass: one that wrote nothing may let the next passes be quiet."""
        self.inputs.forget_unused_docs()
        if wrote or not loaded:
            self._quiet = None
            return
        states = self._states(repo, commit, inputs.refs, inputs, now)
        if states is None:
            self._quiet = None
            return
        until = now + requeue_after if requeue_after is not None else None
        self._quiet = _Quiet(commit, _without_heartbeats(inputs.refs), states, until, now, findings)
