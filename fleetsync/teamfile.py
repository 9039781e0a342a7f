"""The Team file of a platform repo (``teams/NAME.yaml``), written by the CLI and checked by the hub.

A team is onboarded by a pull request to the platform repo, so the file is the interface: the
hub reads it, ``fleetsync team add|list|remove`` writes and reads it, and a reviewer reads the
diff. The format has one owner, the hub: reconciler/teams/model.py parses a Team and checks the
teams against each other, and this module never repeats a rule of it. It builds the document
from the command's flags and hands the platform repo's team files, with the new one among them,
to the hub's own loader (``load_directory`` on a scratch copy of ``teams/``), so ``team add``
refuses exactly what would make the hub hold the platform commit (a reserved or shared
namespace, credentials in the URL, a bad branch, path, kind or selector, a duplicate team), each
refusal a located finding, and ``team list`` shows the teams the hub would read. What is left
here is the CLI's own: the flag forms that are easier to type than the file's (a kubectl label
selector, fleetsync/labelselector.py; a core kind without its leading ``/``), the convention
that ``teams/NAME.yaml`` holds team NAME (so ``team remove NAME`` finds it), and the bound on
how many files are read (the hub's own limit on teams).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.api.fields import check_dns_label
from reconciler.errors import Finding, UserError
from reconciler.load.files import DEFAULT_LIMITS, YAML_SUFFIXES, read_file
from reconciler.load.fleet import load_directory
from reconciler.load.kustomize import KUSTOMIZATION_FILES
from reconciler.load.settings import Settings
from reconciler.teams.model import MAX_TEAMS, TEAM_GROUP, TEAM_KIND, TEAM_VERSION, Team

API_VERSION = f"{TEAM_GROUP}/{TEAM_VERSION}"
TEAMS_DIR = "teams"
MAX_SHOWN = 20  # findings in one refusal

_CORE_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")


class TeamFileError(UserError):
    """A team entry the hub would refuse: the message names the file, line and field (or flag)."""


# -- from flags ----------------------------------------------------------------------------------
def split_list(text: str) -> list[str]:
    """``a,b, c`` → [a, b, c] (a flag's comma-separated list; empty items dropped)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def kind_refs(text: str) -> list[str]:
    """A ``--kinds`` list as the file writes it: ``ConfigMap`` (a core kind, as kubectl names it)
    becomes ``/ConfigMap``; everything else is left for the hub to judge."""
    return list(dict.fromkeys(f"/{k}" if _CORE_KIND.match(k) else k for k in split_list(text)))


def flags_document(
    name: str,
    repo: Mapping[str, str],
    namespaces: Sequence[str],
    selector: Mapping[str, Any] | None = None,
    kinds: Sequence[str] = (),
    cluster_scoped_kinds: Sequence[str] = (),
    limits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The Team document of these values, unchecked (``check_new_team`` asks the hub)."""
    spec: dict[str, Any] = {
        "repo": {k: v for k, v in repo.items() if v or k != "path"},
        "namespaces": list(namespaces),
        "kinds": list(kinds),
        "clusterScopedKinds": list(cluster_scoped_kinds),
    }
    if selector is not None:
        spec["clusterSelector"] = dict(selector)
    if limits:
        spec["limits"] = dict(limits)
    return {"apiVersion": API_VERSION, "kind": TEAM_KIND, "metadata": {"name": name}, "spec": spec}


def document(team: Team) -> dict[str, Any]:
    """A Team the hub parsed, as its document (``team list -o yaml|json``)."""
    limits = {"objectsPerCluster": team.limits.objects_per_cluster, "bundleBytes": team.limits.bundle_bytes}
    return flags_document(
        team.name,
        {"url": team.repo.url, "branch": team.repo.branch, "path": team.repo.path},
        team.namespaces,
        team.cluster_selector.to_dict() if team.cluster_selector is not None else None,
        team.kinds,
        team.cluster_scoped_kinds,
        {k: v for k, v in limits.items() if v is not None},
    )


# -- through the hub's loader --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TeamLoad:
    """The team files of a checkout as the hub loads them: the teams, and every finding (the
    hub's, and the CLI's file-name convention) with its severity."""

    teams: tuple[Team, ...]
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")


def team_path(checkout: Path, name: str) -> Path:
    why = check_dns_label(name)
    if why:
        raise TeamFileError(f"team name {name!r} {why}")
    return checkout / TEAMS_DIR / f"{name}.yaml"


def team_files(checkout: Path) -> list[str]:
    """The team files of a checkout (``teams/*.yaml``), as repo paths; bounded by the hub's
    limit on teams."""
    folder = checkout / TEAMS_DIR
    if not folder.is_dir():
        return []
    names = sorted(
        p.name
        for p in folder.iterdir()
        if p.name.endswith(YAML_SUFFIXES) and not p.name.startswith(".") and p.is_file()
    )
    if len(names) > MAX_TEAMS:
        raise TeamFileError(f"{TEAMS_DIR}/ holds {len(names)} files: the hub reads at most {MAX_TEAMS} teams")
    return [f"{TEAMS_DIR}/{n}" for n in names if n not in KUSTOMIZATION_FILES]  # copied alone


def load_teams(checkout: Path, new: tuple[str, bytes] | None = None) -> TeamLoad:
    """The checkout's team files (``new`` = (repo path, bytes) added or replacing one) loaded
    by the hub's loader, as the hub would load them in the platform commit."""
    root = checkout.resolve()
    read: list[Finding] = []
    budget = [DEFAULT_LIMITS.max_total_bytes]
    with tempfile.TemporaryDirectory(prefix="fleetsync-teams-") as tmp:
        (Path(tmp) / TEAMS_DIR).mkdir()
        for rel in team_files(root):
            if new is not None and rel == new[0]:
                continue
            data, problem = read_file(root, rel, DEFAULT_LIMITS, budget)  # the hub's bounds
            if problem is not None:
                read.append(problem)
            elif data is not None:
                (Path(tmp) / rel).write_bytes(data)
        if new is not None:
            (Path(tmp) / new[0]).write_bytes(new[1])
        loaded = load_directory(Path(tmp), Settings())  # the platform's own settings do not matter here
    teams = tuple(loaded.spec.teams[n] for n in sorted(loaded.spec.teams))
    named = [
        Finding(
            t.origin.file,
            t.origin.line,
            1,
            "metadata.name",
            f"holds team {t.name!r}: the file must be {TEAMS_DIR}/{t.name}.yaml (fleetsync team finds it there)",
            f"{TEAM_KIND}/{t.name}",
        )
        for t in teams
        if t.origin.file != f"{TEAMS_DIR}/{t.name}.yaml"
    ]
    return TeamLoad(teams, (*read, *loaded.findings, *named))


def check_new_team(checkout: Path, doc: Mapping[str, Any]) -> tuple[Team, bytes]:
    """The Team ``doc`` would be, and its file's bytes, if the hub loads it with the checkout's
    other team files without an error; else TeamFileError listing every error (located)."""
    name = str(doc["metadata"]["name"])
    path = team_path(checkout, name)
    rel = f"{TEAMS_DIR}/{path.name}"
    data = dump(dict(doc))
    loaded = load_teams(checkout, (rel, data))
    errors = loaded.errors
    team = next((t for t in loaded.teams if t.name == name and t.origin.file == rel), None)
    if errors or team is None:
        shown = "".join(f"\n  {f}" for f in errors[:MAX_SHOWN])
        more = f"\n  ... and {len(errors) - MAX_SHOWN} more" if len(errors) > MAX_SHOWN else ""
        raise TeamFileError(f"{rel} refused: the hub would hold the platform commit with it{shown}{more}")
    return team, data


def read_team(path: Path) -> Team:
    """The team in a team file (``CHECKOUT/teams/NAME.yaml``), as the hub reads it;
    TeamFileError naming every error."""
    checkout = path.parent.parent
    rel = f"{TEAMS_DIR}/{path.name}"
    loaded = load_teams(checkout)
    errors = [f for f in loaded.errors if f.file == rel]
    team = next((t for t in loaded.teams if t.origin.file == rel), None)
    if errors or team is None:
        why = "; ".join(str(f) for f in errors[:MAX_SHOWN]) or f"{rel}: no Team in it"
        raise TeamFileError(why)
    return team
