"""Prune safety: the hub does not publish a mass deletion nobody confirmed.

A commit that takes more than ``pruneMaxShare`` (fleetsync.yaml, default 0.5) of the objects off
a cluster's bundle, or all of them, is usually an accident: a deleted placement file, a label
typo that drops a cluster from its only placement, a selector that matches nothing. Once the hub
publishes such a bundle its agent carries the deletion out (the bundle lists the removals as
intended), so the check must be the hub's own, before publishing — Config Sync's KNV2006 does
the same ("all resources are about to be deleted": it refuses the sync until the deletion is
confirmed). The confirmation travels with the change, in Git, where it is reviewed: a commit
message trailer ``Fleetsync-Allow-Prune: <cluster>`` (or ``all``; several clusters may be named,
separated by commas or spaces, and the trailer may be repeated) in any commit between the one
the cluster's current bundle was rendered from and the one being rendered. ``fleetsync plan``
reads the same trailers from the commits of a pull request (base..head) with the same functions,
so plan blocks exactly what the hub would refuse.

Without it the hub keeps the cluster's previous bundle (the other clusters move on) and writes
``prune/<cluster>.yaml`` on the status branch saying what it refused and how to confirm it; a
later commit that carries the trailer, or that undoes the removal, lets the bundle through. The
record holds no time, so an idle hub does not rewrite it.

A cluster that is leaving the fleet with its resources removed (``fleetsync.io/leave: "true"`` or a
``metadata.deletionTimestamp`` on its MemberCluster, docs/hub.md "Leaving the fleet") needs no
trailer: the leave is itself the reviewed confirmation of that one cluster's emptying.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import HubInputs, PreviousBundle
from reconciler.hub.render import PlacementOnCluster

log = logging.getLogger(__name__)

TRAILER = "Fleetsync-Allow-Prune"
ALL = "all"
MAX_COMMITS = 100  # commits of a change whose messages are read (git log's bound in gitstore)
MAX_MESSAGE = 65_536  # characters of one commit message that are read
MAX_NAMES = 1_000  # cluster names one change may confirm
STATUS_DIR = "prune"
REASON = "PruneConfirmationRequired"
API_VERSION = "fleetsync.io/v1alpha1"

_LINE = re.compile(r"^\s*" + re.escape(TRAILER) + r"\s*:(.*)$", re.IGNORECASE | re.MULTILINE)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a MemberCluster name (DNS subdomain)


def allowed_by(messages: Iterable[str]) -> frozenset[str]:
    """The clusters (or ``all``) that the ``Fleetsync-Allow-Prune`` trailers of ``messages`` name;
    a value that is not a cluster name is ignored."""
    out: set[str] = set()
    for message in messages:
        for match in _LINE.finditer(message[:MAX_MESSAGE]):
            for value in re.split(r"[\s,]+", match.group(1).strip()):
                name = ALL if value.lower() == ALL else value
                if len(out) < MAX_NAMES and (name == ALL or _NAME.match(name)):
                    out.add(name)
    return frozenset(out)


def _messages(repo: HubRepo, commit: str) -> dict[str, str]:
    """commit id -> message of the newest ``MAX_COMMITS`` commits of ``commit``'s history."""
    out = repo.log(commit, "%x00%H%x00%B", max_count=MAX_COMMITS).decode(errors="replace")
    parts = out.split("\0")[1:]
    return {parts[i].strip(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def change_confirmations(repo: HubRepo, since: str | None, commit: str) -> frozenset[str]:
    """What the commits from ``since`` (excluded) to ``commit`` (included) confirm. Both are
    commit ids; with no ``since`` (or one the repo does not have) only ``commit``'s own message
    counts. Both histories are read ``MAX_COMMITS`` deep: a commit among the newest of
    ``commit``'s history that ``since`` has is among the newest of ``since``'s too."""
    if not since or repo.resolve(since) != since:
        mine = repo.log(commit, "%B", max_count=1).decode(errors="replace")
        return allowed_by([mine])
    if since == commit:
        return frozenset()
    theirs = _messages(repo, since)
    return allowed_by(m for c, m in _messages(repo, commit).items() if c not in theirs)


@dataclass(frozen=True, slots=True)
class PruneVerdict:
    """One cluster losing all of its objects, or more than ``max_share`` of them."""

    cluster: str
    before: int
    removed: int
    after: int
    max_share: float
    confirmed: bool

    @property
    def empties(self) -> bool:
        return self.after == 0

    @property
    def refused(self) -> bool:
        return not self.confirmed

    def what(self) -> str:
        if self.empties:
            return f"removes all {self.removed} object(s): the cluster is left with none"
        return (
            f"removes {self.removed} of {self.before} object(s) (more than {self.max_share:.0%}); "
            f"{self.after} remain"
        )

    def how_to_confirm(self) -> str:
        return (
            f"confirm it with the commit-message trailer `{TRAILER}: {self.cluster}` "
            f"(or `{TRAILER}: {ALL}`) in a commit of the change"
        )


def judge(
    cluster: str, before: Collection[str], after: Collection[str], max_share: float, allowed: Collection[str]
) -> PruneVerdict | None:
    """The verdict on a cluster going from the identities ``before`` to ``after``; None when it
    loses nothing worth asking about (nothing, or at most ``max_share`` with some left)."""
    removed = len(set(before) - set(after))
    if not before or not removed:
        return None
    if after and removed / len(before) <= max_share:
        return None
    confirmed = ALL in allowed or cluster in allowed
    return PruneVerdict(cluster, len(before), removed, len(after), max_share, confirmed)


def status_path(cluster: str) -> str:
    return f"{STATUS_DIR}/{cluster}.yaml"


class PruneGuard:
    """The hub's side, for one reconcile: ``holds`` says whether a cluster's new bundle must wait
    for a confirmation; ``status_files`` is what the status branch records about those that do."""

    def __init__(
        self, repo: HubRepo, inputs: HubInputs, commit: str, max_share: float, leaving: Collection[str] = ()
    ):
        self._repo, self._inputs, self._commit, self._max_share = repo, inputs, commit, max_share
        self._leaving = frozenset(leaving)  # clusters whose leave confirms their emptying
        self._confirmations: dict[str, frozenset[str]] = {}
        self._held: dict[str, tuple[PruneVerdict, PreviousBundle]] = {}

    def held_before(self, cluster: str) -> bool:
        """The last reconcile held this cluster's bundle: render it again (a confirmation may have come)."""
        return status_path(cluster) in self._inputs.status_files

    def holds(self, cluster: str, prev: PreviousBundle | None, shares: Sequence[PlacementOnCluster]) -> bool:
        """True: keep ``prev``, the removal from it to ``shares`` is not confirmed."""
        if prev is None or cluster in self._leaving:
            return False
        before = {f.identity for f in prev.bundle.files}
        after = {o.identity for s in shares for o in s.objects}
        verdict = judge(cluster, before, after, self._max_share, self._allowed(prev.bundle.source_commit))
        if verdict is None or not verdict.refused:
            return False
        self._held[cluster] = (verdict, prev)
        log.warning(
            "prune refused: the cluster keeps its bundle until the removal is confirmed",
            extra={"cluster": cluster, "removed": verdict.removed, "before": verdict.before},
        )
        return True

    def _allowed(self, since: str) -> frozenset[str]:
        if since not in self._confirmations:
            self._confirmations[since] = change_confirmations(self._repo, since or None, self._commit)
        return self._confirmations[since]

    def status_files(self) -> Mapping[str, bytes]:
        return {status_path(c): dump(self._doc(v, prev)) for c, (v, prev) in sorted(self._held.items())}

    def _doc(self, v: PruneVerdict, prev: PreviousBundle) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "PruneRefusal",
            "cluster": v.cluster,
            "reason": REASON,
            "message": (
                f"commit {self._commit[:12]} {v.what()} from cluster {v.cluster}; the hub keeps its "
                f"previous bundle: {v.how_to_confirm()}, or undo the removal"
            ),
            "sourceCommit": self._commit,
            "keptBundle": {"commit": prev.commit, "bundleId": prev.bundle_id},
            "before": v.before,
            "removed": v.removed,
            "after": v.after,
            "maxShare": v.max_share,
        }
