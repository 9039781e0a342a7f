"""The report side of the wire contract: ``fleet/reports/<cluster>`` and the heartbeat ref.

docs/formats.md §2-§3 is the specification; this module is its one implementation, used by the
agent to write and by the hub to read. Models are frozen dataclasses; every file is dumped as
canonical YAML (keys sorted, block style) so the same content is always the same git blob, and an
agent commits only when content — not just a time — changed.

The hub reads a report branch with ``parse_report_tree(files)`` (the whole tree of the branch's
tip: ``report.yaml`` plus ``drift/…``) and a heartbeat with ``parse_heartbeat(data)``; single
files parse with ``parse_report`` and ``parse_drift`` (the drift files' own module is
fleetsync_contract/drift.py). Parsers raise ``ReportFormatError`` (a ValueError) naming the file
and field; every input is size-bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION
from fleetsync_contract.canonical import dump

# The drift files' names, re-exported: they were split out of this module (fleetsync_contract/drift.py).
from fleetsync_contract.drift import DRIFT_DIR as DRIFT_DIR
from fleetsync_contract.drift import MAX_DETAILS as MAX_DETAILS
from fleetsync_contract.drift import REDACTED as REDACTED
from fleetsync_contract.drift import DriftType as DriftType
from fleetsync_contract.drift import ObjectDrift as ObjectDrift
from fleetsync_contract.drift import PatchDetail as PatchDetail
from fleetsync_contract.drift import drift_doc as drift_doc
from fleetsync_contract.drift import drift_path as drift_path
from fleetsync_contract.drift import dump_drift as dump_drift
from fleetsync_contract.drift import parse_drift as parse_drift
from fleetsync_contract.reading import MAX_FILE_BYTES as MAX_FILE_BYTES  # re-exported
from fleetsync_contract.reading import FieldReader, load_document
from fleetsync_contract.reading import (
    ReportFormatError as ReportFormatError,  # re-exported: the hub catches it
)

REPORT_FILE = "report.yaml"
HEARTBEAT_FILE = "heartbeat.yaml"


class Outcome(StrEnum):
    """One object's result in one sync (closed vocabulary)."""

    APPLIED = "Applied"
    UNCHANGED = "Unchanged"
    TAKEN_OVER = "TakenOver"
    FAILED_TO_TAKE_OVER = "FailedToTakeOver"
    SKIPPED_TAKE_OVER_NEVER = "SkippedTakeOverNever"
    DRIFTED = "Drifted"
    DIFF_REPORTED = "DiffReported"
    NO_DIFF = "NoDiff"
    APPLY_CONFLICT_BETWEEN_PLACEMENTS = "ApplyConflictBetweenPlacements"
    MANIFESTS_ALREADY_OWNED_BY_OTHERS = "ManifestsAlreadyOwnedByOthers"
    FAILED_TO_APPLY = "FailedToApply"
    WAITING_FOR_CRD = "WaitingForCRD"
    REMOVED_BY_OVERRIDE = "RemovedByOverride"
    PRUNED = "Pruned"


APPLIED_OUTCOMES = frozenset({Outcome.APPLIED, Outcome.UNCHANGED, Outcome.TAKEN_OVER})
DIFF_OUTCOMES = frozenset({Outcome.DIFF_REPORTED, Outcome.NO_DIFF})


class Availability(StrEnum):
    AVAILABLE = "Available"
    NOT_YET_AVAILABLE = "NotYetAvailable"
    NOT_TRACKABLE = "NotTrackable"
    UNKNOWN = "Unknown"
    # Beyond KubeFleet: it will not become available without a change (a Deployment past its
    # progress deadline); the placement's Available condition then carries a terminal reason.
    FAILED = "Failed"


# Available=False reasons that say the content failed rather than "not yet": fleetsync's own, on
# top of KubeFleet's (kubefleet-api.md §7 has SomeManifestsAreNotAvailable / ResourceNotAvailableYet
# for "not yet"). The hub treats such a binding as failed, as KubeFleet's HasBindingFailed does.
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
TERMINAL_AVAILABLE_REASONS = frozenset({PROGRESS_DEADLINE_EXCEEDED})


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str = ""
    last_transition_time: str = ""


