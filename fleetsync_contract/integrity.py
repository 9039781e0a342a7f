"""Whether a bundle branch is what its ``bundle.yaml`` says (docs/formats.md §1): the agent's
check before it touches its cluster.

Building and reading the index is fleetsync_contract/bundle.py; this module compares the index
with the files beside it. It is apart because it answers another question, with another
contract: ``parse_bundle`` raises on the first malformed field, while ``verify`` never raises
and lists every reason to refuse the bundle, so an operator reading the agent's report sees all
of them at once.

A bundle is checked by parsing every manifest, and the agent applies those same manifests, so
the check hands its parses on instead of leaving them to be made again: ``BundleFiles`` is the
bundle's files (an immutable path → bytes mapping, what the agent's Git source reads) that parses
its index and each manifest at most once, on first use. ``verify`` parses through it, and the
agent takes the verified bundle's index and manifests from the same object (agent/loop.py), so
a sync parses each file once. Memoising by path is sound because the bytes behind a path never
change; a parse is taken from the memo only after the check compared the bytes with the digest
the index lists, so a tampered manifest is refused exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fleetsync_contract.bundle import (
    BUNDLE_FILE,
    MANIFEST_DIR,
    MAX_MANIFEST_BYTES,
    Bundle,
    BundleError,
    FileEntry,
    bundle_id,
    manifest_identity,
    manifest_path,
    member_cluster_doc,
    parse_bundle,
)
from fleetsync_contract.canonical import CanonicalError, load, sha256_hex


class BundleFiles(Mapping[str, bytes]):
    """A bundle's files, path → bytes, whose index and manifests are each parsed at most once.

    ``bundle`` and ``manifest`` raise as ``parse_bundle`` and the canonical reader do; a failed
    parse is not remembered (it fails again, and the bundle is refused anyway)."""

    __slots__ = ("_bundle", "_files", "_manifests")

    def __init__(self, files: Mapping[str, bytes]):
        self._files = dict(files)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._bundle: Bundle | None = None

    def __getitem__(self, path: str) -> bytes:
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def bundle(self) -> Bundle:
        """The parsed ``bundle.yaml`` (BundleError when it is not a bundle index)."""
        if self._bundle is None:
            self._bundle = parse_bundle(self._files)
        return self._bundle

    def manifest(self, path: str) -> dict[str, Any]:
        """The manifest at ``path``, parsed (KeyError when there is none; CanonicalError or
        BundleError when it is not a manifest: over MAX_MANIFEST_BYTES, not YAML, not a mapping)."""
        parsed = self._manifests.get(path)
        if parsed is None:
            doc = load(self._files[path], max_bytes=MAX_MANIFEST_BYTES)
            if not isinstance(doc, dict):
                raise BundleError("not a mapping")
            parsed = self._manifests[path] = doc
        return parsed


def bundle_files(files: Mapping[str, bytes]) -> BundleFiles:
    """``files`` as BundleFiles: itself when it is one already (its parses are kept)."""
    return files if isinstance(files, BundleFiles) else BundleFiles(files)


def verify(files: Mapping[str, bytes], cluster: str) -> list[str]:
    """Every reason to refuse this bundle for ``cluster``; an empty list means apply it.

    Checks: the index parses and names this cluster; every listed file exists with its hash,
    sits at the path its placement and identity give, and declares that identity; no unlisted
    file under ``manifests/``; every entry's placement is listed; the bundle id recomputes.
    Given BundleFiles, it parses through them, so their parses serve whoever applies the bundle.
    """
    files = bundle_files(files)
    try:
        bundle = files.bundle()
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


def _entry_problems(entry: FileEntry, files: BundleFiles, placement_keys: set[str]) -> list[str]:
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
    try:  # parsed only now that its bytes are the ones the index lists
        declared = manifest_identity(files.manifest(entry.path))
    except (CanonicalError, BundleError) as e:
        return [*problems, f"{entry.path}: not a manifest: {e}"]
    if declared != entry.identity:
        problems.append(f"{entry.path}: declares {declared}, listed as {entry.identity}")
    return problems
