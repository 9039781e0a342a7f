"""One checked-out commit of a fleet repo → ``FleetSpec``: every object, indexed, with locations.

Every YAML document is an object as if ``kubectl apply``-ed to a KubeFleet hub. Documents of a
fleet group (``registry.is_fleet_group``) are parsed by their kind's parser into frozen models;
every other document is a *hub resource* kept as a plain dict under its one canonical identity
(``group/Kind/namespace/name``). Envelopes are both: validated as fleet objects, kept as
resources so that placements select them like anything else.

The loader never stops at the first problem: it returns every finding with the spec it could
build, each finding classified by how far it reaches (``Finding.scope``, reconciler/errors.py):
an object that fails its kind's rules is left out of the spec and listed in ``failed`` (object
scope); a file that does not parse, or a document without a usable kind and name, is listed in
``broken`` (file scope: which objects it held is known only from the last good commit); settings,
size limits, cluster membership and override conflicts hold the commit (repo scope,
``LoadResult.held``). ``LoadResult.ok`` says whether the commit is clean (what ``validate``
reports); the hub renders every commit that is not held and keeps the failed objects' last good
state (reconciler/load/lastgood.py). Which files are read, and the
refusal of hostile trees, live in reconciler/load/files.py; kustomize rendering in
reconciler/load/kustomize.py; unsafe YAML (tags, alias bombs, depth) in reconciler/load/yamldoc.py.
Names are checked here for every object because they later become file and branch names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fleetsync_contract import identity
from reconciler.api import registry
from reconciler.api.eviction import DisruptionBudget, Eviction
from reconciler.api.fields import check_dns_label, check_dns_subdomain, type_name
from reconciler.api.membercluster import MemberCluster
from reconciler.api.meta import Origin, empty_map
from reconciler.api.override import Override, check_override_conflicts
from reconciler.api.placement import Placement
from reconciler.api.resource import Resource, split_api_version
from reconciler.api.staged import ApprovalRequest, StagedUpdateRun, StagedUpdateStrategy
from reconciler.errors import SCOPE_FILE, SCOPE_OBJECT, SCOPE_REPO, Finding, Findings
from reconciler.load.files import DEFAULT_LIMITS, Limits, inside, read_file, walk
from reconciler.load.kustomize import render as kustomize_render
from reconciler.load.schemas import check_resources
from reconciler.load.settings import SETTINGS_FILE, Settings, read_settings
from reconciler.load.yamldoc import Document, YamlError, dotted, parse_documents
from reconciler.teams.model import TEAM_GROUP, TEAM_KIND, TEAM_VERSION, Team, check_teams, parse_team

# Fleet kind → the FleetSpec field its models go to (envelopes go to ``resources``).
BUCKETS: Mapping[str, str] = MappingProxyType(
    {
        "MemberCluster": "members",
        "ClusterResourcePlacement": "placements",
        "ResourcePlacement": "placements",
        "ClusterResourceOverride": "cluster_overrides",
        "ResourceOverride": "resource_overrides",
        "ClusterStagedUpdateStrategy": "strategies",
        "StagedUpdateStrategy": "strategies",
        "ClusterStagedUpdateRun": "runs",
        "StagedUpdateRun": "runs",
        "ClusterApprovalRequest": "approvals",
        "ApprovalRequest": "approvals",
        "ClusterResourcePlacementEviction": "evictions",
        "ClusterResourcePlacementDisruptionBudget": "budgets",
        "ClusterResourceEnvelope": "resources",
        "ResourceEnvelope": "resources",
    }
)
_RBAC_GROUP = "rbac.authorization.k8s.io"
# RBAC objects may use path-segment names such as ``system:aggregate-to-view``; we accept a
# conservative subset that is still safe as a file name.
_VERSION = re.compile(r"^[a-z0-9]{1,63}$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9:._-]*[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """Everything one commit of a fleet repo declares, indexed as the hub stages look it up."""

    members: Mapping[str, MemberCluster] = field(default_factory=empty_map)  # by cluster name
    # by "ClusterResourcePlacement/<name>" or "ResourcePlacement/<namespace>/<name>"
    placements: Mapping[str, Placement] = field(default_factory=empty_map)
    cluster_overrides: Mapping[str, Override] = field(default_factory=empty_map)  # by name
    resource_overrides: Mapping[str, Override] = field(default_factory=empty_map)  # by "<ns>/<name>"
    # staged kinds by "<Kind>/<namespace>/<name>" (namespace "" for the cluster-scoped kinds)
    strategies: Mapping[str, StagedUpdateStrategy] = field(default_factory=empty_map)
    runs: Mapping[str, StagedUpdateRun] = field(default_factory=empty_map)
    approvals: Mapping[str, ApprovalRequest] = field(default_factory=empty_map)
    evictions: Mapping[str, Eviction] = field(default_factory=empty_map)  # by name
    budgets: Mapping[str, DisruptionBudget] = field(default_factory=empty_map)  # by name (= the CRP's)
    resources: Mapping[str, Resource] = field(default_factory=empty_map)  # by identity; envelopes too
    settings: Settings = field(default_factory=Settings)
    teams: Mapping[str, Team] = field(default_factory=empty_map)  # the platform repo's Teams, by name
    # "<bucket>/<key>" -> the team that declared it (reconciler/teams/boundaries.py ``merge``);
    # absent: the platform's own
    owners: Mapping[str, str] = field(default_factory=empty_map)


@dataclass(frozen=True, slots=True)
class LoadResult:
    spec: FleetSpec
    findings: tuple[Finding, ...]
    # The source document of every object declared (valid or not), by identity: for duplicate
    # and located cross-object checks.
    documents: Mapping[str, Document] = field(default_factory=empty_map)
    # identity -> the errors of an object left out of ``spec`` (or, for a duplicate, of its
    # second definition): object scope
    failed: Mapping[str, tuple[Finding, ...]] = field(default_factory=empty_map)
    # source labels (``Document.file``) whose objects are unknown because the file does not
    # parse or was refused; a label ending in "/" is a directory: file scope
    broken: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def held(self) -> tuple[Finding, ...]:
        """The errors that hold the whole commit (repo scope)."""
        return tuple(f for f in self.findings if f.severity == "error" and f.scope == SCOPE_REPO)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


def bucket_key(kind: str, namespace: str, name: str) -> str:
    """The key an object of a fleet kind has in its FleetSpec mapping (see the field comments)."""
    bucket = BUCKETS.get(kind)
    if bucket == "placements":
        return f"{kind}/{namespace}/{name}" if kind == "ResourcePlacement" else f"{kind}/{name}"
    if bucket in ("strategies", "runs", "approvals"):
        return f"{kind}/{namespace}/{name}"
    if bucket == "resource_overrides":
        return f"{namespace}/{name}"
    return name


class _Loader:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.findings = Findings()
        self.buckets: dict[str, dict[str, Any]] = {
            b: {} for b in set(BUCKETS.values()) | {"resources", "teams"}
        }
        self.documents: dict[str, Document] = {}
        self.origins: dict[str, Origin] = {}
        self.failed: dict[str, list[Finding]] = {}
        self.broken: set[str] = set()

    def stamp(self, start: int, scope: str) -> list[Finding]:
        """Classify the findings added since ``start`` that are not classified yet → those."""
        items = self.findings.items
        out: list[Finding] = []
        for i in range(start, len(items)):
            if not items[i].scope:
                items[i] = replace(items[i], scope=scope)
                out.append(items[i])
        return out

    def file_failed(self, label: str, start: int) -> None:
        """The findings since ``start`` make ``label`` a file whose objects are unknown."""
        if any(f.severity == "error" for f in self.stamp(start, SCOPE_FILE)):
            self.broken.add(label)

    def error(self, doc: Document, path: tuple[str | int, ...], message: str, obj: str = "") -> None:
        line, col = doc.locate(path)
        self.findings.add(Finding(doc.file, line, col, dotted(path), message, obj))

    def add_document(self, doc: Document) -> None:
        start = len(self.findings.items)
        self._add_document(doc)
        self.file_failed(doc.file, start)  # what is left unclassified: the document has no identity

    def _add_document(self, doc: Document) -> None:
        data = doc.data
        if not isinstance(data, dict):
            self.findings.add(
                Finding(
                    doc.file,
                    doc.line,
                    1,
                    "",
                    f"a Kubernetes object must be a YAML mapping, got {type_name(data)}",
                )
            )
            return
        if (
            data.get("apiVersion") == "v1"
            and data.get("kind") == "List"
            and isinstance(data.get("items"), list)
        ):
            for i, item in enumerate(data["items"]):
                prefix = ("items", i)
                locs = {p[2:]: loc for p, loc in doc.locations.items() if p[:2] == prefix}
                line = doc.locate(prefix)[0]
                self._add_document(Document(doc.file, doc.index, line, item, locs))
            return
        header = self._header(doc, data)
        if header is None:
            return
        group, version, kind, namespace, name = header
        label = f"{kind}/{name}"
        ident = identity(group, kind, namespace, name)
        # Claimed before parsing: an invalid object still exists for duplicate and reference checks.
        start = len(self.findings.items)
        if not self._claim(doc, ident, label):
            self.failed.setdefault(ident, []).extend(self.stamp(start, SCOPE_OBJECT))
            return
        if group == TEAM_GROUP and kind == TEAM_KIND:
            self._add_team(doc, version, ident, name, start)
            return
        if registry.is_fleet_group(group):
            model = registry.parse_fleet_object(doc, group, version, kind, self.findings)
            # Cluster membership decides every placement's schedule: it changes all or nothing.
            found = self.stamp(start, SCOPE_REPO if kind == "MemberCluster" else SCOPE_OBJECT)
            errors = [f for f in found if f.severity == "error"]
            if errors:
                self.failed[ident] = errors
            if model is None or errors:
                return
            bucket = BUCKETS.get(kind)
            if bucket is None:  # a kind the registry knows but FleetSpec has no place for
                self.error(doc, ("kind",), f"{kind} is not supported in a fleet repo", label)
                self.failed[ident] = self.stamp(start, SCOPE_OBJECT)
                return
            if bucket != "resources":
                self.buckets[bucket][bucket_key(kind, namespace, name)] = model
                return
        self.buckets["resources"][ident] = Resource(
            group, version, kind, namespace, name, MappingProxyType(data), Origin(doc.file, doc.line)
        )

    def _add_team(self, doc: Document, version: str, ident: str, name: str, start: int) -> None:
        """A Team (reconciler/teams/model.py): its errors hold the commit, as a MemberCluster's
        do, so a Team that does not load never looks like a removed team."""
        if version != TEAM_VERSION:
            self.error(doc, ("apiVersion",), f"Team is served as {TEAM_GROUP}/{TEAM_VERSION}", f"Team/{name}")
            model = None
        else:
            model = parse_team(doc, self.findings)
        errors = [f for f in self.stamp(start, SCOPE_REPO) if f.severity == "error"]
        if errors:
            self.failed[ident] = errors
        elif model is not None:
            self.buckets["teams"][name] = model

    def _claim(self, doc: Document, ident: str, label: str) -> bool:
        first = self.origins.get(ident)
        if first is not None:
            self.error(
                doc,
                ("metadata", "name"),
                f"duplicate object {ident}: also defined at {first}; each object may be defined once",
                label,
            )
            return False
        self.origins[ident] = Origin(doc.file, doc.line)
        self.documents[ident] = doc
        return True

    def _header(self, doc: Document, data: dict[str, Any]) -> tuple[str, str, str, str, str] | None:
        """apiVersion, kind and metadata checked → (group, version, kind, namespace, name)."""
        api_version = data.get("apiVersion")
        kind = data.get("kind")
        label = f"{kind}" if isinstance(kind, str) else ""
        typed = self._typed(doc, api_version, kind, label)  # reports both fields' problems
        named = self._named(doc, data.get("metadata"), label)
        if named is None or not typed:
            return None
        assert isinstance(api_version, str) and isinstance(kind, str)
        namespace, name = named
        group, version = split_api_version(api_version)
        if not self._well_formed(doc, api_version, group, version, kind, namespace, name):
            return None
        return group, version, kind, namespace, name

    def _typed(self, doc: Document, api_version: Any, kind: Any, label: str) -> bool:
        """apiVersion and kind present as strings (each problem reported); False on any."""
        ok = True
        if not isinstance(api_version, str) or not api_version:
            what = "missing" if api_version is None else f"a {type_name(api_version)}, not a string"
            self.error(
                doc,
                ("apiVersion",),
                f"apiVersion is {what}: every object needs one, e.g. 'v1' or 'apps/v1'",
                label,
            )
            ok = False
        elif api_version.count("/") > 1 or api_version.startswith("/") or api_version.endswith("/"):
            self.error(
                doc,
                ("apiVersion",),
                f"{api_version!r} is not an apiVersion: use 'version' or 'group/version'",
                label,
            )
            ok = False
        if not isinstance(kind, str) or not kind:
            what = "missing" if kind is None else f"a {type_name(kind)}, not a string"
            self.error(doc, ("kind",), f"kind is {what}: every object needs one, e.g. 'ConfigMap'", label)
            ok = False
        return ok

    def _named(self, doc: Document, meta: Any, label: str) -> tuple[str, str] | None:
        """metadata with a name and a string namespace → (namespace, name); None after a finding."""
        if not isinstance(meta, dict):
            what = "missing" if meta is None else f"a {type_name(meta)}, not an object"
            self.error(doc, ("metadata",), f"metadata is {what}: every object needs metadata.name", label)
            return None
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            what = "missing" if name is None else f"{name!r}, not a non-empty string"
            hint = (
                " (generateName is not supported: objects in a fleet repo need a fixed name)"
                if "generateName" in meta
                else ""
            )
            self.error(doc, ("metadata", "name"), f"metadata.name is {what}{hint}", label)
            return None
        namespace = meta.get("namespace", "")
        if namespace is None:
            namespace = ""
        if not isinstance(namespace, str):
            self.error(
                doc,
                ("metadata", "namespace"),
                f"metadata.namespace must be a string, got {type_name(namespace)}",
                label,
            )
            return None
        return namespace, name

    def _well_formed(
        self, doc: Document, api_version: str, group: str, version: str, kind: str, namespace: str, name: str
    ) -> bool:
        """Group, version, kind, namespace and name within their grammars (the first problem is
        reported): they become path segments of bundle files."""
        label = f"{kind}/{name}"
        # group, version and kind become path segments of bundle files: keep them to their grammar.
        if (group and check_dns_subdomain(group)) or not _VERSION.match(version):
            self.error(
                doc,
                ("apiVersion",),
                f"{api_version!r} is not an apiVersion: 'version' or 'group/version' with a DNS-subdomain group "
                "and a lowercase alphanumeric version (e.g. 'apps/v1')",
                label,
            )
            return False
        if not _KIND.match(kind):
            self.error(
                doc,
                ("kind",),
                f"{kind!r} is not a kind: letters and digits starting with a letter (e.g. 'ConfigMap')",
                label,
            )
            return False
        if namespace:
            why = check_dns_label(namespace)
            if why:
                self.error(doc, ("metadata", "namespace"), f"invalid namespace {namespace!r}: {why}", label)
                return False
        why = self._name_problem(group, kind, name)
        if why:
            self.error(doc, ("metadata", "name"), f"invalid name {name!r}: {why}", label)
            return False
        return True

    @staticmethod
    def _name_problem(group: str, kind: str, name: str) -> str | None:
        if group == "" and kind == "Namespace":
            return check_dns_label(name)
        if group == _RBAC_GROUP and kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            if len(name) > 253 or not _PATH_SEGMENT.match(name):
                return "must be 253 characters or less: letters, digits, ':', '.', '_' and '-', starting and ending alphanumeric"
            return None
        return check_dns_subdomain(name)

    def spec(self) -> FleetSpec:
        def frozen(bucket: str) -> Mapping[str, Any]:
            items = self.buckets[bucket]
            return MappingProxyType({k: items[k] for k in sorted(items)})

        return FleetSpec(
            members=frozen("members"),
            placements=frozen("placements"),
            cluster_overrides=frozen("cluster_overrides"),
            resource_overrides=frozen("resource_overrides"),
            strategies=frozen("strategies"),
            runs=frozen("runs"),
            approvals=frozen("approvals"),
            evictions=frozen("evictions"),
            budgets=frozen("budgets"),
            resources=frozen("resources"),
            settings=self.settings,
            teams=frozen("teams"),
        )


def _sort_key(f: Finding) -> tuple[str, int, int, str, str]:
    return (f.file, f.line, f.column, f.field, f.message)


def load_directory(
    root: Path, settings: Settings | None = None, *, limits: Limits = DEFAULT_LIMITS
) -> LoadResult:
    """Load a checked-out fleet repo. ``settings`` overrides the repo's own ``fleetsync.yaml``."""
    root = root.resolve()
    pre: list[Finding] = []
    if settings is None:
        settings, found = _repo_settings(root)
        pre.extend(replace(f, scope=SCOPE_REPO) for f in found)  # every object depends on them
    loader = _Loader(settings)
    loader.findings.extend(pre)
    inputs = walk(root, settings.include, settings.exclude, limits)
    for f in inputs.findings:  # a refused directory: file scope for what was under it
        start = len(loader.findings.items)
        loader.findings.add(f)
        loader.file_failed(f.file.rstrip("/") + "/", start)
    budget = [limits.max_total_bytes]
    for rel in inputs.files:
        data, problem = read_file(root, rel, limits, budget)
        if problem is not None:
            start = len(loader.findings.items)
            loader.findings.add(problem)
            loader.file_failed(rel, start)
            continue
        assert data is not None
        _add_text(loader, data, rel, limits)
    for rel_dir in inputs.kustomize_dirs:
        directory = root / rel_dir if rel_dir else root
        result = kustomize_render(root, directory, max_bytes=min(limits.max_total_bytes, max(budget[0], 0)))
        label = f"{rel_dir}/kustomization.yaml#output" if rel_dir else "kustomization.yaml#output"
        start = len(loader.findings.items)
        loader.findings.extend(result.findings)
        loader.file_failed(label, start)
        if result.text is not None:
            budget[0] -= len(result.text)
            _add_text(loader, result.text, label, limits, max_bytes=len(result.text.encode()) + 1)
    _check_schemas(loader, settings)
    spec = loader.spec()
    # KubeFleet's webhook refuses a second override of the same kind for one resource; in Git
    # neither is "the second", so the commit is held until one goes.
    conflicts = check_override_conflicts(
        list(spec.cluster_overrides.values()), list(spec.resource_overrides.values())
    )
    loader.findings.extend([replace(f, scope=SCOPE_REPO) for f in conflicts])
    loader.findings.extend(check_teams(spec.teams))  # a namespace owned twice holds the commit
    loader.stamp(0, SCOPE_REPO)  # an error nobody classified holds the commit, as it always did
    findings = tuple(sorted(loader.findings.items, key=_sort_key))
    docs = MappingProxyType({k: loader.documents[k] for k in sorted(loader.documents)})
    failed = MappingProxyType({k: tuple(loader.failed[k]) for k in sorted(loader.failed)})
    return LoadResult(spec, findings, docs, failed, tuple(sorted(loader.broken)))


