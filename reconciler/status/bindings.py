"""``fleetsync get bindings [PLACEMENT]``: the hub's bindings as KubeFleet users know them.

KubeFleet users debug a placement with ``kubectl get clusterresourcebinding`` (or
``resourcebinding`` for a ResourcePlacement): one object per placement and target cluster, with
``spec.state`` Scheduled / Bound / Unscheduled, the snapshots it points at, the scheduler's
``clusterDecision`` and the per-cluster conditions. fleetsync keeps the same facts in two places
of ``fleet/status`` — the binding records of the hub memory (``status.yaml``,
reconciler/status/memory.py) and the cluster's entry of the placement's status document
(reconciler/status/views.py) — so this view joins the two at read time instead of writing a
third copy to the branch: nothing new is stored, and the two can never disagree. Names follow
KubeFleet's ``uniquename.NewBindingName`` (``<placement>-<cluster>-<8 characters>``, both
segments truncated to fit a DNS label); where KubeFleet draws the suffix at random, fleetsync
hashes the placement, the cluster and the binding's creation time, so a name is stable while the
binding lives and a re-created binding gets a new one, as in KubeFleet. Pure except
``cli_get_bindings``, which reads the status branch through reconciler/status/read.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fleetsync_contract.canonical import CanonicalError, dump, load
from reconciler.api.placement import CRP_KIND, RP_KIND
from reconciler.errors import NotFound
from reconciler.gitstore.repo import HubRepo
from reconciler.rollout.rolling import BindingState
from reconciler.status.memory import STATUS_FILE, BindingRecord, HubMemory, PlacementMemory, parse_memory
from reconciler.status.views import PLACEMENT_API_VERSION, placement_path

BINDING_KINDS = {CRP_KIND: "ClusterResourceBinding", RP_KIND: "ResourceBinding"}
PARENT_LABEL = "kubernetes-fleet.io/parent-CRP"  # KubeFleet's PlacementTrackingLabel
PREVIOUS_STATE_ANNOTATION = "kubernetes-fleet.io/previous-binding-state"
SUFFIX_LENGTH = 8
DNS_LABEL_MAX = 63
_SEGMENT = (DNS_LABEL_MAX - 2 - SUFFIX_LENGTH) // 2  # KubeFleet's slotsPerSeg
_STATUS_LISTS = ("failedPlacements", "driftedPlacements", "diffedPlacements")
HEADERS = [
    "NAME",
    "PLACEMENT",
    "CLUSTER",
    "STATE",
    "RESOURCE-SNAPSHOT",
    "WORK-SYNCHRONIZED",
    "APPLIED",
    "AVAILABLE",
]


def binding_name(placement_key: str, cluster: str, first_seen: str) -> str:
    """``<placement>-<cluster>-<suffix>`` as KubeFleet forms it; the suffix is a hash (not random)."""
    placement = placement_key.rpartition("/")[2]
    suffix = hashlib.sha256(f"{placement_key}\0{cluster}\0{first_seen}".encode()).hexdigest()[:SUFFIX_LENGTH]
    return f"{placement[:_SEGMENT]}-{cluster[: _SEGMENT + 1]}-{suffix}"


def _cluster_entry(placement_doc: Mapping[str, Any] | None, cluster: str) -> Mapping[str, Any]:
    for entry in ((placement_doc or {}).get("status") or {}).get("placementStatuses") or []:
        if isinstance(entry, Mapping) and entry.get("clusterName") == cluster:
            return entry
    return {}


def _decision(record: BindingRecord, entry: Mapping[str, Any]) -> dict[str, Any]:
    """KubeFleet's ClusterDecision as the binding keeps it; the reason is the Scheduled message."""
    out: dict[str, Any] = {
        "clusterName": record.cluster,
        "selected": record.state != BindingState.UNSCHEDULED,
    }
    if record.score:
        out["clusterScore"] = {
            "affinityScore": record.score.get("affinityScore", 0),
            "priorityScore": record.score.get("priorityScore", 0),
        }
    scheduled = next((c for c in entry.get("conditions") or [] if c.get("type") == "Scheduled"), None)
    out["reason"] = str((scheduled or {}).get("message", ""))
    if record.pick_order:  # fleetsync's addition (docs/scheduler.md)
        out["schedulingCycle"], out["pickOrder"] = record.pick_cycle, record.pick_order
    return out


