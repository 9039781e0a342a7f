"""``clusters/<name>.yaml`` on ``fleet/status`` (docs/formats.md §4): a MemberCluster-shaped document.

It reads like ``kubectl get membercluster NAME -o yaml`` (labels, taints, ``properties``,
``resourceUsage``, ``agentStatus``, plus fleetsync's eligibility annotations) but without the
last heartbeat time, which would rewrite the branch at heartbeat rate (``fleetsync get`` adds it
from the heartbeat refs). It is apart from the placement documents (reconciler/status/views.py)
because it reads other inputs, a cluster's state and its agent's report, and shares with them
only the conditions' transition times (reconciler/status/conditions.py).

A bundle branch that someone reset or rewrote under the hub (its tip no longer descends from
the commit the hub last published) adds a ``BundlePublished=False`` condition, reason
``BundleBranchRewritten``, whose message names both commits and the command that restores the
branch: the agent refuses any bundle that does not descend from the one it applied, so the hub
holds that cluster rather than build on the tip, and the condition is the only way a person
learns why the cluster stopped moving (docs/hub.md, "A bundle branch that was reset").

A leaving cluster (docs/hub.md "Leaving the fleet") shows its progress in the ``Joined``
condition, False with reason ``MemberClusterLeaving`` until its agent reports that it applied the
(empty) bundle the hub published for it and that its inventory (the objects it placed and still
owns) is empty, then ``MemberClusterLeft`` — the
KubeFleet reason of a MemberCluster that finished leaving — whose message says that removing the
file completes it. The count comes from the report, never from the bundle: only the agent knows
what it has actually deleted.

``SourceVerified`` carries the member agent's own verdict on its bundle (docs/security.md,
"Signed bundles"), because the agent is the only party that checks the hub's signature and a
refusal otherwise shows only as a cluster that stopped moving: False with the agent's reason
(``Unsigned``, ``UnknownSigner``, ``BadSignature``, ``VerificationFailed``, ...) and the refused
bundle commit when its report says it refused its newest bundle; True, naming the hub key, when
its report says which trusted key signed the bundle it runs; absent when the agent checks no
signatures (started without ``--verify-key-file``) — the hub cannot vouch for a check nobody made.
Everything taken from the report is bounded and the reason and commit are checked for shape: a
report is the agent's word, written where the hub's status is read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetsync_contract.report import ClusterReport
from reconciler.api.membercluster import LeaveMode
from reconciler.hub.clusters import ClusterState
from reconciler.status.conditions import Condition, Status, with_transition_times

CLUSTER_API_VERSION = "cluster.kubernetes-fleet.io/v1beta1"
SOURCE_VERIFIED = "SourceVerified"
MAX_AGENT_MESSAGE = 1024
_REASON = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_KEY = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
ELIGIBLE_ANNOTATION = "fleetsync.io/eligible"
INELIGIBLE_REASON_ANNOTATION = "fleetsync.io/ineligible-reason"


@dataclass(frozen=True, slots=True)
class RewoundBranch:
    """A cluster's bundle branch whose tip does not descend from what the hub last published."""

    ref: str  # refs/heads/fleet/bundles/<cluster>
    tip: str
    published: str

    def condition(self) -> Condition:
        return Condition(
            "BundlePublished",
            Status.FALSE,
            "BundleBranchRewritten",
            f"{self.ref} is at {self.tip}, which does not descend from {self.published}, the bundle "
            "the hub last published there (the agent refuses anything built on the reset tip); "
            "the hub writes nothing to it until it is restored: "
            f"git push --force <hub remote> {self.published}:{self.ref}",
        )


COMPLETE_HINT = "delete its MemberCluster file from the fleet repo to complete the leave"


def leaving_condition(state: ClusterState, report: ClusterReport | None, bundle_id: str) -> Condition:
    """The ``Joined`` condition of a leaving cluster: how far its leave has come. ``bundle_id``:
    the bundle the hub has published for the cluster ("" when it never published one)."""
    if state.leave is LeaveMode.KEEP_RESOURCES:
        return _left(
            "left the fleet keeping its resources (fleetsync.io/leave: keep-resources): the hub no "
            "longer writes its bundle and the objects placed there stay"
        )
    if not bundle_id:
        return _left("left the fleet: nothing was placed on the cluster")
    if report is None or report.applied_bundle_id != bundle_id:
        remaining = "" if report is None else f", {len(report.inventory)} object(s) remain"
        return _leaving(f"waiting for the member agent to apply the empty bundle{remaining}")
    if report.inventory:
        refused = f" (the agent's last prune: {report.prune.refused})" if report.prune.refused else ""
        return _leaving(f"{len(report.inventory)} placed object(s) remain on the cluster{refused}")
    return _left("left the fleet: the member agent removed every object placed on the cluster")


def _left(message: str) -> Condition:
    return Condition("Joined", Status.FALSE, "MemberClusterLeft", f"{message}; {COMPLETE_HINT}")


