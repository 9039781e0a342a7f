"""Everything one reconcile reads besides the fleet commit: hub refs turned into typed inputs.

Agents write their report branches and heartbeat refs; the hub wrote its bundle branches and
the status branch. All of it is untrusted on the way in (anyone with push access to a report
branch controls its content and even its ref name), so every name is checked before it is used
and every file is parsed by its format's own parser; a malformed report costs only that
cluster's observation (it is logged and treated as "no report"), never the reconcile.

The result, ``HubInputs``, is plain frozen data: the loop never touches git for reading.
``kept.yaml`` on the status branch says, per object the last render kept at its last good state
(reconciler/load/lastgood.py), the commit that state comes from; ``commit_loader`` reads such a
commit back through the ``LoadCache``.
``LoadCache`` exports and loads a fleet commit, remembering the last trees; ``InputMemo``
remembers parsed reports, heartbeats, status files and status documents by the id of what they
were read from, so a pass reads and parses only what moved. Both live in the hub's one
``HubSession`` (reconciler/hub/session.py), which a long-running hub keeps across passes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar, cast

from fleetsync_contract import (
    BUNDLE_REF_PREFIX,
    CONTRACT_API_VERSION,
    HEARTBEAT_REF_PREFIX,
    REPORT_REF_PREFIX,
    STATUS_REF,
    parse_identity,
)
from fleetsync_contract.bundle import BUNDLE_FILE, Bundle, BundleError, parse_bundle
from fleetsync_contract.canonical import CanonicalError, dump
from fleetsync_contract.report import (
    HEARTBEAT_FILE,
    ClusterReport,
    Heartbeat,
    ObjectDrift,
    ReportFormatError,
    parse_heartbeat,
    parse_report_tree,
    parse_time,
)
from reconciler.api.membercluster import ResourceUsage
from reconciler.errors import SCOPE_REPO, Finding, TransientError, UserError
from reconciler.gitstore.refs import check_ref_component
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.clusters import ClusterObservation
from reconciler.hub.overrides import OverrideMemo
from reconciler.hub.render import ManifestCache
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.load.lastgood import LoadFn
from reconciler.policy.gate import PolicySet, library_paths, load_policies
from reconciler.policy.model import BINDING_KIND
from reconciler.status.memory import STATUS_FILE, HubMemory, load_hub_yaml, parse_memory

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUS_HEAD = "refs/heads/" + STATUS_REF
BUNDLE_HEAD = "refs/heads/" + BUNDLE_REF_PREFIX
REPORT_HEAD = "refs/heads/" + REPORT_REF_PREFIX


class PreviousBundle:
    """A cluster's bundle branch tip. Its ``bundle.yaml`` is parsed only when the loop needs the
    file list (the bundle changes): the id is known from status.yaml, so a no-op reads nothing."""

    __slots__ = ("_bundle", "_read", "bundle_id", "commit", "published")

    def __init__(self, commit: str, bundle_id: str, read: Callable[[], Bundle], published: str = ""):
        self.commit = commit
        self.bundle_id = bundle_id
        self._read = read
        self._bundle: Bundle | None = None
        # The commit the hub last published on this branch, when the tip does not descend from
        # it (someone reset or rewrote the branch): its agent would refuse anything built on
        # the tip, so the hub writes nothing here until the branch is restored ("" in sync).
        self.published = published

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            try:
                self._bundle = self._read()
            except BundleError as e:
                log.warning("unreadable bundle branch; it will be rewritten", extra={"error": str(e)})
                self._bundle = Bundle("", self.bundle_id, "", (), ())
        return self._bundle


@dataclass(frozen=True, slots=True)
class AgentView:
    """What one cluster's agent last said: its report tree and its newest heartbeat."""

    report: ClusterReport | None = None
    drifts: Mapping[str, ObjectDrift] = field(default_factory=dict)
    heartbeat: Heartbeat | None = None


