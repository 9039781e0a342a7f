"""The policy gate inside one hub reconcile (design.md §2 step 6; reconciler/policy/gate.py judges).

Every cluster's share of a placement is judged on every reconcile, so status always lists what
the policies say about it. A share that is about to change is judged against what the cluster's
bundle holds now (``oldObject``, read from its branch) and a Deny violation holds that cluster on
its previous bundle for this placement while other clusters proceed; Warn and Audit violations
are reported and block nothing. A share that does not change is judged as an update to itself
(nothing is read, and nothing is left to block). While the fleet commit stays the one last
rendered, a cluster keeps the violations status already lists for it (``reported_violations``)
instead of being judged again: the same commit renders the same objects under the same policies.
The hub session's ``PolicyCache`` (reconciler/hub/session.py, kept across passes) memoises
results by content, so a commit re-judges only the objects it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fleetsync_contract.bundle import MANIFEST_DIR, BundleError, manifest_identity
from fleetsync_contract.canonical import CanonicalError
from reconciler.errors import UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterState
from reconciler.hub.inputs import HubInputs
from reconciler.hub.overrides import OverrideResult
from reconciler.policy.gate import PolicyCache, PolicySet, Violation, cluster_info, evaluate
from reconciler.policy.model import Action
from reconciler.status.memory import load_hub_yaml

# (cluster, placement key, the new render) -> what the cluster's bundle holds now
PreviousRender = Callable[[str, str, Mapping[str, Mapping[str, Any]]], Mapping[str, Mapping[str, Any]]]


class Gate:
    """The gate of one reconcile or plan; ``cache`` is the session's (kept across passes), or a
    fresh one that lives as long as this gate."""

    def __init__(
        self, policies: PolicySet | None, previous: PreviousRender, cache: PolicyCache | None = None
    ):
        self.policies = policies
        self.previous = previous
        cache = cache if cache is not None else PolicyCache()
        cache.new_pass()
        self.cache = cache

    def check(
        self, state: ClusterState, key: str, result: OverrideResult, changing: bool
    ) -> tuple[Violation, ...]:
        if self.policies is None or not self.policies.bindings:
            return ()
        rendered = {o.identity: o.manifest for o in result.objects}
        previous = self.previous(state.name, key, rendered) if changing else rendered
        return tuple(evaluate(self.policies, cluster_info(state), rendered, previous, cache=self.cache))


def reported_violations(doc: Mapping[str, Any] | None) -> dict[str, tuple[Violation, ...]]:
    """The violations a placement document lists per cluster (``policyViolations``)."""
    out: dict[str, tuple[Violation, ...]] = {}
    for entry in ((doc or {}).get("status") or {}).get("placementStatuses") or []:
        if not isinstance(entry, Mapping) or not entry.get("clusterName"):
            continue
        found: list[Violation] = []
        for v in entry.get("policyViolations") or []:
            try:
                found.append(
                    Violation(
                        str(v["policy"]),
                        str(v["binding"]),
                        Action(str(v["action"])),
                        str(v["cluster"]),
                        str(v["identity"]),
                        str(v["message"]),
                        str(v.get("reason", "Invalid")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
        out[str(entry["clusterName"])] = tuple(found)
    return out


class PreviousRenders:
    """What each cluster's bundle holds for a placement now (the gate's ``oldObject``s).

    Manifests are parsed once per distinct blob per reconcile and shared between clusters, and a
    manifest equal to the new render is replaced by that very mapping, so the policy cache sees
    one (object, oldObject) pair per distinct change instead of one per cluster.
    """

    def __init__(self, repo: HubRepo, inputs: HubInputs):
        self.repo, self.inputs = repo, inputs
        self._blobs: dict[str, Mapping[str, Any] | None] = {}

    def __call__(
        self, cluster: str, key: str, rendered: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Mapping[str, Any]]:
        prev = self.inputs.bundles.get(cluster)
        if prev is None:
            return {}
        out: dict[str, Mapping[str, Any]] = {}
        for blob in self.repo.list_files(prev.commit, f"{MANIFEST_DIR}{key}").values():
            if blob not in self._blobs:
                try:
                    doc = load_hub_yaml(self.repo.read_blob(blob))
                    self._blobs[blob] = doc if isinstance(doc, dict) else None
                except (CanonicalError, UserError):
                    self._blobs[blob] = None
            manifest = self._blobs[blob]
            if manifest is None:
                continue
            try:
                ident = manifest_identity(manifest)
            except BundleError:
                continue
            new = rendered.get(ident)
            out[ident] = new if new is not None and new == manifest else manifest
        return out