def _leaving(message: str) -> Condition:
    return Condition("Joined", Status.FALSE, "MemberClusterLeaving", f"leaving the fleet: {message}")


def source_condition(report: ClusterReport | None) -> Condition | None:
    """``SourceVerified`` from the agent's report (see the module docstring); None: absent."""
    if report is None:
        return None
    source = report.source
    if not source.verified:
        reason = source.reason if _REASON.match(source.reason) else "VerificationFailed"
        commit = source.refused_commit if _COMMIT.match(source.refused_commit) else ""
        what = f"bundle {commit}" if commit else "its newest bundle"
        return Condition(
            SOURCE_VERIFIED,
            Status.FALSE,
            reason,
            f"the member agent refused {what} and keeps the last verified one applied: "
            f"{source.message[:MAX_AGENT_MESSAGE]}",
        )
    if _KEY.match(source.signed_by):
        return Condition(
            SOURCE_VERIFIED,
            Status.TRUE,
            "SignatureVerified",
            f"the member agent runs a bundle signed by the hub key {source.signed_by}, which it trusts",
        )
    return None


def _joined(state: ClusterState, report: ClusterReport | None, joined: bool, bundle_id: str) -> Condition:
    if state.leaving:
        return leaving_condition(state, report, bundle_id)
    return Condition(
        "Joined",
        Status.TRUE if joined else Status.UNKNOWN,
        "MemberClusterJoined" if joined else "MemberClusterJoinUnknown",
        "",
    )


def cluster_doc(
    state: ClusterState,
    report: ClusterReport | None,
    heartbeat_period_seconds: int,
    previous: Mapping[str, Any] | None,
    now: datetime,
    rewound: RewoundBranch | None = None,
    bundle_id: str = "",
) -> dict[str, Any]:
    """A MemberCluster-shaped document: labels, properties, resource usage, agent status."""
    prev_status = (previous or {}).get("status") or {}
    prev_agent = [a for a in prev_status.get("agentStatus") or [] if isinstance(a, Mapping)]
    joined = state.heartbeat_time is not None
    agent_conditions = [
        Condition(
            "Joined",
            Status.TRUE if joined else Status.UNKNOWN,
            "MemberAgentJoined" if joined else "MemberAgentNotReported",
            "",
        ),
    ]
    if state.healthy is not None:
        agent_conditions.append(
            Condition(
                "Healthy",
                Status.TRUE if state.healthy else Status.FALSE,
                "MemberAgentHealthy" if state.healthy else "MemberAgentUnhealthy",
                report.health.message if report is not None else "",
            )
        )
    rendered = with_transition_times(
        agent_conditions, prev_agent[0].get("conditions") or [] if prev_agent else [], now
    )
    if report is not None and report.health.last_transition_time and len(rendered) > 1:
        rendered[1]["lastTransitionTime"] = report.health.last_transition_time
    # No lastReceivedHeartbeat here: it moves with every beat, and status must change only when
    # something real does (design.md §3). `fleetsync get clusters` reads it live from the
    # heartbeat refs (reconciler/status/read.py); a beat going stale flips `eligible` above.
    agent: dict[str, Any] = {"type": "MemberAgent", "conditions": rendered}
    status: dict[str, Any] = {
        "agentStatus": [agent],
        "conditions": with_transition_times(
            [
                _joined(state, report, joined, bundle_id),
                *([rewound.condition()] if rewound is not None else []),
                *(c for c in (source_condition(report),) if c is not None),
            ],
            prev_status.get("conditions") or [],
            now,
        ),
        "properties": _properties(state, report),
    }
    usage = state.resource_usage
    if usage is not None:
        status["resourceUsage"] = {
            "capacity": dict(usage.capacity),
            "allocatable": dict(usage.allocatable),
            "available": dict(usage.available),
            "observationTime": usage.observation_time or "",
        }
    reason = state.ineligibility.summary if state.ineligibility is not None else ""  # no "N minutes ago"
    annotations = {ELIGIBLE_ANNOTATION: "true" if state.eligible else "false"}
    if reason:
        annotations[INELIGIBLE_REASON_ANNOTATION] = reason
    return {
        "apiVersion": CLUSTER_API_VERSION,
        "kind": "MemberCluster",
        "metadata": {"name": state.name, "labels": dict(state.labels), "annotations": annotations},
        "spec": {
            "heartbeatPeriodSeconds": heartbeat_period_seconds,
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in state.taints],
        },
        "status": status,
    }


def _properties(state: ClusterState, report: ClusterReport | None) -> dict[str, Any]:
    observed = report.properties if report is not None else {}
    out: dict[str, Any] = {}
    for name in sorted(state.properties):
        pv = observed.get(name)
        out[name] = {"value": state.properties[name], "observationTime": pv.observation_time if pv else ""}
    return out
