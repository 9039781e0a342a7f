"""Which documents are fleet objects and who parses each kind.

A document is a *fleet object* when its group is one of KubeFleet's
(``placement.kubernetes-fleet.io``, ``cluster.kubernetes-fleet.io``); every other document is a
hub resource. Which apiVersions of a kind are served is not decided here but read from the one
table of reconciler/api/served.py; all served versions are parsed into one internal model (v1
and v1alpha1 convert into the v1beta1 shape). An unserved version is reported *and* the object
is still parsed, so its other errors are told at once (the object is then dropped). Hub-internal
kinds (bindings, snapshots, Works) are computed by fleetsync and refused with an explanation.

Envelopes are fleet objects *and* hub resources: they are validated here and selected by
placements like any other object.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.api.fields import Context, Fields
from reconciler.api.meta import Origin
from reconciler.api.served import groups_of, is_served, preferred_version, served_versions, unserved_message
from reconciler.errors import Findings
from reconciler.load.yamldoc import Document

FLEET_GROUPS = ("placement.kubernetes-fleet.io", "cluster.kubernetes-fleet.io")

# A parser gets the whole object (apiVersion and kind already read) and returns the model.
ParseFn = Callable[[Fields, str, Origin], Any]


@dataclass(frozen=True, slots=True)
class KindInfo:
    group: str
    kind: str
    namespaced: bool
    parse: ParseFn
    short_name: str = ""

    @property
    def versions(self) -> tuple[str, ...]:
        """The served versions, from the one table (reconciler/api/served.py)."""
        return served_versions(self.group, self.kind)


_KINDS: dict[tuple[str, str], KindInfo] = {}

HUB_INTERNAL_KINDS = frozenset(
    {
        "ClusterResourceBinding",
        "ResourceBinding",
        "ClusterResourceSnapshot",
        "ResourceSnapshot",
        "ClusterSchedulingPolicySnapshot",
        "SchedulingPolicySnapshot",
        "ClusterResourceOverrideSnapshot",
        "ResourceOverrideSnapshot",
        "Work",
        "AppliedWork",
        "InternalMemberCluster",
        "ClusterResourcePlacementStatus",
    }
)


def register(info: KindInfo) -> None:
    _KINDS[(info.group, info.kind)] = info


def kind_info(group: str, kind: str) -> KindInfo | None:
    _ensure_loaded()
    return _KINDS.get((group, kind))


def all_kinds() -> list[KindInfo]:
    _ensure_loaded()
    return sorted(_KINDS.values(), key=lambda k: (k.group, k.kind))


def is_fleet_group(group: str) -> bool:
    return group in FLEET_GROUPS


_loaded = False


def _ensure_loaded() -> None:
    """Import the kind modules once; each registers its kinds at import time."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("reconciler.api.kinds")


def parse_fleet_object(doc: Document, group: str, version: str, kind: str, findings: Findings) -> Any:
    """Parse one fleet-group document into its model; None (with findings) when it cannot be."""
    name = ""
    data = doc.data
    meta = data.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        name = meta["name"]
    label = f"{kind}/{name}" if name else kind
    ctx = Context(doc, findings, label)
    api_version = f"{group}/{version}"
    if kind in HUB_INTERNAL_KINDS:
        ctx.error(
            ("kind",),
            f"{kind} is a hub-internal object that KubeFleet's controllers create; fleetsync computes it "
            "(see the fleet/status branch) and it does not belong in the fleet repo",
        )
        return None
    info = kind_info(group, kind)
    if info is None:
        ctx.error(("kind",), _unknown_kind_message(group, version, kind))
        return None
    served = is_served(group, version, kind)
    if not served:
        ctx.error(("apiVersion",), unserved_message(group, version, kind))
    f = Fields(ctx, (), data)
    f.ignore("apiVersion", "kind")
    model = info.parse(f, api_version, Origin(doc.file, doc.line))
    return model if served else None


def _unknown_kind_message(group: str, version: str, kind: str) -> str:
    """The API server's words for a kind the group does not have, then where the kind does belong."""
    message = f'no matches for kind "{kind}" in version "{group}/{version}"'
    homes = [g for g in groups_of(kind) if g != group]
    if homes:
        home = homes[0]
        return f"{message}: {kind} belongs to {home}; use apiVersion {home}/{preferred_version(home, kind)}"
    known = ", ".join(sorted(k.kind for k in all_kinds() if k.group == group))
    return f"{message}: unknown kind {kind!r} in group {group}; known kinds are {known}"