class InputMemo:
    """Parsed hub inputs across passes of one long-running hub, keyed by what names their
    content (a commit id, a document's bytes): a hit is right by construction. Only entries
    still referenced by the newest read are kept, so it is bounded by the fleet's size."""

    def __init__(self) -> None:
        self.status: dict[str, Mapping[str, bytes]] = {}  # status commit -> its files
        self.agents: dict[str, tuple[str, object]] = {}  # report/heartbeat ref -> (commit, parsed or None)
        self.docs: dict[bytes, bytes] = {}  # sha256 of a status file -> the pickled parsed document
        self.overrides = OverrideMemo()  # what overrides made of each object per cluster
        self.bundles: dict[str, Bundle] = {}  # bundle branch commit -> its bundle.yaml, parsed
        self.manifests = ManifestCache()  # canonical text of what the last render pass wrote
        self._docs_used: set[bytes] = set()

    def doc(self, data: bytes) -> Mapping[str, Any] | None:
        """A status document parsed once per distinct content (a private copy on every call)."""
        key = hashlib.sha256(data).digest()
        self._docs_used.add(key)
        hit = self.docs.get(key)
        if hit is None:
            try:
                doc = load_hub_yaml(data)
            except CanonicalError:
                doc = None
            hit = self.docs[key] = pickle.dumps(doc if isinstance(doc, Mapping) else None, protocol=5)
        loaded: Mapping[str, Any] | None = pickle.loads(hit)  # trusted: pickled by this process
        return loaded

    def forget_unused_docs(self) -> None:
        """Drop documents no pass asked for since the last call (keeps the memo fleet-sized)."""
        self.docs = {k: v for k, v in self.docs.items() if k in self._docs_used}
        self._docs_used = set()


@dataclass(frozen=True, slots=True)
class HubInputs:
    refs: Mapping[str, str]  # every hub ref as read (the expected old values of the update)
    status_commit: str | None
    status_files: Mapping[str, bytes]
    memory: HubMemory
    bundles: Mapping[str, PreviousBundle]  # cluster -> its branch tip and bundle.yaml
    agents: Mapping[str, AgentView]
    memo: InputMemo | None = None  # a long-running hub's parse cache

    def previous_doc(self, path: str) -> Mapping[str, Any] | None:
        data = self.status_files.get(path)
        if data is None:
            return None
        if self.memo is not None:
            return self.memo.doc(data)
        try:
            doc = load_hub_yaml(data)
        except CanonicalError:
            return None
        return doc if isinstance(doc, Mapping) else None


def _bundle_reader(repo: HubRepo, commit: str, memo: InputMemo | None = None) -> Callable[[], Bundle]:
    """Reads ``commit``'s bundle.yaml; with ``memo``, once per commit id (the hub records the
    index of every bundle it writes there, so a long-running hub never parses its own)."""

    def read() -> Bundle:
        if memo is not None and (hit := memo.bundles.get(commit)) is not None:
            return hit
        data = repo.read_file(commit, BUNDLE_FILE)
        if data is None:
            raise BundleError(f"{commit[:12]} has no {BUNDLE_FILE}")
        bundle = parse_bundle({BUNDLE_FILE: data})
        if memo is not None:
            memo.bundles[commit] = bundle
        return bundle

    return read


def _cluster_of(ref: str, prefix: str) -> str | None:
    name = ref[len(prefix) :]
    try:
        return check_ref_component(name)
    except UserError:
        log.warning("ignoring hub ref with an unusable name", extra={"ref": ref})
        return None


def _parsed(
    memo: InputMemo | None,
    ref: str,
    commit: str,
    parse: Callable[[HubRepo, str, str, str], T],
    repo: HubRepo,
    cluster: str,
) -> T:
    """``parse`` of what ``ref`` holds at ``commit``, once per commit with a memo."""
    if memo is None:
        return parse(repo, ref, commit, cluster)
    hit = memo.agents.get(ref)
    if hit is None or hit[0] != commit:
        hit = memo.agents[ref] = (commit, parse(repo, ref, commit, cluster))
    return cast(T, hit[1])


def _report(
    repo: HubRepo, ref: str, commit: str, cluster: str
) -> tuple[ClusterReport, dict[str, ObjectDrift]] | None:
    try:
        report, drifts = parse_report_tree(repo.read_files(commit))
    except (ReportFormatError, UserError) as e:
        log.warning("ignoring malformed report", extra={"ref": ref, "error": str(e)})
        return None
    return (report, drifts) if report.cluster == cluster else None


def _heartbeat(repo: HubRepo, ref: str, commit: str, cluster: str) -> Heartbeat | None:
    data = repo.read_file(commit, HEARTBEAT_FILE, max_bytes=64 * 1024)
    if data is None:
        return None
    try:
        beat = parse_heartbeat(data)
    except ReportFormatError as e:
        log.warning("ignoring malformed heartbeat", extra={"ref": ref, "error": str(e)})
        return None
    return beat if beat.cluster == cluster else None


