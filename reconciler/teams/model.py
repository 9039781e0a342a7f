"""The ``Team`` object of the platform repo, parsed like every other kind, and the checks across teams.

A Team is read with the same ``Fields`` reader as the KubeFleet kinds, so a mistake in one is a
located finding (file, line, field, what would be valid). Its repo URL and branch reach git's
command line when the hub fetches the team repo, so they are validated here, before anything
else sees them: a URL is ``git://``, ``https://``, ``ssh://`` or an absolute local path, with no
password, user name (but ssh's login) or query in it, any of which may be a token (credentials
come from the hub's ``FLEETSYNC_GIT_*``), and a branch is a ref name of checked components. Team
errors hold the platform commit (repo scope), as MemberCluster errors do: a Team that does not
load must never look like a team that was removed, which would prune its objects; so must two
teams owning one namespace, which would make names collide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.api.fields import Context, Fields, check_dns_label
from reconciler.api.meta import LabelSelector, Origin, parse_label_selector
from reconciler.errors import SCOPE_REPO, Finding, Findings, UserError
from reconciler.gitstore.refs import check_branch
from reconciler.load.yamldoc import Document

TEAM_GROUP = "fleetsync.io"
TEAM_VERSION = "v1alpha1"
TEAM_KIND = "Team"
MAX_NAMESPACES = 100
MAX_TEAMS = 500  # team repos one hub fetches every pass
MAX_KINDS = 200
MAX_URL = 2048
MAX_PATH = 255
RESERVED_NAMESPACES = frozenset({"default"})
RESERVED_PREFIXES = ("kube-", "fleet-")

_SCHEMES = ("git://", "https://", "ssh://")
_URL = re.compile(r"^[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+$")
_KIND_REF = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?/[A-Za-z][A-Za-z0-9]{0,62}$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


@dataclass(frozen=True, slots=True)
class TeamRepo:
    url: str
    branch: str = "main"
    path: str = ""  # sub-directory of the team repo to read ("" = the root)


@dataclass(frozen=True, slots=True)
class TeamLimits:
    objects_per_cluster: int | None = None
    bundle_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    repo: TeamRepo
    origin: Origin
    namespaces: tuple[str, ...] = ()
    cluster_selector: LabelSelector | None = None  # None: every cluster
    kinds: tuple[str, ...] = ()  # "group/Kind"; () = every namespaced kind
    cluster_scoped_kinds: tuple[str, ...] = ()
    limits: TeamLimits = field(default_factory=TeamLimits)

    @property
    def prefix(self) -> str:
        """What the names of the team's cluster-scoped fleet objects start with."""
        return f"{self.name}-"

    def selects(self, labels: Mapping[str, str]) -> bool:
        """Whether the team may place onto a cluster with these labels."""
        return self.cluster_selector is None or self.cluster_selector.matches(labels)


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a team repo's URL (None: it can)."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if not _URL.match(url):
        return "contains characters a repository URL does not (spaces, quotes, control characters)"
    if url.startswith("/"):
        return None if "/../" not in url + "/" else "must not contain '..'"
    if not url.startswith(_SCHEMES):
        return "must start with git://, https:// or ssh://, or be an absolute local path"
    authority = url.split("://", 1)[1].split("/", 1)[0]
    user = authority.rpartition("@")[0]
    if ":" in user or (user and not url.startswith("ssh://")) or "?" in url or "#" in url:
        # a user name on https may be a token (GitHub takes https://TOKEN@host), a query may
        # hold one (?private_token=): the Team file is read by every reader of the platform repo
        return (
            "must not hold credentials (a password, a user name other than ssh's login, a query): "
            "give the hub credentials with FLEETSYNC_GIT_* (docs/operations.md)"
        )
    if not authority.rpartition("@")[2]:
        return "names no host"
    return None


def check_path(path: str) -> str | None:
    if len(path) > MAX_PATH:
        return f"must be at most {MAX_PATH} characters"
    parts = path.strip("/").split("/") if path.strip("/") else []
    if path.startswith("/") or any(not _PATH_PART.match(p) or p in (".", "..") for p in parts):
        return "must be a relative path of plain names (letters, digits, '.', '_', '-'; no '..')"
    return None


def reserved(namespace: str) -> bool:
    return namespace in RESERVED_NAMESPACES or namespace.startswith(RESERVED_PREFIXES)