def _check_schemas(loader: _Loader, settings: Settings) -> None:
    """Plain objects against Kubernetes' and the repo's CRD schemas: one that fails is left out."""
    resources = loader.buckets["resources"]
    for ident, found in check_resources(resources, loader.documents, settings.kubernetes_version).items():
        loader.findings.extend(found)
        errors = [f for f in found if f.severity == "error"]
        if errors:
            del resources[ident]
            loader.failed[ident] = errors


def _add_text(
    loader: _Loader, data: bytes | str, label: str, limits: Limits, max_bytes: int | None = None
) -> None:
    try:
        docs = parse_documents(data, label, max_bytes=max_bytes or limits.max_file_bytes)
    except YamlError as e:
        start = len(loader.findings.items)
        loader.findings.add(e.finding)
        loader.file_failed(label, start)
        return
    for doc in docs:
        loader.add_document(doc)


def _repo_settings(root: Path) -> tuple[Settings, tuple[Finding, ...]]:
    path = root / SETTINGS_FILE
    if not path.exists() and not path.is_symlink():
        return Settings(), ()
    if not inside(root, path):
        return Settings(), (
            Finding(SETTINGS_FILE, 0, 0, "", "fleetsync.yaml is a symlink that leaves the repo"),
        )
    data, problem = read_file(root, SETTINGS_FILE, Limits(max_file_bytes=64 * 1024), [64 * 1024])
    if problem is not None:
        return Settings(), (problem,)
    assert data is not None
    return read_settings(data, SETTINGS_FILE)