def read_agents(
    repo: HubRepo, refs: Mapping[str, str], memo: InputMemo | None = None
) -> dict[str, AgentView]:
    """Every agent's newest report and heartbeat among ``refs`` (malformed ones left out)."""
    reports: dict[str, tuple[ClusterReport, dict[str, ObjectDrift]]] = {}
    beats: dict[str, Heartbeat] = {}
    for ref, commit in sorted(refs.items()):
        if ref.startswith(REPORT_HEAD):
            cluster = _cluster_of(ref, REPORT_HEAD)
            if cluster:
                report = _parsed(memo, ref, commit, _report, repo, cluster)
                if report is not None:
                    reports[cluster] = report
        elif ref.startswith(HEARTBEAT_REF_PREFIX):
            cluster = _cluster_of(ref, HEARTBEAT_REF_PREFIX)
            if cluster:
                beat = _parsed(memo, ref, commit, _heartbeat, repo, cluster)
                if beat is not None:
                    beats[cluster] = beat
    if memo is not None:
        memo.agents = {r: v for r, v in memo.agents.items() if r in refs}
    return {
        c: AgentView(
            reports[c][0] if c in reports else None,
            MappingProxyType(reports[c][1]) if c in reports else MappingProxyType({}),
            beats.get(c),
        )
        for c in sorted(set(reports) | set(beats))
    }


def read_inputs(repo: HubRepo, memo: InputMemo | None = None) -> HubInputs:
    """Read the status branch, every bundle branch, report branch and heartbeat ref.

    With ``memo`` (a long-running hub), what a ref already held last time is not read again.
    """
    refs = repo.hub_refs()
    if memo is not None:
        memo.overrides.begin_pass()
    status_commit = refs.get(STATUS_HEAD)
    status_files: Mapping[str, bytes] = {}
    if status_commit and memo is not None and status_commit in memo.status:
        status_files = memo.status[status_commit]
    elif status_commit:
        status_files = repo.read_files(status_commit)
    if memo is not None:
        memo.status = {status_commit: status_files} if status_commit else {}
    memory = parse_memory(status_files[STATUS_FILE]) if STATUS_FILE in status_files else HubMemory()
    bundles: dict[str, PreviousBundle] = {}
    if memo is not None:  # only the tips can be asked for
        tips = {c for r, c in refs.items() if r.startswith(BUNDLE_HEAD)}
        memo.bundles = {c: b for c, b in memo.bundles.items() if c in tips}
    for ref, commit in sorted(refs.items()):
        if ref.startswith(BUNDLE_HEAD):
            cluster = _cluster_of(ref, BUNDLE_HEAD)
            if cluster is None:
                continue
            read = _bundle_reader(repo, commit, memo)
            known = memory.bundles.get(cluster)
            if known is not None and known.commit == commit and known.bundle_id:
                bundles[cluster] = PreviousBundle(commit, known.bundle_id, read)
            else:  # written by someone else (or before the hub recorded ids): read it now
                prev = PreviousBundle(commit, "", read)
                rewound = known is not None and not repo.is_ancestor(known.commit, commit)
                published = known.commit if known is not None and rewound else ""
                bundles[cluster] = PreviousBundle(commit, prev.bundle.bundle_id, read, published)
    agents = read_agents(repo, refs, memo)
    return HubInputs(
        MappingProxyType(refs),
        status_commit,
        MappingProxyType(dict(status_files)),
        memory,
        MappingProxyType(bundles),
        MappingProxyType(agents),
        memo,
    )


def _time(text: str) -> datetime | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def observation(agent: AgentView) -> ClusterObservation:
    """The scheduler's view of one agent: heartbeat = max(heartbeat.time, report.observedTime)."""
    report, beat = agent.report, agent.heartbeat
    beat_time = _time(beat.time) if beat else None
    report_time = _time(report.observed_time) if report else None
    times = [t for t in (beat_time, report_time) if t is not None]
    heartbeat_time = max(times) if times else None
    health = None  # the newer of the two says how the cluster is
    if beat is not None and (report_time is None or (beat_time is not None and beat_time >= report_time)):
        health = beat.health
    elif report is not None:
        health = report.health
    usage = None
    if report is not None:
        ru = report.resource_usage
        usage = ResourceUsage(
            MappingProxyType(dict(ru.capacity)),
            MappingProxyType(dict(ru.allocatable)),
            MappingProxyType(dict(ru.available)),
            ru.observation_time or None,
        )
    return ClusterObservation(
        heartbeat_time=heartbeat_time,
        healthy=None if health is None else health.healthy,
        health_transition_time=None if health is None else _time(health.last_transition_time),
        properties=MappingProxyType({k: v.value for k, v in report.properties.items()})
        if report
        else MappingProxyType({}),
        resource_usage=usage,
    )


