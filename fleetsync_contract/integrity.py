"""Whether a bundle branch is what its ``bundle.yaml`` says (docs/formats.md §1): the agent's
check before it touches its cluster.

Building and reading the index is fleetsync_contract/bundle.py; this module compares the index
with the files beside it. It is apart because it answers another question, with another
contract: ``parse_bundle`` raises on the first malformed field, while ``verify`` never raises
and lists every reason to refuse the bundle, so an operator reading the agent's report sees all
of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from fleetsync_contract.bundle import (
    BUNDLE_FILE,
    MANIFEST_DIR,
    MAX_MANIFEST_BYTES,
    BundleError,
    FileEntry,
    bundle_id,
    manifest_identity,
    manifest_path,
    member_cluster_doc,
    parse_bundle,
)
from fleetsync_contract.canonical import CanonicalError, load, sha256_hex


def verify(files: Mapping[str, bytes], cluster: str) -> list[str]:
    """Every reason to refuse this bundle for ``cluster``; an empty list means apply it.

    Checks: the index parses and names this cluster; every listed file exists with its hash,
    sits at the path its placement and identity give, and declares that identity; no unlisted
    file under ``manifests/``; every entry's placement is listed; the bundle id recomputes.
    """
    try:
        bundle = parse_bundle(files)
    except BundleError as e:
        return [str(e)]
    problems: list[str] = []
    if bundle.cluster != cluster:
        problems.append(f"bundle is for cluster {bundle.cluster!r}, not {cluster!r}")
    placement_keys = {p.key for p in bundle.placements}
    listed: set[str] = set()
    for entry in bundle.files:
        if entry.path in listed:
            problems.append(f"{entry.path} is listed twice")
            continue
        listed.add(entry.path)
        problems += _entry_problems(entry, files, placement_keys)
    for path in sorted(files):
        if path.startswith(MANIFEST_DIR) and path not in listed:
            problems.append(f"{path} is not listed in {BUNDLE_FILE}")
    recomputed = bundle_id(
        [p.to_dict() for p in bundle.placements],
        [e.to_dict() for e in bundle.files],
        member_cluster_doc(bundle.heartbeat_period_seconds),
    )
    if recomputed != bundle.bundle_id:
        problems.append(f"bundleId {bundle.bundle_id} does not match the content ({recomputed})")
    return problems


def _entry_problems(entry: FileEntry, files: Mapping[str, bytes], placement_keys: set[str]) -> list[str]:
    """What is wrong with one listed file: its placement, its path, its content, its identity
    (a check that fails makes the later ones moot)."""
    problems: list[str] = []
    if entry.placement not in placement_keys:
        problems.append(f"{entry.path}: placement {entry.placement!r} is not in the bundle")
    try:
        expected = manifest_path(entry.placement, entry.identity)
    except BundleError as e:
        return [*problems, f"{entry.path}: {e}"]
    if expected != entry.path:
        problems.append(f"{entry.path}: should be at {expected}")
    data = files.get(entry.path)
    if data is None:
        return [*problems, f"{entry.path} is missing"]
    if sha256_hex(data) != entry.sha256:
        return [*problems, f"{entry.path}: content does not match its sha256"]
    try:
        manifest = load(data, max_bytes=MAX_MANIFEST_BYTES)
        if not isinstance(manifest, Mapping):
            raise BundleError("not a mapping")
        declared = manifest_identity(manifest)
    except (CanonicalError, BundleError) as e:
        return [*problems, f"{entry.path}: not a manifest: {e}"]
    if declared != entry.identity:
        problems.append(f"{entry.path}: declares {declared}, listed as {entry.identity}")
    return problems
