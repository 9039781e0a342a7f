"""The Team file of a platform repo (``teams/NAME.yaml``): parsed, checked and written without git.

A team is onboarded by a pull request to the platform repo, so the file is the interface: the
hub reads it (reconciler/teams/), ``fleetsync team add|list|remove`` writes and reads it, and a
reviewer reads the diff. This module is the CLI's side of that format, pure (bytes and frozen
values in, bytes and frozen values out) so that every rule a person can break at the keyboard is
refused before a file exists: a name that is not a DNS label, a repo URL of another scheme or
with a password or token in it (the file is committed, a credential in it would be public to
every reader of the platform repo), a namespace another team already owns or one of the
cluster's own (kube-system, kube-public, default), a cluster selector that does not parse (read
kubectl-style, written as a LabelSelector: fleetsync/labelselector.py). Every input is bounded
(file size, list lengths, URL length). docs/teams.md describes the format and the rules the hub
adds at render time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from fleetsync.labelselector import check_selector
from fleetsync_contract.canonical import dump, load
from fleetsync_contract.gitauth import mask_url_credentials
from reconciler.api.fields import check_dns_label
from reconciler.errors import UserError
from reconciler.gitstore.refs import check_branch

API_VERSION = "fleetsync.io/v1alpha1"
KIND = "Team"
TEAMS_DIR = "teams"
RESERVED_NAMESPACES = frozenset({"kube-system", "kube-public", "default"})
SCHEMES = ("git", "https", "ssh")

MAX_FILE_BYTES = 64 * 1024  # one team file
MAX_TEAMS = 1_000  # team files one platform repo may hold
MAX_URL = 2_048
MAX_LIST = 256  # namespaces or kinds of one team
MAX_PATH = 1_024

_KIND = re.compile(r"^(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Z][A-Za-z0-9]{0,62}$")


class TeamFileError(UserError):
    """A team entry that is not valid: the message names the field (or flag) and what is valid."""


@dataclass(frozen=True, slots=True)
class TeamRepo:
    url: str
    branch: str = "main"
    path: str = ""


@dataclass(frozen=True, slots=True)
class Team:
    """One ``teams/NAME.yaml``; ``cluster_selector`` None means every cluster."""

    name: str
    repo: TeamRepo
    namespaces: tuple[str, ...]
    cluster_selector: Mapping[str, Any] | None = None
    kinds: tuple[str, ...] = ()
    cluster_scoped_kinds: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        repo: dict[str, Any] = {"url": self.repo.url, "branch": self.repo.branch}
        if self.repo.path:
            repo["path"] = self.repo.path
        spec: dict[str, Any] = {
            "repo": repo,
            "namespaces": list(self.namespaces),
            "kinds": list(self.kinds),
            "clusterScopedKinds": list(self.cluster_scoped_kinds),
        }
        if self.cluster_selector is not None:
            spec["clusterSelector"] = dict(self.cluster_selector)
        if self.limits:
            spec["limits"] = dict(self.limits)
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": self.name}, "spec": spec}

    def to_yaml(self) -> bytes:
        return dump(self.document())


# -- single values -------------------------------------------------------------------------------
def check_name(name: str) -> str:
    why = check_dns_label(name)
    if why:
        raise TeamFileError(f"team name {name!r} {why}")
    return name


def check_url(url: str) -> str:
    """``url`` if it is a git://, https:// or ssh:// URL or an absolute path, with no credentials."""
    if len(url) > MAX_URL or not url or any(c.isspace() or ord(c) < 32 for c in url):
        raise TeamFileError(
            f"repo URL must be 1 to {MAX_URL} characters without spaces or control characters"
        )
    if url.startswith("/"):
        if "\\" in url or ".." in PurePosixPath(url).parts:
            raise TeamFileError(f"repo path {url!r} must be absolute and normalised (no '..')")
        return url
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise TeamFileError(
            f"repo URL {mask_url_credentials(url)!r}: use git://HOST/PATH, https://HOST/PATH, "
            "ssh://[USER@]HOST/PATH or an absolute local path"
        )
    _refuse_credentials(url, parts.scheme, parts.username, parts.password)
    if parts.query or parts.fragment:
        raise TeamFileError(f"repo URL {mask_url_credentials(url)!r} must have no query or fragment")
    return url


def _refuse_credentials(url: str, scheme: str, user: str | None, password: str | None) -> None:
    # an ssh:// login name is not a secret; anything else in the userinfo may be a token
    # (https://TOKEN@github.com/... works with GitHub), and the file is read by everyone
    if password is not None or (user is not None and scheme != "ssh"):
        raise TeamFileError(
            f"repo URL {mask_url_credentials(url)!r} carries credentials: the team file is public to "
            "every reader of the platform repo; give the hub the team repo's credentials as a Secret "
            "(docs/operations.md, 'Git credentials') and write the URL without them"
        )


def check_path(path: str) -> str:
    if not path:
        return path
    parts = PurePosixPath(path).parts
    if (
        len(path) > MAX_PATH
        or path.startswith(("/", "-"))
        or "\\" in path
        or "\0" in path
        or any(p in ("..", ".git") for p in parts)
    ):
        raise TeamFileError(f"repo path {path!r} must be a relative directory inside the team repo")
    return path.rstrip("/")