def availability_failed(conditions: Iterable[Condition]) -> bool:
    """True when ``Available`` is False with a terminal reason (``TERMINAL_AVAILABLE_REASONS``):
    the content failed to become available and waiting will not change that."""
    return any(
        c.type == "Available" and c.status == "False" and c.reason in TERMINAL_AVAILABLE_REASONS
        for c in conditions
    )


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class ObjectResult:
    identity: str
    api_version: str
    outcome: Outcome
    reason: str = ""
    message: str = ""
    availability: Availability = Availability.UNKNOWN
    available_since: str = ""
    observed_generation: int | None = None
    envelope: Envelope | None = None
    drift: str = ""  # path of the drift file under drift/, when drifted or diffed


@dataclass(frozen=True, slots=True)
class PlacementReport:
    key: str
    resource_index: int
    bundle_id: str
    conditions: tuple[Condition, ...]
    objects: tuple[ObjectResult, ...]
    # fleetsync_contract.bundle.placement_digests of the applied bundle ("" from older agents)
    digest: str = ""


@dataclass(frozen=True, slots=True)
class SourceState:
    fresh: bool = True
    message: str = ""
    # False when the newest bundle was refused (SourceVerified=False): ``reason`` says why —
    # VerificationFailed, HistoryRewritten, Unsigned, UnknownSigner, BadSignature (docs/formats.md)
    verified: bool = True
    reason: str = ""
    # the refused bundle commit, when verified is False and the agent knows it
    refused_commit: str = ""
    # SHA256:… of the hub key that signed the bundle in force; "" from an agent that checks no
    # signatures (no --verify-key-file): the hub's SourceVerified condition is True only with it
    signed_by: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool = True
    message: str = ""
    last_transition_time: str = ""


@dataclass(frozen=True, slots=True)
class PropertyValue:
    value: str
    observation_time: str


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    capacity: Mapping[str, str] = field(default_factory=dict)
    allocatable: Mapping[str, str] = field(default_factory=dict)
    available: Mapping[str, str] = field(default_factory=dict)
    observation_time: str = ""


@dataclass(frozen=True, slots=True)
class InventoryItem:
    api_version: str
    kind: str
    namespace: str
    name: str
    placement: str
    uid: str = ""


@dataclass(frozen=True, slots=True)
class KeptItem:
    identity: str
    verdict: str


