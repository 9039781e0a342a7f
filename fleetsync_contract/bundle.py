"""The bundle branch format (docs/formats.md §1): build on the hub, parse on the agent (which
verifies the files against the index with fleetsync_contract/integrity.py).

A bundle is a set of files: ``bundle.yaml`` and one canonical YAML file per object under
``manifests/<placement key>/<group or core>/<Kind>/<namespace or _cluster>/<name>.yaml``.
``bundle.yaml`` lists every manifest file with its sha256, so the agent can refuse a bundle that
is incomplete, padded or tampered with before touching its cluster. The bundle id hashes only
what the agent acts on (placements, files and, when present, the ``memberCluster`` settings
such as the heartbeat period), never the source commit or removals, so a re-render of unchanged
content yields the same id and the hub writes nothing; a bundle without ``memberCluster`` keeps
the id it always had. ``leaving: true`` (docs/hub.md "Leaving the fleet") is outside the id too,
like the removals it strengthens: the cluster is leaving the fleet, so every deletion of this
bundle is intended, including inventory entries no removal names; older agents ignore the key.

Everything here is pure and bounded: at most ``MAX_FILES`` manifests, ``MAX_BUNDLE_YAML_BYTES``
for the index and ``MAX_MANIFEST_BYTES`` per manifest.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION, identity, parse_identity
from fleetsync_contract.canonical import CanonicalError, dump, load, sha256_hex

BUNDLE_FILE = "bundle.yaml"
MANIFEST_DIR = "manifests/"
BUNDLE_KIND = "Bundle"

MAX_FILES = 20_000
MAX_BUNDLE_YAML_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_BYTES = 2 * 1024 * 1024
MAX_HEARTBEAT_PERIOD_SECONDS = 600  # the MemberCluster's own bound

REMOVAL_REASONS = ("ResourceRemoved", "ClusterUnselected", "PlacementDeleted", "OverrideDeleted")
PLACEMENT_KINDS = ("ClusterResourcePlacement", "ResourcePlacement")


class BundleError(ValueError):
    """A bundle (or an input to build one) is malformed."""


@dataclass(frozen=True, slots=True)
class EnvelopeRef:
    """The envelope an object was unwrapped from (KubeFleet's ``envelope: {name, namespace, type}``)."""

    kind: str
    namespace: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True, slots=True)
class BundlePlacement:
    kind: str
    namespace: str
    name: str
    resource_index: int
    apply_strategy: Mapping[str, Any]
    unavailable_period_seconds: int = 60

    @property
    def key(self) -> str:
        return placement_key(self.kind, self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "resourceIndex": self.resource_index,
            "applyStrategy": dict(self.apply_strategy),
            "unavailablePeriodSeconds": self.unavailable_period_seconds,
        }


