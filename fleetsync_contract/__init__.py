"""The wire contract shared by the hub (``reconciler``) and the member agent (``agent``).

This package is a leaf: it imports nothing from either side, and the agent imports nothing else
from the hub (tests/test_layering.py enforces both). It holds what both sides must agree on
byte for byte: the canonical object identity, ref names, the bundle and report formats, the
canonical YAML and content hash (canonical.py), and how a Kubernetes quantity reads (quantity.py).
"""

from __future__ import annotations

CONTRACT_API_VERSION = "fleetsync.io/v1alpha1"

BUNDLE_REF_PREFIX = "fleet/bundles/"
REPORT_REF_PREFIX = "fleet/reports/"
STATUS_REF = "fleet/status"
HEARTBEAT_REF_PREFIX = "refs/fleet/heartbeats/"


def identity(group: str, kind: str, namespace: str, name: str) -> str:
    """The one canonical object identity: ``group/Kind/namespace/name`` (core group is empty)."""
    return f"{group}/{kind}/{namespace}/{name}"


def parse_identity(text: str) -> tuple[str, str, str, str]:
    """Inverse of ``identity``; raises ValueError on anything else."""
    parts = text.split("/")
    if len(parts) != 4 or not parts[1] or not parts[3]:
        raise ValueError(f"{text!r} is not an object identity (group/Kind/namespace/name)")
    return parts[0], parts[1], parts[2], parts[3]