def check_namespaces(namespaces: Sequence[str]) -> tuple[str, ...]:
    if not namespaces:
        raise TeamFileError("a team owns at least one namespace (--namespaces a,b)")
    if len(namespaces) > MAX_LIST:
        raise TeamFileError(f"a team owns at most {MAX_LIST} namespaces")
    for ns in namespaces:
        why = check_dns_label(ns)
        if why:
            raise TeamFileError(f"namespace {ns!r} {why}")
        if ns in RESERVED_NAMESPACES:
            raise TeamFileError(
                f"namespace {ns!r} belongs to the cluster, not to a team "
                f"(never {', '.join(sorted(RESERVED_NAMESPACES))})"
            )
    if len(set(namespaces)) != len(namespaces):
        raise TeamFileError("a namespace is listed twice")
    return tuple(namespaces)


def check_kinds(kinds: Sequence[str], flag: str) -> tuple[str, ...]:
    if len(kinds) > MAX_LIST:
        raise TeamFileError(f"{flag}: at most {MAX_LIST} kinds")
    for kind in kinds:
        if not _KIND.match(kind):
            raise TeamFileError(
                f"{flag}: {kind!r} is not group/Kind (apps/Deployment, or Kind alone for the core group)"
            )
    return tuple(dict.fromkeys(kinds))


def check_limits(limits: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TeamFileError(f"limits.{key} must be a positive integer")
        out[key] = value
    return out


def split_list(text: str) -> list[str]:
    """``a,b, c`` → [a, b, c] (a flag's comma-separated list; empty items dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


# -- documents -----------------------------------------------------------------------------------
def _str_list(spec: Mapping[str, Any], key: str) -> list[str]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TeamFileError(f"spec.{key} must be a list of strings")
    return value


def _mapping(value: Any, where: str, fields: frozenset[str] | None = None) -> Mapping[str, Any]:
    """``value`` as a mapping; with ``fields``, one that has no other keys (a typo such as
    ``namespace:`` for ``namespaces:`` would otherwise be a boundary silently left out)."""
    if not isinstance(value, Mapping):
        raise TeamFileError(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in value if fields is not None and k not in fields)
    if unknown:
        raise TeamFileError(
            f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(fields or ()))})"
        )
    return value


SPEC_FIELDS = frozenset({"repo", "namespaces", "clusterSelector", "kinds", "clusterScopedKinds", "limits"})
REPO_FIELDS = frozenset({"url", "branch", "path"})
LIMIT_FIELDS = frozenset({"objectsPerCluster", "bundleBytes"})


def parse_team(doc: Any) -> Team:
    """A Team document (already loaded) → Team; TeamFileError naming the field if invalid."""
    doc = _mapping(doc, "a team file", frozenset({"apiVersion", "kind", "metadata", "spec"}))
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise TeamFileError(f"apiVersion/kind must be {API_VERSION}/{KIND}")
    name = check_name(str(_mapping(doc.get("metadata"), "metadata").get("name", "")))
    spec = _mapping(doc.get("spec"), "spec", SPEC_FIELDS)
    repo = _mapping(spec.get("repo"), "spec.repo", REPO_FIELDS)
    selector = spec.get("clusterSelector")
    return Team(
        name=name,
        repo=TeamRepo(
            url=check_url(str(repo.get("url", ""))),
            branch=check_branch(str(repo.get("branch") or "main")),
            path=check_path(str(repo.get("path") or "")),
        ),
        namespaces=check_namespaces(_str_list(spec, "namespaces")),
        cluster_selector=None if selector is None else check_selector(selector),
        kinds=check_kinds(_str_list(spec, "kinds"), "spec.kinds"),
        cluster_scoped_kinds=check_kinds(_str_list(spec, "clusterScopedKinds"), "spec.clusterScopedKinds"),
        limits=check_limits(dict(_mapping(spec.get("limits") or {}, "spec.limits", LIMIT_FIELDS))),
    )


def team_path(checkout: Path, name: str) -> Path:
    return checkout / TEAMS_DIR / f"{check_name(name)}.yaml"


def read_team(path: Path) -> Team:
    """The team in ``path``; TeamFileError (naming the file) if it is unreadable or invalid."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TeamFileError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
        team = parse_team(load(path.read_bytes()))
    except OSError as e:
        raise TeamFileError(f"{TEAMS_DIR}/{path.name}: cannot be read ({e.strerror})") from e
    except ValueError as e:  # a YAML error; TeamFileError is a UserError, not a ValueError
        raise TeamFileError(f"{TEAMS_DIR}/{path.name}: not one YAML document") from e
    except UserError as e:  # TeamFileError, or a branch git would not take
        raise TeamFileError(f"{TEAMS_DIR}/{path.name}: {e}") from e
    if f"{team.name}.yaml" != path.name:
        raise TeamFileError(
            f"{TEAMS_DIR}/{path.name}: metadata.name is {team.name!r}; the file must be {team.name}.yaml"
        )
    return team


def team_files(checkout: Path) -> list[Path]:
    folder = checkout / TEAMS_DIR
    files = sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []
    if len(files) > MAX_TEAMS:
        raise TeamFileError(f"{TEAMS_DIR}/ holds more than {MAX_TEAMS} team files")
    return files


def read_teams(checkout: Path) -> tuple[list[Team], list[str]]:
    """Every team of the checkout, and one error line per team file that does not parse."""
    teams: list[Team] = []
    errors: list[str] = []
    for path in team_files(checkout):
        try:
            teams.append(read_team(path))
        except TeamFileError as e:
            errors.append(str(e))
    return teams, errors


def owners(teams: Sequence[Team]) -> dict[str, str]:
    """namespace → the team that owns it."""
    return {ns: t.name for t in teams for ns in t.namespaces}