def parse_team(doc: Document, findings: Findings) -> Team | None:
    """A Team document → its model; None when it has errors (each a located finding)."""
    data = doc.data
    start = len(findings.items)
    meta = data.get("metadata") if isinstance(data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    label = f"{TEAM_KIND}/{name}" if isinstance(name, str) else TEAM_KIND
    ctx = Context(doc, findings, label)
    f = Fields(ctx, (), data)
    f.ignore("apiVersion", "kind")
    m = f.map("metadata", required=True)
    if m is not None:
        m.str("name", required=True)
        m.ignore("labels", "annotations")
        m.done()
    if isinstance(name, str) and (why := check_dns_label(name)):
        ctx.error(("metadata", "name"), f"invalid team name {name!r}: {why}")
    spec = f.map("spec", required=True)
    f.done()
    team = _spec(spec, name if isinstance(name, str) else "", Origin(doc.file, doc.line)) if spec else None
    if any(x.severity == "error" for x in findings.items[start:]):
        return None
    return team


def _spec(spec: Fields, name: str, origin: Origin) -> Team:
    repo = _repo(spec.map("repo", required=True))
    namespaces = spec.str_list("namespaces", max_items=MAX_NAMESPACES)
    for i, ns in enumerate(namespaces):
        why = check_dns_label(ns)
        if why:
            spec.ctx.error((*spec.at("namespaces"), i), f"invalid namespace {ns!r}: {why}")
        elif reserved(ns):
            spec.ctx.error(
                (*spec.at("namespaces"), i),
                f"namespace {ns!r} cannot be owned by a team: 'default', 'kube-*' and 'fleet-*' are reserved",
            )
        if ns in namespaces[:i]:
            spec.ctx.error((*spec.at("namespaces"), i), f"namespace {ns!r} is listed twice")
    sf = spec.map("clusterSelector")
    selector = parse_label_selector(sf) if sf is not None else None
    kinds = _kinds(spec, "kinds")
    cluster_kinds = _kinds(spec, "clusterScopedKinds")
    lf = spec.map("limits")
    limits = TeamLimits()
    if lf is not None:
        limits = TeamLimits(
            lf.int("objectsPerCluster", minimum=1, maximum=1_000_000),
            lf.int("bundleBytes", minimum=1, maximum=1 << 34),
        )
        lf.done()
    spec.done()
    return Team(
        name,
        repo or TeamRepo(""),
        origin,
        tuple(namespaces),
        selector,
        kinds,
        cluster_kinds,
        limits,
    )


def _repo(rf: Fields | None) -> TeamRepo | None:
    if rf is None:
        return None
    url = rf.str("url", required=True) or ""
    branch = rf.str("branch", "main") or "main"
    path = rf.str("path", "") or ""
    rf.done()
    if url and (why := check_url(url)):
        rf.error("url", f"invalid repository URL: {why}")
    try:
        check_branch(branch)
    except UserError:
        rf.error(
            "branch", f"invalid branch {branch[:80]!r}: a ref name of letters, digits, '.', '_', '-' and '/'"
        )
    if path and (why := check_path(path)):
        rf.error("path", f"invalid path {path[:80]!r}: {why}")
    return TeamRepo(url, branch, path.strip("/"))


def _kinds(spec: Fields, key: str) -> tuple[str, ...]:
    kinds = spec.str_list(key, max_items=MAX_KINDS)
    for i, k in enumerate(kinds):
        if not _KIND_REF.match(k):
            spec.ctx.error(
                (*spec.at(key), i),
                f"{k!r} is not a kind: write 'group/Kind' ('apps/Deployment', '/ConfigMap')",
            )
    return tuple(kinds)


def check_teams(teams: Mapping[str, Team]) -> list[Finding]:
    """Platform-level checks across teams (each holds the commit): a namespace owned by two
    teams, more than ``MAX_TEAMS`` teams."""
    owner: dict[str, Team] = {}
    out: list[Finding] = []
    if len(teams) > MAX_TEAMS:
        last = teams[sorted(teams)[-1]]
        why = f"{len(teams)} teams: at most {MAX_TEAMS} team repos (each is fetched on every pass)"
        out.append(
            Finding(
                last.origin.file, last.origin.line, 1, "", why, f"{TEAM_KIND}/{last.name}", scope=SCOPE_REPO
            )
        )
    for name in sorted(teams):
        team = teams[name]
        for ns in team.namespaces:
            first = owner.setdefault(ns, team)
            if first is not team:
                out.append(
                    Finding(
                        team.origin.file,
                        team.origin.line,
                        1,
                        "spec.namespaces",
                        f"namespace {ns!r} is owned by team {first.name!r} ({first.origin}) too: "
                        "two teams never share a namespace",
                        f"{TEAM_KIND}/{name}",
                        scope=SCOPE_REPO,
                    )
                )
    return out
