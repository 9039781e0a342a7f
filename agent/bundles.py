"""Bundles as the agent reads them: verified once per content, parsed once per file.

The Git source hands the agent the whole bundle tree on every pass, as
``fleetsync_contract.integrity.BundleFiles``: verification parses the index and every manifest
through it and the loop applies those same parses (one parse per file per sync). ``MemoVerifier``
runs the contract's ``verify`` only when the tree's content changed (hashing is cheap; re-parsing
every manifest to check its identity is not). ``load_verified`` parses one manifest of a bundle
verified elsewhere (the live diff, fleetsync/cli/livediff.py) with libyaml, giving the same data
as the contract's reader (timestamps kept as strings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped]

from fleetsync_contract.bundle import BundleError
from fleetsync_contract.integrity import verify


class _VerifiedLoader(yaml.CSafeLoader):  # type: ignore[misc]
    """libyaml's safe loader with timestamps kept as strings, like the contract's reader."""


_VerifiedLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def load_verified(data: bytes) -> dict[str, Any]:
    """Parse a manifest of a bundle that verified (bounded, alias-free) with libyaml: the same
    data as the contract's reader, without its alias check (verification made it)."""
    doc = yaml.load(data, Loader=_VerifiedLoader)  # a safe loader
    if not isinstance(doc, dict):  # the verifier parsed it already; this cannot happen
        raise BundleError("a manifest is not a mapping")
    return doc


class MemoVerifier:
    """The bundle verifier, skipped when the very same files (by content hash) verified before.

    The source hands the agent the whole tree on every pass; hashing it is cheap, re-parsing every
    manifest to check its identity is not."""

    def __init__(self, cluster: str):
        self.cluster = cluster
        self._last = b""

    def __call__(self, files: Mapping[str, bytes]) -> list[str]:
        h = hashlib.sha256()
        for path in sorted(files):
            h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        digest = h.digest()
        if digest == self._last:
            return []
        problems = verify(files, self.cluster)
        self._last = b"" if problems else digest
        return problems