class LoadCache:
    """The last ``size`` loaded fleet trees (by tree id: equal trees load equally), each with
    the policy set its documents and settings enable (None when the commit does not load)."""

    def __init__(self, size: int = 2):
        self.size = size
        self._items: dict[str, Loaded] = {}
        self._trees: dict[str, str] = {}  # commit -> tree id (saves a git process per pass)
        self._policy_key: str | None = None
        self._policies: PolicySet | None = None

    def load(self, repo: HubRepo, commit: str) -> Loaded:
        tree = self._trees.get(commit) or repo.tree_id(commit)
        if self.size > 0:
            kept = [(c, t) for c, t in self._trees.items() if t in self._items and c != commit]
            self._trees = dict([(commit, tree), *kept[:15]])
        hit = self._items.pop(tree, None)
        if hit is None:
            with tempfile.TemporaryDirectory(prefix="fleetsync-hub-") as tmp:
                skipped = repo.export(commit, Path(tmp))
                loaded = load_directory(Path(tmp))
            notes = tuple(
                Finding(s.path, 0, 0, "", f"not read: {s.reason}", severity="warning") for s in skipped
            )
            policies = None
            if not loaded.held:  # failed objects do not hold the commit: its policies apply
                key = _policy_key(loaded)
                if key is not None and key == self._policy_key:
                    policies = self._policies  # compiling CEL costs more than the rest of a load
                else:
                    policies = load_policies(
                        loaded.documents.values(),
                        enabled=loaded.spec.settings.policies,
                        library=library_paths(),
                    )
                    self._policy_key, self._policies = key, policies
            found = policies.findings if policies else ()
            # a policy that does not compile, or a binding or settings entry naming none, would
            # render without that rule: the whole commit waits (as a broken policy file does)
            broken = tuple(replace(f, scope=SCOPE_REPO) for f in found if f.severity == "error")
            if broken:
                loaded = replace(loaded, findings=loaded.findings + broken)
            hit = Loaded(loaded, notes + tuple(f for f in found if f.severity != "error"), policies)
        if self.size > 0:
            self._items[tree] = hit
            while len(self._items) > self.size:
                del self._items[next(iter(self._items))]
        return hit


def _reads_params(data: Mapping[str, Any]) -> bool:
    """Does this admission document name a parameter object (a binding's ``spec.paramRef``)?"""
    spec = data.get("spec")
    return data.get("kind") == BINDING_KIND and isinstance(spec, Mapping) and "paramRef" in spec


def _policy_key(loaded: LoadResult) -> str | None:
    """What the policy set of ``loaded`` depends on, when that is only the enabled names and the
    repo's admission documents (None when a binding's paramRef may read any other object)."""
    parts: list[Any] = [loaded.spec.settings.policies]
    for ident, doc in sorted(loaded.documents.items()):
        data = doc.data if isinstance(doc.data, Mapping) else {}
        if not str(data.get("apiVersion", "")).startswith("admissionregistration.k8s.io/"):
            continue
        if _reads_params(data):
            return None
        parts.append([ident, doc.file, doc.index, doc.line, data, sorted(doc.locations.items(), key=str)])
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Loaded:
    result: LoadResult
    notes: tuple[Finding, ...]  # files left out of the export, policy findings
    policies: PolicySet | None


KEPT_FILE = "kept.yaml"
KEPT_KIND = "KeptObjects"
MAX_KEPT = 10_000
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def kept_objects(inputs: HubInputs) -> Mapping[str, str]:
    """What the last render kept at its last good state: identity -> the commit it comes from
    (a malformed file, or entries, are dropped: those objects are then read from the base)."""
    data = inputs.status_files.get(KEPT_FILE)
    if data is None:
        return MappingProxyType({})
    doc = inputs.previous_doc(KEPT_FILE)
    objects = doc.get("objects") if doc is not None and doc.get("kind") == KEPT_KIND else None
    if not isinstance(objects, Mapping):
        log.warning("ignoring a malformed kept.yaml on the status branch")
        return MappingProxyType({})
    kept: dict[str, str] = {}
    for ident, commit in list(objects.items())[:MAX_KEPT]:
        if isinstance(ident, str) and isinstance(commit, str) and _COMMIT.match(commit) and _identity(ident):
            kept[ident] = commit
    return MappingProxyType(kept)


def _identity(text: str) -> bool:
    try:
        parse_identity(text)
    except ValueError:
        return False
    return True


def kept_files(kept: Mapping[str, str]) -> dict[str, bytes]:
    """``kept.yaml`` for the status branch (none when nothing is kept)."""
    if not kept:
        return {}
    doc = {"apiVersion": CONTRACT_API_VERSION, "kind": KEPT_KIND, "objects": dict(sorted(kept.items()))}
    return {KEPT_FILE: dump(doc)}


def commit_loader(repo: HubRepo, cache: LoadCache) -> LoadFn:
    """A commit of the fleet repo → its load, or None when it is gone or cannot be read."""

    def load(commit: str) -> LoadResult | None:
        try:
            if repo.resolve(commit) != commit:
                return None
            return cache.load(repo, commit).result
        except (UserError, TransientError, ValueError) as e:
            log.warning("a last good commit cannot be read", extra={"commit": commit, "error": str(e)})
            return None

    return load