@dataclass(frozen=True, slots=True)
class PruneSummary:
    refused: str = ""
    deleted: tuple[str, ...] = ()
    kept: tuple[KeptItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterReport:
    cluster: str
    agent_version: str
    observed_time: str
    applied_bundle_id: str = ""
    applied_bundle_commit: str = ""
    source: SourceState = SourceState()
    health: Health = Health()
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    resource_usage: ResourceUsage = ResourceUsage()
    placements: tuple[PlacementReport, ...] = ()
    inventory: tuple[InventoryItem, ...] = ()
    prune: PruneSummary = PruneSummary()


@dataclass(frozen=True, slots=True)
class Heartbeat:
    cluster: str
    time: str
    applied_bundle_id: str = ""
    health: Health = Health()


# -- times and paths ------------------------------------------------------------------------------
def format_time(t: datetime) -> str:
    """RFC 3339, UTC, whole seconds (KubeFleet's metav1.Time precision)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# -- canonical YAML -------------------------------------------------------------------------------
def canonical_yaml(doc: Mapping[str, Any]) -> bytes:
    """The contract's one canonical YAML writer (fleetsync_contract.canonical)."""
    return dump(dict(doc))


# -- report.yaml ----------------------------------------------------------------------------------
def _health_doc(h: Health) -> dict[str, Any]:
    return {"healthy": h.healthy, "message": h.message, "lastTransitionTime": h.last_transition_time}


def _object_doc(o: ObjectResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "identity": o.identity,
        "apiVersion": o.api_version,
        "outcome": o.outcome.value,
        "reason": o.reason,
        "message": o.message,
        "availability": o.availability.value,
        "availableSince": o.available_since,
        "observedGeneration": o.observed_generation,
    }
    if o.envelope:
        out["envelope"] = {
            "kind": o.envelope.kind,
            "namespace": o.envelope.namespace,
            "name": o.envelope.name,
        }
    if o.drift:
        out["drift"] = o.drift
    return out


def _source_doc(s: SourceState) -> dict[str, Any]:
    out: dict[str, Any] = {"fresh": s.fresh, "message": s.message}
    if not s.verified:  # written only when False, so reports of a verified source keep their bytes
        out.update(verified=False, reason=s.reason)
        if s.refused_commit:
            out["refusedCommit"] = s.refused_commit
    if s.signed_by:
        out["signedBy"] = s.signed_by
    return out


def report_doc(r: ClusterReport) -> dict[str, Any]:
    return {
        "apiVersion": CONTRACT_API_VERSION,
        "kind": "ClusterReport",
        "cluster": r.cluster,
        "agentVersion": r.agent_version,
        "observedTime": r.observed_time,
        "appliedBundleId": r.applied_bundle_id,
        "appliedBundleCommit": r.applied_bundle_commit,
        "source": _source_doc(r.source),
        "health": _health_doc(r.health),
        "properties": {
            k: {"value": v.value, "observationTime": v.observation_time} for k, v in r.properties.items()
        },
        "resourceUsage": {
            "capacity": dict(r.resource_usage.capacity),
            "allocatable": dict(r.resource_usage.allocatable),
            "available": dict(r.resource_usage.available),
            "observationTime": r.resource_usage.observation_time,
        },
        "placements": [_placement_doc(p) for p in sorted(r.placements, key=lambda p: p.key)],
        "inventory": [
            {
                "apiVersion": i.api_version,
                "kind": i.kind,
                "namespace": i.namespace,
                "name": i.name,
                "placement": i.placement,
                "uid": i.uid,
            }
            for i in r.inventory
        ],
        "prune": {
            "refused": r.prune.refused,
            "deleted": list(r.prune.deleted),
            "kept": [{"identity": k.identity, "verdict": k.verdict} for k in r.prune.kept],
        },
    }


def dump_report(r: ClusterReport) -> bytes:
    return canonical_yaml(report_doc(r))


def _parse_health(r: FieldReader) -> Health:
    return Health(r.flag("healthy", True), r.text("message"), r.text("lastTransitionTime"))


def _parse_object(o: FieldReader) -> ObjectResult:
    env = o.doc.get("envelope")
    envelope = None
    if env:
        e = o.sub("envelope")
        envelope = Envelope(e.text("kind"), e.text("namespace"), e.text("name"))
    return ObjectResult(
        o.text("identity"),
        o.text("apiVersion"),
        o.enum("outcome", Outcome),
        o.text("reason"),
        o.text("message"),
        o.enum("availability", Availability) if o.doc.get("availability") else Availability.UNKNOWN,
        o.text("availableSince"),
        o.number("observedGeneration"),
        envelope,
        o.text("drift"),
    )


def _placement_doc(p: PlacementReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "key": p.key,
        "resourceIndex": p.resource_index,
        "bundleId": p.bundle_id,
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": c.last_transition_time,
            }
            for c in p.conditions
        ],
        "objects": [_object_doc(o) for o in sorted(p.objects, key=lambda o: o.identity)],
    }
    if p.digest:  # absent from older agents' reports, which stay byte-identical
        doc["digest"] = p.digest
    return doc


