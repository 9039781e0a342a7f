"""Scheduling policy snapshots on ``fleet/status``: why the scheduler did not pick a cluster.

KubeFleet's scheduler writes its decisions on the placement's latest ClusterSchedulingPolicySnapshot
(SchedulingPolicySnapshot for a ResourcePlacement): the selected clusters and up to 20 clusters it
did not pick, each with its reason (reconciler/scheduler/decisions.py builds that list). The
placement status only keeps the selected ones, so without the snapshot nobody can say why an
eligible cluster was left out. The hub therefore writes, per placement,
``policysnapshots/<placement key>.yaml``: the latest snapshot only (name ``<placement>-<policy
index>``, the index the hub memory already counts, reconciler/status/memory.py ``next_policy``),
its labels and PickN annotation, ``spec.policy`` without ``numberOfClusters`` (as KubeFleet
stores it) and ``status`` with the ``Scheduled`` condition and the decisions under KubeFleet's
JSON key ``targetClusters`` (the Go field is ``ClusterDecisions``).

The file must not churn: status is committed only when something real changed. Three choices
keep it still. (1) Selected decisions are listed by cluster name (KubeFleet groups them by
binding state, which would reorder the list as a rollout binds clusters), the unselected ones
after them in the scheduler's order. (2) KubeFleet does not run the scheduler again for a fully
scheduled PickN placement when clusters change (its watchers requeue only placements that are
not fully scheduled, or on a policy or N change, which makes a new cycle), so its snapshot keeps
the not-picked clusters, with their scores, of the cycle that picked. The hub re-runs the
scheduler on every reconcile, and that sticky pass lists the selected clusters only (KubeFleet's
"known facts" refresh); so when a sticky pass finds the same selected set, N and fulfilled
condition as the recorded snapshot, the recorded not-picked entries are kept (minus clusters
that left the fleet). The scores of unselected clusters therefore stay in the file: they are
computed only by a picking cycle, which changes bindings and commits status anyway, and never
move with a heartbeat or a property report. (3) The condition's ``lastTransitionTime`` is carried
over while its status is unchanged. Reasons themselves never hold a clock reading
(reconciler/hub/clusters.py writes an absolute time, not an age). KubeFleet's
``observedCRPGeneration`` is left out: a placement in Git has no generation.

Pure except ``cli_get_policysnapshots``, which reads the status branch through
reconciler/status/read.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.api.placement import CRP_KIND, RP_KIND, Placement, PlacementType
from reconciler.api.policy import ClusterSelectorTerm, PlacementPolicy
from reconciler.errors import NotFound
from reconciler.gitstore.repo import HubRepo
from reconciler.scheduler.model import MAX_UNSELECTED_DECISIONS, Schedule
from reconciler.status.bindings import PARENT_LABEL, aligned
from reconciler.status.bindings import render as render_list  # KubeFleet's PlacementTrackingLabel, RPs too
from reconciler.status.conditions import Condition, Status, with_transition_times
from reconciler.status.views import PLACEMENT_API_VERSION

SNAPSHOT_KINDS = {CRP_KIND: "ClusterSchedulingPolicySnapshot", RP_KIND: "SchedulingPolicySnapshot"}
# what `fleetsync get` accepts: KubeFleet's plural and short names pick one kind, ours both
GET_KINDS: Mapping[str, tuple[str, ...]] = {
    "policysnapshots": tuple(SNAPSHOT_KINDS.values()),
    "clusterschedulingpolicysnapshots": ("ClusterSchedulingPolicySnapshot",),
    "csps": ("ClusterSchedulingPolicySnapshot",),
    "schedulingpolicysnapshots": ("SchedulingPolicySnapshot",),
    "sps": ("SchedulingPolicySnapshot",),
}
SNAPSHOT_DIR = "policysnapshots/"
POLICY_INDEX_LABEL = "kubernetes-fleet.io/policy-index"
IS_LATEST_LABEL = "kubernetes-fleet.io/is-latest-snapshot"
NUMBER_OF_CLUSTERS_ANNOTATION = "kubernetes-fleet.io/number-of-clusters"
HEADERS = ["NAME", "PLACEMENT", "TYPE", "CLUSTERS", "SCHEDULED", "REASON", "SELECTED", "NOT-SELECTED"]

PreviousDoc = Callable[[str], Mapping[str, Any] | None]


def snapshot_path(placement_key: str) -> str:
    """``policysnapshots/<placement key>.yaml``, beside ``placements/<placement key>.yaml``."""
    return f"{SNAPSHOT_DIR}{placement_key}.yaml"


# -- spec.policy in KubeFleet's shape ----------------------------------------------------------------
def _term(t: ClusterSelectorTerm) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if t.label_selector is not None:
        out["labelSelector"] = t.label_selector.to_dict()
    if t.property_selector:
        out["propertySelector"] = {
            "matchExpressions": [
                {"name": r.name, "operator": str(r.operator), "values": list(r.values)}
                for r in t.property_selector
            ]
        }
    if t.property_sorter is not None:
        out["propertySorter"] = {
            "name": t.property_sorter.name,
            "sortOrder": str(t.property_sorter.sort_order),
        }
    return out


def _affinity(policy: PlacementPolicy) -> dict[str, Any] | None:
    a = policy.affinity
    if a is None:
        return None
    cluster: dict[str, Any] = {}
    if a.required is not None:
        cluster["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "clusterSelectorTerms": [_term(t) for t in a.required]
        }
    if a.preferred:
        cluster["preferredDuringSchedulingIgnoredDuringExecution"] = [
            {"weight": p.weight, "preference": _term(p.preference)} for p in a.preferred
        ]
    return {"clusterAffinity": cluster}


def policy_spec(policy: PlacementPolicy | None) -> dict[str, Any] | None:
    """The placement's ``spec.policy`` as KubeFleet copies it into the snapshot: without
    ``numberOfClusters`` (an annotation, so that scaling keeps the snapshot); None for no policy."""
    if policy is None:
        return None
    out: dict[str, Any] = {"placementType": str(policy.placement_type)}
    if policy.cluster_names:
        out["clusterNames"] = list(policy.cluster_names)
    if (affinity := _affinity(policy)) is not None:
        out["affinity"] = affinity
    if policy.topology_spread_constraints:
        out["topologySpreadConstraints"] = [
            {
                "maxSkew": c.max_skew,
                "topologyKey": c.topology_key,
                "whenUnsatisfiable": str(c.when_unsatisfiable),
            }
            for c in policy.topology_spread_constraints
        ]
    if policy.tolerations:
        out["tolerations"] = [
            {
                k: v
                for k, v in (
                    ("key", t.key),
                    ("operator", t.operator),
                    ("value", t.value),
                    ("effect", t.effect),
                )
                if v
            }
            for t in policy.tolerations
        ]
    return out


# -- the document ----------------------------------------------------------------------------------
def _selected_names(decisions: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(d.get("clusterName")) for d in decisions if isinstance(d, Mapping) and d.get("selected")}


def _scheduled_status(doc: Mapping[str, Any] | None) -> str:
    for c in ((doc or {}).get("status") or {}).get("conditions") or []:
        if isinstance(c, Mapping) and c.get("type") == "Scheduled":
            return str(c.get("status", ""))
    return ""


def _annotation(doc: Mapping[str, Any] | None) -> str | None:
    value = (((doc or {}).get("metadata") or {}).get("annotations") or {}).get(NUMBER_OF_CLUSTERS_ANNOTATION)
    return None if value is None else str(value)


def _carried(
    placement: Placement,
    schedule: Schedule,
    name: str,
    previous: Mapping[str, Any] | None,
    fleet: Collection[str],
) -> list[dict[str, Any]]:
    """The recorded not-picked decisions a sticky PickN pass keeps (module docstring, choice 2)."""
    policy = placement.effective_policy
    if previous is None or policy.placement_type != PlacementType.PICK_N:
        return []
    if schedule.condition.status != Status.TRUE or _scheduled_status(previous) != "True":
        return []
    if ((previous.get("metadata") or {}).get("name")) != name:
        return []  # another policy snapshot: its decisions do not apply
    if _annotation(previous) != str(policy.number_of_clusters or 0):
        return []
    recorded = ((previous.get("status") or {}).get("targetClusters")) or []
    if _selected_names(recorded) != set(schedule.selected):
        return []
    kept = [
        dict(d)
        for d in recorded
        if isinstance(d, Mapping) and not d.get("selected") and str(d.get("clusterName")) in fleet
    ]
    return kept[:MAX_UNSELECTED_DECISIONS]  # a status branch edited by hand stays bounded


def _decisions(
    placement: Placement,
    schedule: Schedule,
    name: str,
    previous: Mapping[str, Any] | None,
    fleet: Collection[str],
) -> list[dict[str, Any]]:
    docs = schedule.decision_docs()
    selected = sorted((d for d in docs if d["selected"]), key=lambda d: str(d["clusterName"]))
    unselected = [d for d in docs if not d["selected"]]
    if not unselected:
        unselected = _carried(placement, schedule, name, previous, fleet)
    return selected + unselected


def snapshot_doc(
    placement: Placement,
    schedule: Schedule,
    previous: Mapping[str, Any] | None,
    now: datetime,
    fleet: Collection[str],
) -> dict[str, Any]:
    """The placement's latest policy snapshot after ``schedule`` (``previous``: the one recorded;
    ``fleet``: the names of the clusters in the fleet now)."""
    name = f"{placement.meta.name}-{schedule.policy_index}"
    policy = placement.effective_policy
    metadata: dict[str, Any] = {"name": name}
    if placement.namespaced:
        metadata["namespace"] = placement.meta.namespace
    metadata["labels"] = {
        IS_LATEST_LABEL: "true",
        PARENT_LABEL: placement.meta.name,
        POLICY_INDEX_LABEL: str(schedule.policy_index),
    }
    if policy.placement_type == PlacementType.PICK_N:
        metadata["annotations"] = {NUMBER_OF_CLUSTERS_ANNOTATION: str(policy.number_of_clusters or 0)}
    spec: dict[str, Any] = {"policyHash": schedule.policy_hash}
    if (p := policy_spec(placement.policy)) is not None:
        spec["policy"] = p
    sc = schedule.condition
    before: list[Any] = []  # a new snapshot (another index) starts its condition afresh
    if previous is not None and (previous.get("metadata") or {}).get("name") == name:
        before = list((previous.get("status") or {}).get("conditions") or [])
    status = {
        "conditions": with_transition_times(
            [Condition("Scheduled", sc.status, sc.reason, sc.message)], before, now
        ),
        "targetClusters": _decisions(placement, schedule, name, previous, fleet),
    }
    return {
        "apiVersion": PLACEMENT_API_VERSION,
        "kind": SNAPSHOT_KINDS.get(placement.kind, SNAPSHOT_KINDS[CRP_KIND]),
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def snapshot_files(
    scheduled: Iterable[tuple[str, Placement, Schedule | None]],
    previous_files: Mapping[str, bytes],
    previous_doc: PreviousDoc,
    now: datetime,
    fleet: Collection[str],
) -> dict[str, bytes]:
    """``policysnapshots/…`` files for (placement key, placement, schedule) of one reconcile
    (``previous_files``: the status branch's files, ``previous_doc`` one of them parsed). A
    placement that was not scheduled (invalid selectors, or held at its last good definition)
    keeps the snapshot recorded, as KubeFleet's scheduler leaves it alone. An unchanged snapshot
    keeps its bytes: writing 1,000 decisions costs ~30 ms, comparing them ~1 ms."""
    out: dict[str, bytes] = {}
    for key, placement, schedule in scheduled:
        path = snapshot_path(key)
        before = previous_files.get(path)
        previous = previous_doc(path) if before is not None else None
        if schedule is None:
            if before is not None:
                out[path] = before
            continue
        doc = snapshot_doc(placement, schedule, previous, now, fleet)
        out[path] = before if before is not None and doc == previous else dump(doc)
    return out


# -- fleetsync get policysnapshots -------------------------------------------------------------------
def _placement_name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    parent = str((meta.get("labels") or {}).get(PARENT_LABEL, ""))
    return f"{meta['namespace']}/{parent}" if meta.get("namespace") else parent


def snapshot_docs(
    files: Mapping[str, bytes],
    placement: str | None = None,
    kinds: Sequence[str] = tuple(SNAPSHOT_KINDS.values()),
) -> list[dict[str, Any]]:
    """The snapshots on the status branch, of ``kinds``, optionally of one placement (NAME for a
    ClusterResourcePlacement, NAMESPACE/NAME for a ResourcePlacement); NotFound when it has none."""
    from reconciler.status.read import status_docs

    docs = [d for d in status_docs(files, SNAPSHOT_DIR, "policy snapshot") if d.get("kind") in kinds]
    if placement is not None:
        docs = [d for d in docs if placement in {_placement_name(d), _placement_name(d).rpartition("/")[2]}]
        if not docs:
            raise NotFound(f"no policy snapshot of placement {placement!r} on the status branch")
    return docs


def by_placement(files: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Every snapshot on the status branch by its placement's key (the fleet view's read)."""
    from reconciler.status.read import status_docs

    out: dict[str, dict[str, Any]] = {}
    for doc in status_docs(files, SNAPSHOT_DIR, "policy snapshot"):
        meta = doc.get("metadata") or {}
        kind = next((k for k, v in SNAPSHOT_KINDS.items() if v == doc.get("kind")), None)
        parent = str((meta.get("labels") or {}).get(PARENT_LABEL, ""))
        if kind is None or not parent:
            continue
        out[f"{kind}/{meta['namespace']}/{parent}" if meta.get("namespace") else f"{kind}/{parent}"] = doc
    return out


def _counts(doc: Mapping[str, Any]) -> tuple[int, int]:
    decisions = [d for d in (doc.get("status") or {}).get("targetClusters") or [] if isinstance(d, Mapping)]
    selected = sum(1 for d in decisions if d.get("selected"))
    return selected, len(decisions) - selected


def table(docs: Sequence[Mapping[str, Any]]) -> str:
    rows = [HEADERS]
    for d in docs:
        meta = d.get("metadata") or {}
        scheduled: Mapping[str, Any] = next(
            (c for c in (d.get("status") or {}).get("conditions") or [] if c.get("type") == "Scheduled"), {}
        )
        selected, unselected = _counts(d)
        ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
        rows.append(
            [
                ns + str(meta.get("name", "")),
                _placement_name(d),
                str(((d.get("spec") or {}).get("policy") or {}).get("placementType", "PickAll")),
                str((meta.get("annotations") or {}).get(NUMBER_OF_CLUSTERS_ANNOTATION, "")),
                str(scheduled.get("status", "")),
                str(scheduled.get("reason", "")),
                str(selected),
                str(unselected),
            ]
        )
    return aligned(rows)


def render(docs: Sequence[dict[str, Any]], output: str) -> str:
    return render_list(docs, output, table)


def cli_get_policysnapshots(repo: HubRepo, kind: str, placement: str | None, output: str) -> str:
    """``fleetsync get policysnapshots|csps|sps [PLACEMENT] -o table|yaml|json``."""
    from reconciler.status.read import read_status

    return render(snapshot_docs(read_status(repo), placement, GET_KINDS[kind]), output)