def binding_doc(
    placement: PlacementMemory, record: BindingRecord, placement_doc: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One ClusterResourceBinding / ResourceBinding from the memory record and the placement's status."""
    kind, _, rest = placement.key.partition("/")
    namespace, _, name = rest.rpartition("/")
    entry = _cluster_entry(placement_doc, record.cluster)
    metadata: dict[str, Any] = {"name": binding_name(placement.key, record.cluster, record.first_seen)}
    if namespace:
        metadata["namespace"] = namespace
    metadata["labels"] = {PARENT_LABEL: name}
    if record.previous_state:
        metadata["annotations"] = {PREVIOUS_STATE_ANNOTATION: record.previous_state}
    if record.first_seen:
        metadata["creationTimestamp"] = record.first_seen
    spec: dict[str, Any] = {"state": str(record.state), "targetCluster": record.cluster}
    spec["schedulingPolicySnapshotName"] = f"{name}-{record.policy_index}"
    bound = bool(record.version) and record.resource_index is not None  # "" while only Scheduled
    spec["resourceSnapshotName"] = f"{name}-{record.resource_index}-snapshot" if bound else ""
    if entry.get("applicableClusterResourceOverrides"):
        spec["clusterResourceOverrideSnapshots"] = list(entry["applicableClusterResourceOverrides"])
    if entry.get("applicableResourceOverrides"):
        spec["resourceOverrideSnapshots"] = list(entry["applicableResourceOverrides"])
    spec["clusterDecision"] = _decision(record, entry)
    status: dict[str, Any] = {
        "conditions": [c for c in entry.get("conditions") or [] if c.get("type") != "Scheduled"]
    }
    for key in _STATUS_LISTS:
        if entry.get(key):
            status[key] = entry[key]
    return {
        "apiVersion": PLACEMENT_API_VERSION,
        "kind": BINDING_KINDS.get(kind, "ClusterResourceBinding"),
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }


def _matches(key: str, name: str | None) -> bool:
    """NAME is a placement name (CRP) or NAMESPACE/NAME (RP), as for ``get placements``."""
    if name is None:
        return True
    _, _, rest = key.partition("/")
    return name in {rest, rest.rpartition("/")[2]}


def binding_docs(
    memory: HubMemory, placement_docs: Mapping[str, Mapping[str, Any]], name: str | None = None
) -> list[dict[str, Any]]:
    """Every binding of every placement (or of placement NAME), by placement then cluster.

    ``placement_docs`` maps a placement key to its status document; NotFound when NAME is given
    and no placement of that name is in the hub memory."""
    keys = [k for k in sorted(memory.placements) if _matches(k, name)]
    if name is not None and not keys:
        raise NotFound(f"placement {name!r} not found on the status branch")
    out: list[dict[str, Any]] = []
    for key in keys:
        p = memory.placements[key]
        for record in sorted(p.bindings, key=lambda b: b.cluster):
            out.append(binding_doc(p, record, placement_docs.get(key)))
    return out


def _condition(doc: Mapping[str, Any], ctype: str) -> str:
    for c in (doc.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return str(c.get("status", ""))
    return ""


def table(docs: Sequence[Mapping[str, Any]]) -> str:
    rows = [HEADERS]
    for d in docs:
        meta, spec = d["metadata"], d["spec"]
        ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
        rows.append(
            [
                ns + meta["name"],
                ns + meta["labels"][PARENT_LABEL],
                spec["targetCluster"],
                spec["state"],
                spec.get("resourceSnapshotName", ""),
                _condition(d, "WorkSynchronized"),
                _condition(d, "Applied"),
                _condition(d, "Available"),
            ]
        )
    return aligned(rows)


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """kubectl's table: columns padded to their widest cell, three spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


def render(
    docs: Sequence[dict[str, Any]], output: str, table: Callable[[Sequence[Mapping[str, Any]]], str] = table
) -> str:
    """``-o table|yaml|json`` of status documents: a kubectl ``List`` for yaml and json."""
    if output == "table":
        return table(docs)
    data = {"apiVersion": "v1", "kind": "List", "items": list(docs)}
    if output == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return dump(data).decode()


def _placement_docs(files: Mapping[str, bytes], memory: HubMemory) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for key in memory.placements:
        data = files.get(placement_path(key))
        if data is None:
            continue
        try:
            doc = load(data)
        except CanonicalError:
            continue  # unreadable: the binding is still shown, without conditions
        if isinstance(doc, Mapping):
            out[key] = doc
    return out


def cli_get_bindings(repo: HubRepo, name: str | None, output: str) -> str:
    """``fleetsync get bindings [NAME] -o table|yaml|json`` from the status branch."""
    from reconciler.status.read import read_status

    files = read_status(repo)
    data = files.get(STATUS_FILE)
    if data is None:
        if name is not None:
            raise NotFound(f"placement {name!r} not found on the status branch")
        return render([], output)
    memory = parse_memory(data)
    return render(binding_docs(memory, _placement_docs(files, memory), name), output)