def parse_report(data: bytes, what: str = REPORT_FILE) -> ClusterReport:
    r = FieldReader(what, load_document(data, what))
    r.header("ClusterReport")
    usage = r.sub("resourceUsage")
    props = r.sub("properties")
    placements = tuple(
        PlacementReport(
            p.text("key"),
            p.number("resourceIndex", 0) or 0,
            p.text("bundleId"),
            tuple(
                Condition(
                    c.text("type"),
                    c.text("status"),
                    c.text("reason"),
                    c.text("message"),
                    c.text("lastTransitionTime"),
                )
                for c in p.items("conditions")
            ),
            tuple(_parse_object(o) for o in p.items("objects")),
            p.text("digest"),
        )
        for p in r.items("placements")
    )
    prune = r.sub("prune")
    deleted = prune.doc.get("deleted") or []
    if not isinstance(deleted, list) or not all(isinstance(x, str) for x in deleted):
        raise ReportFormatError(f"{what}: prune.deleted: expected a list of identities")
    return ClusterReport(
        cluster=r.text("cluster"),
        agent_version=r.text("agentVersion"),
        observed_time=r.text("observedTime"),
        applied_bundle_id=r.text("appliedBundleId"),
        applied_bundle_commit=r.text("appliedBundleCommit"),
        source=SourceState(
            r.sub("source").flag("fresh", True),
            r.sub("source").text("message"),
            r.sub("source").flag("verified", True),
            r.sub("source").text("reason"),
            r.sub("source").text("refusedCommit"),
            r.sub("source").text("signedBy"),
        ),
        health=_parse_health(r.sub("health")),
        properties={
            k: PropertyValue(props.sub(k).text("value"), props.sub(k).text("observationTime"))
            for k in props.doc
        },
        resource_usage=ResourceUsage(
            usage.str_map("capacity"),
            usage.str_map("allocatable"),
            usage.str_map("available"),
            usage.text("observationTime"),
        ),
        placements=placements,
        inventory=tuple(
            InventoryItem(
                i.text("apiVersion"),
                i.text("kind"),
                i.text("namespace"),
                i.text("name"),
                i.text("placement"),
                i.text("uid"),
            )
            for i in r.items("inventory")
        ),
        prune=PruneSummary(
            prune.text("refused"),
            tuple(deleted),
            tuple(KeptItem(k.text("identity"), k.text("verdict")) for k in prune.items("kept")),
        ),
    )


# -- heartbeat.yaml -------------------------------------------------------------------------------
def dump_heartbeat(h: Heartbeat) -> bytes:
    return canonical_yaml(
        {
            "apiVersion": CONTRACT_API_VERSION,
            "kind": "Heartbeat",
            "cluster": h.cluster,
            "time": h.time,
            "appliedBundleId": h.applied_bundle_id,
            "health": _health_doc(h.health),
        }
    )


def parse_heartbeat(data: bytes, what: str = HEARTBEAT_FILE) -> Heartbeat:
    r = FieldReader(what, load_document(data, what))
    r.header("Heartbeat")
    return Heartbeat(
        r.text("cluster"), r.text("time"), r.text("appliedBundleId"), _parse_health(r.sub("health"))
    )


# -- the whole tree -------------------------------------------------------------------------------
def report_files(report: ClusterReport, drifts: Mapping[str, ObjectDrift]) -> dict[str, bytes]:
    """The report branch's whole tree: ``report.yaml`` plus one file per drift (keyed by path)."""
    files = {REPORT_FILE: dump_report(report)}
    for path, d in drifts.items():
        if not path.startswith(DRIFT_DIR) or ".." in path.split("/"):
            raise ValueError(f"drift path {path!r} is not under {DRIFT_DIR}")
        files[path] = dump_drift(d)
    return files


def parse_report_tree(files: Mapping[str, bytes]) -> tuple[ClusterReport, dict[str, ObjectDrift]]:
    """What the hub reads from a report branch tip: the report and its drift files by path."""
    if REPORT_FILE not in files:
        raise ReportFormatError(f"the report tree has no {REPORT_FILE}")
    report = parse_report(files[REPORT_FILE])
    drifts = {p: parse_drift(b, p) for p, b in files.items() if p.startswith(DRIFT_DIR)}
    return report, drifts