@dataclass(frozen=True, slots=True)
class BundleObject:
    """One object to place: its manifest already canonical (``text``) or as data (``manifest``)."""

    placement: str  # placement key
    identity: str
    manifest: Mapping[str, Any] | None = None
    text: bytes | None = None
    envelope: EnvelopeRef | None = None


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    sha256: str
    placement: str
    identity: str
    envelope: EnvelopeRef | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "placement": self.placement,
            "identity": self.identity,
        }
        if self.envelope is not None:
            out["envelope"] = self.envelope.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Removal:
    identity: str
    placement: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"identity": self.identity, "placement": self.placement, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Bundle:
    cluster: str
    bundle_id: str
    source_commit: str
    placements: tuple[BundlePlacement, ...]
    files: tuple[FileEntry, ...]
    removals: tuple[Removal, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    heartbeat_period_seconds: int | None = None  # memberCluster.heartbeatPeriodSeconds; None in older bundles
    leaving: bool = False  # the cluster is leaving the fleet: every deletion is intended


# -- names ---------------------------------------------------------------------------------------
def placement_key(kind: str, namespace: str, name: str) -> str:
    """``ClusterResourcePlacement/<name>`` or ``ResourcePlacement/<namespace>/<name>``."""
    if kind == "ClusterResourcePlacement":
        return f"{kind}/{name}"
    if kind == "ResourcePlacement":
        return f"{kind}/{namespace}/{name}"
    raise BundleError(f"{kind!r} is not a placement kind ({', '.join(PLACEMENT_KINDS)})")


def _segment(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise BundleError(f"{what} {value!r} cannot be a path segment")
    return value


@functools.lru_cache(maxsize=65_536)  # a hub renders each path once per cluster: pure, so cached
def manifest_path(placement: str, ident: str) -> str:
    """Where an object's file lives in the bundle (docs/formats.md §1)."""
    parts = placement.split("/")
    if not (
        (parts[0] == "ClusterResourcePlacement" and len(parts) == 2)
        or (parts[0] == "ResourcePlacement" and len(parts) == 3)
    ):
        raise BundleError(f"{placement!r} is not a placement key")
    for p in parts[1:]:
        _segment(p, "placement name")
    try:
        group, kind, namespace, name = parse_identity(ident)
    except ValueError as e:
        raise BundleError(str(e)) from e
    return "/".join(
        (
            MANIFEST_DIR.rstrip("/"),
            placement,
            _segment(group, "group") if group else "core",
            _segment(kind, "kind"),
            _segment(namespace, "namespace") if namespace else "_cluster",
            _segment(name, "name") + ".yaml",
        )
    )


def manifest_identity(manifest: Mapping[str, Any]) -> str:
    """The identity a manifest declares (apiVersion's group, kind, metadata namespace/name)."""
    api_version = manifest.get("apiVersion")
    kind = manifest.get("kind")
    meta = manifest.get("metadata")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(meta, Mapping):
        raise BundleError("a manifest needs apiVersion, kind and metadata")
    name = meta.get("name")
    namespace = meta.get("namespace") or ""
    if not isinstance(name, str) or not name or not isinstance(namespace, str):
        raise BundleError("a manifest needs metadata.name")
    group = api_version.rpartition("/")[0]
    return identity(group, kind, namespace, name)


def bundle_id(
    placements: Sequence[Mapping[str, Any]],
    files: Sequence[Mapping[str, Any]],
    member_cluster: Mapping[str, Any] | None = None,
) -> str:
    """``sha256:`` + sha256 of the canonical YAML of ``{placements, files}`` (plain dicts), plus
    ``memberCluster`` when the bundle has it."""
    doc: dict[str, Any] = {"placements": list(placements), "files": list(files)}
    if member_cluster is not None:
        doc["memberCluster"] = dict(member_cluster)
    return "sha256:" + sha256_hex(dump(doc))


# an entry's fields as a plain tuple (hashed in C, unlike the dataclass) -> (the entry, its text)
EntryKey = tuple[str, str, str, str, "EnvelopeRef | None"]
EntryTexts = MutableMapping[EntryKey, tuple[FileEntry, bytes]]


def _entry_text(e: FileEntry, texts: EntryTexts) -> tuple[FileEntry, bytes]:
    key = (e.path, e.sha256, e.placement, e.identity, e.envelope)
    try:
        return texts[key]
    except KeyError:
        hit = texts[key] = (e, dump({"files": [e.to_dict()]})[len(b"files:\n") :])
        return hit


def files_text(entries: Sequence[FileEntry], texts: EntryTexts | None = None) -> bytes:
    """``dump({"files": [e.to_dict() for e in entries]})``. With ``texts``, each entry is dumped
    once and kept there (with the first equal entry object, which bundles then share): a block
    list is its items' texts one after the other, so a bundle that differs from another in one
    file costs one entry's dump (hub and agent read equal bytes)."""
    if texts is None or not entries:
        return dump({"files": [e.to_dict() for e in entries]})
    return b"".join([b"files:\n", *(_entry_text(e, texts)[1] for e in entries)])


def placement_digests(
    placements: Sequence[BundlePlacement],
    files: Sequence[FileEntry],
    texts: EntryTexts | None = None,
) -> dict[str, str]:
    """Per placement key, ``sha256:`` + sha256 of the canonical YAML of that placement's entry
    and its file entries (paths and hashes): what the agent acts on for that placement alone.

    A bundle is per cluster, so its id moves when any placement on the cluster changes; the
    agent reports each placement's digest beside the bundle id, and the hub keeps a placement's
    reported state while its digest is unchanged, so one placement's change never resets another
    placement's status (each placement's status is independent, as in KubeFleet)."""
    by_key: dict[str, list[FileEntry]] = {p.key: [] for p in placements}
    for f in sorted(files, key=lambda e: e.path):
        if f.placement in by_key:
            by_key[f.placement].append(f)
    # {"files", "placement"} dumped key by key, in sorted order: the same bytes as one dump
    return {
        p.key: "sha256:" + sha256_hex(files_text(by_key[p.key], texts) + dump({"placement": p.to_dict()}))
        for p in placements
    }


def member_cluster_doc(heartbeat_period_seconds: int | None) -> dict[str, Any] | None:
    """bundle.yaml's ``memberCluster`` section: settings of the MemberCluster the agent needs."""
    if heartbeat_period_seconds is None:
        return None
    if not 1 <= heartbeat_period_seconds <= MAX_HEARTBEAT_PERIOD_SECONDS:
        raise BundleError(
            f"heartbeatPeriodSeconds {heartbeat_period_seconds} is not in 1..{MAX_HEARTBEAT_PERIOD_SECONDS}"
        )
    return {"heartbeatPeriodSeconds": heartbeat_period_seconds}


# -- build ---------------------------------------------------------------------------------------
def build_bundle(
    cluster: str,
    source_commit: str,
    placements: Sequence[BundlePlacement],
    objects: Sequence[BundleObject],
    removals: Sequence[Removal] = (),
    *,
    heartbeat_period_seconds: int | None = None,
    leaving: bool = False,
) -> dict[str, bytes]:
    """Every file of one cluster's bundle branch, keyed by path; deterministic for equal inputs.

    ``heartbeat_period_seconds`` (the MemberCluster's) is written as ``memberCluster`` and is
    part of the id, so a changed period is a new bundle the agent fetches."""
    return build_bundle_index(
        cluster,
        source_commit,
        placements,
        objects,
        removals,
        heartbeat_period_seconds=heartbeat_period_seconds,
        leaving=leaving,
    )[1]


@functools.lru_cache(
    maxsize=16_384
)  # a text shared by many bundles (the hub's cache keeps one object per text)
def _text_sha256(text: bytes) -> str:
    return sha256_hex(text)


def _manifest_files(
    objects: Sequence[BundleObject], known: set[str]
) -> tuple[dict[str, bytes], list[FileEntry]]:
    """Each object's file and its index entry (sorted by path), checked against the limits."""
    files: dict[str, bytes] = {}
    entries: list[FileEntry] = []
    for obj in objects:
        if obj.placement not in known:
            raise BundleError(f"{obj.identity}: placement {obj.placement!r} is not in this bundle")
        path = manifest_path(obj.placement, obj.identity)
        if path in files:
            raise BundleError(f"{obj.identity} is placed twice by {obj.placement}")
        if obj.text is not None:
            text = obj.text
        elif obj.manifest is not None:
            text = dump(obj.manifest)
        else:
            raise BundleError(f"{obj.identity}: neither manifest nor text given")
        if len(text) > MAX_MANIFEST_BYTES:
            raise BundleError(f"{obj.identity} is {len(text)} bytes; the limit is {MAX_MANIFEST_BYTES}")
        files[path] = text
        entries.append(FileEntry(path, _text_sha256(text), obj.placement, obj.identity, obj.envelope))
    entries.sort(key=lambda e: e.path)
    return files, entries


def build_bundle_index(
    cluster: str,
    source_commit: str,
    placements: Sequence[BundlePlacement],
    objects: Sequence[BundleObject],
    removals: Sequence[Removal] = (),
    *,
    heartbeat_period_seconds: int | None = None,
    leaving: bool = False,
    texts: EntryTexts | None = None,
) -> tuple[Bundle, dict[str, bytes]]:
    """``build_bundle`` plus its ``bundle.yaml`` as ``parse_bundle`` would read it back (without
    ``raw``), so the hub never parses the index it has just written. ``texts``: see ``files_text``."""
    keys = [p.key for p in placements]
    if len(set(keys)) != len(keys):
        raise BundleError(f"placements are listed twice: {sorted(k for k in keys if keys.count(k) > 1)}")
    known = set(keys)
    if len(objects) > MAX_FILES:
        raise BundleError(f"{len(objects)} objects; a bundle holds at most {MAX_FILES}")
    files, entries = _manifest_files(objects, known)
    if texts is not None:  # equal entries of many bundles: one object
        entries = [_entry_text(e, texts)[0] for e in entries]
    ordered = sorted(placements, key=lambda p: p.key)
    placement_docs = [p.to_dict() for p in ordered]
    for r in removals:
        if r.reason not in REMOVAL_REASONS:
            raise BundleError(f"removal reason {r.reason!r} is not one of {', '.join(REMOVAL_REASONS)}")
    # bundle.yaml is assembled from separately dumped top-level keys (sorted order), so the
    # files/placements blocks are serialised once and hashed as the id's canonical text.
    files_block = files_text(entries, texts)
    placements_text = dump({"placements": placement_docs})
    member = member_cluster_doc(heartbeat_period_seconds)
    member_text = dump({"memberCluster": member}) if member is not None else b""
    the_id = "sha256:" + sha256_hex(files_block + member_text + placements_text)
    text = b"".join(
        (
            dump({"apiVersion": CONTRACT_API_VERSION, "bundleId": the_id, "cluster": cluster}),
            files_block,
            dump({"kind": BUNDLE_KIND, **({"leaving": True} if leaving else {})}),
            member_text,
            placements_text,
            dump(
                {
                    "removals": [
                        r.to_dict() for r in sorted(removals, key=lambda r: (r.placement, r.identity))
                    ],
                    "sourceCommit": source_commit,
                }
            ),
        )
    )
    if len(text) > MAX_BUNDLE_YAML_BYTES:
        raise BundleError(f"{BUNDLE_FILE} would be {len(text)} bytes; the limit is {MAX_BUNDLE_YAML_BYTES}")
    files[BUNDLE_FILE] = text
    bundle = Bundle(
        cluster,
        the_id,
        source_commit,
        tuple(ordered),
        tuple(entries),
        tuple(sorted(removals, key=lambda r: (r.placement, r.identity))),
        heartbeat_period_seconds=heartbeat_period_seconds,
        leaving=leaving,
    )
    return bundle, files


# -- parse and verify ----------------------------------------------------------------------------
def _str(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise BundleError(f"{where}: {key} must be a string")
    return value


def _envelope(value: Any, where: str) -> EnvelopeRef | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BundleError(f"{where}: envelope must be a mapping")
    return EnvelopeRef(
        _str(value, "kind", where), _str(value, "namespace", where), _str(value, "name", where)
    )


def parse_bundle(files: Mapping[str, bytes]) -> Bundle:
    """Read ``bundle.yaml`` of a bundle branch; raises BundleError when it is not a bundle.

    This reads the index only; ``verify`` (fleetsync_contract/integrity.py) checks it against
    the manifest files.
    """
    raw = files.get(BUNDLE_FILE)
    if raw is None:
        raise BundleError(f"{BUNDLE_FILE} is missing")
    try:
        doc = load(raw, max_bytes=MAX_BUNDLE_YAML_BYTES)
    except CanonicalError as e:
        raise BundleError(f"{BUNDLE_FILE}: {e}") from e
    if not isinstance(doc, Mapping):
        raise BundleError(f"{BUNDLE_FILE} is not a mapping")
    if doc.get("apiVersion") != CONTRACT_API_VERSION or doc.get("kind") != BUNDLE_KIND:
        raise BundleError(f"{BUNDLE_FILE} is not a {CONTRACT_API_VERSION} {BUNDLE_KIND}")
    placements = [_placement(p, f"placements[{i}]") for i, p in enumerate(doc.get("placements") or [])]
    raw_files = doc.get("files") or []
    if not isinstance(raw_files, list) or len(raw_files) > MAX_FILES:
        raise BundleError(f"files must be a list of at most {MAX_FILES} entries")
    entries = [_file_entry(f, f"files[{i}]") for i, f in enumerate(raw_files)]
    heartbeat = _heartbeat_period(doc.get("memberCluster"))
    removals = [_removal(r, f"removals[{i}]") for i, r in enumerate(doc.get("removals") or [])]
    return Bundle(
        cluster=_str(doc, "cluster", BUNDLE_FILE),
        bundle_id=_str(doc, "bundleId", BUNDLE_FILE),
        source_commit=_str(doc, "sourceCommit", BUNDLE_FILE),
        placements=tuple(placements),
        files=tuple(entries),
        removals=tuple(removals),
        raw=doc,
        heartbeat_period_seconds=heartbeat,
        leaving=doc.get("leaving") is True,
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BundleError(f"{where} must be a mapping")
    return value


def _placement(value: Any, where: str) -> BundlePlacement:
    p = _mapping(value, where)
    index = p.get("resourceIndex")
    period = p.get("unavailablePeriodSeconds", 60)
    strategy = p.get("applyStrategy") or {}
    if not isinstance(index, int) or not isinstance(period, int) or not isinstance(strategy, Mapping):
        raise BundleError(f"{where}: resourceIndex/unavailablePeriodSeconds/applyStrategy malformed")
    bp = BundlePlacement(
        _str(p, "kind", where),
        _str(p, "namespace", where),
        _str(p, "name", where),
        index,
        strategy,
        period,
    )
    if bp.key != p.get("key"):
        raise BundleError(f"{where}: key {p.get('key')!r} does not match kind/namespace/name")
    return bp


def _file_entry(value: Any, where: str) -> FileEntry:
    f = _mapping(value, where)
    return FileEntry(
        _str(f, "path", where),
        _str(f, "sha256", where),
        _str(f, "placement", where),
        _str(f, "identity", where),
        _envelope(f.get("envelope"), where),
    )


def _heartbeat_period(member: Any) -> int | None:
    """``memberCluster.heartbeatPeriodSeconds`` (None: no ``memberCluster``)."""
    if member is None:
        return None
    period = member.get("heartbeatPeriodSeconds") if isinstance(member, Mapping) else None
    if (
        not isinstance(period, int)
        or isinstance(period, bool)
        or not 1 <= period <= MAX_HEARTBEAT_PERIOD_SECONDS
    ):
        raise BundleError(
            f"memberCluster.heartbeatPeriodSeconds must be an integer in 1..{MAX_HEARTBEAT_PERIOD_SECONDS}"
        )
    return period


def _removal(value: Any, where: str) -> Removal:
    r = _mapping(value, where)
    return Removal(_str(r, "identity", where), _str(r, "placement", where), _str(r, "reason", where))
