"""Drift files of the report branch (docs/formats.md §2): ``drift/<placement>/…/<name>.yaml``,
one per object whose member copy differs from the hub's (a drift) or would differ (a diff).

A drift file is its own document, written by the agent and read by the hub, ``fleetsync get
drift`` and ``fleetsync drift adopt``; it shares nothing with ``report.yaml`` but the canonical
YAML and the file reader, so it lives apart from fleetsync_contract/report.py (which re-exports
these names for the importers that predate the split). Details are capped at ``MAX_DETAILS``
and a Secret's values never appear in one: the agent writes ``REDACTED`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION, parse_identity
from fleetsync_contract.canonical import dump
from fleetsync_contract.reading import FieldReader, load_document

DRIFT_DIR = "drift/"
MAX_DETAILS = 100
REDACTED = "(redacted for security reasons)"


class DriftType(StrEnum):
    DRIFT = "Drift"  # whenToApply: IfNotDrifted / FullComparison post-apply
    DIFF = "Diff"  # ReportDiff, or an IfNoDiff takeover that found differences


@dataclass(frozen=True, slots=True)
class PatchDetail:
    """KubeFleet's PatchDetail: a JSON pointer and Go ``%v`` renderings of both sides."""

    path: str
    value_in_hub: str | None = None
    value_in_member: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectDrift:
    identity: str
    placement: str
    type: DriftType
    observation_time: str
    first_observed_time: str
    observed_generation: int | None
    details: tuple[PatchDetail, ...]


def drift_path(placement: str, identity: str) -> str:
    """``drift/<placement key>/<group or core>/<Kind>/<namespace or _cluster>/<name>.yaml``."""
    group, kind, namespace, name = parse_identity(identity)
    return f"{DRIFT_DIR}{placement}/{group or 'core'}/{kind}/{namespace or '_cluster'}/{name}.yaml"


def _detail_doc(d: PatchDetail) -> dict[str, Any]:
    out: dict[str, Any] = {"path": d.path}
    if d.value_in_hub is not None:
        out["valueInHub"] = d.value_in_hub
    if d.value_in_member is not None:
        out["valueInMember"] = d.value_in_member
    return out


def drift_doc(d: ObjectDrift) -> dict[str, Any]:
    return {
        "apiVersion": CONTRACT_API_VERSION,
        "kind": "ObjectDrift",
        "identity": d.identity,
        "placement": d.placement,
        "type": d.type.value,
        "observationTime": d.observation_time,
        "firstObservedTime": d.first_observed_time,
        "observedGeneration": d.observed_generation,
        "details": [_detail_doc(x) for x in d.details[:MAX_DETAILS]],
    }


def dump_drift(d: ObjectDrift) -> bytes:
    return dump(drift_doc(d))


def parse_drift(data: bytes, what: str = "drift file") -> ObjectDrift:
    r = FieldReader(what, load_document(data, what))
    r.header("ObjectDrift")
    details = tuple(
        PatchDetail(x.text("path"), x.opt_str("valueInHub"), x.opt_str("valueInMember"))
        for x in r.items("details")[:MAX_DETAILS]
    )
    return ObjectDrift(
        r.text("identity"),
        r.text("placement"),
        r.enum("type", DriftType),
        r.text("observationTime"),
        r.text("firstObservedTime"),
        r.number("observedGeneration"),
        details,
    )
