"""Hub resources: every object in the fleet repo that is not a fleet object.

They stay plain dicts (shared/style.md: manifests are never the client's generated classes),
keyed by the one canonical identity ``group/Kind/namespace/name`` used everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetsync_contract import identity
from reconciler.api.meta import Origin


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    version: str
    kind: str
    namespace: str
    name: str
    body: Mapping[str, Any]
    origin: Origin

    @property
    def identity(self) -> str:
        return identity(self.group, self.kind, self.namespace, self.name)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def labels(self) -> Mapping[str, str]:
        meta = self.body.get("metadata") or {}
        labels = meta.get("labels") or {}
        return labels if isinstance(labels, dict) else {}
