"""``fleetsync demo --teams``: the demo's fleet repo becomes a platform repo with two team repos.

The chapter shows what docs/teams.md promises, with nothing faked: two team repos are bare
repositories served by a loopback ``git daemon`` (reconciler/gitstore/daemon.py), so the hub
fetches them over the network protocol as it fetches real ones; each team is onboarded by running
``fleetsync team add`` in the platform repo's work tree and committing what it wrote, as a merged
pull request would; the hub and the simulated members run the same loop as the rest of the demo.
Then team B pushes a commit that does not parse while team A ships a change: A's change reaches
its clusters, B's objects stay there at B's last good commit and B's status record says why;
B's fix rolls out. Every step is checked on the members' API servers (a real context mapped with
``--map`` is not read), and what was seen is returned as ``TeamsShown`` for the tests.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import typer

from fleetsync.cli.team import add_command
from fleetsync.demo.fleet import DEMO_IDENTITY, LocalFleet
from fleetsync.demo.view import Output
from reconciler.errors import FleetsyncError
from reconciler.gitstore.daemon import LoopbackDaemon
from reconciler.gitstore.worktree import WorkTree, WorkTreeError, init_bare
from reconciler.status.memory import TeamRecord

TEAM_A, TEAM_B = "team-a", "team-b"
# team-a may use every cluster; team-b only the production ones (a ClusterSet-like selector)
SELECTORS: Mapping[str, str | None] = {TEAM_A: None, TEAM_B: "environment=production"}
CONFIG = "app-config"  # the ConfigMap whose VERSION each step changes
BROKEN = "version: [unclosed\n"  # what team B pushes: not YAML
MAX_ROUNDS = 6


class TeamStepFailed(FleetsyncError):
    """A step of the teams chapter did not reach its goal; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class TeamsStep:
    """What the members ran after one step: team -> cluster -> the team's VERSION there."""

    name: str
    versions: Mapping[str, Mapping[str, str]]
    records: Mapping[str, TeamRecord] = field(default_factory=dict)


@dataclass
class TeamsShown:
    clusters: dict[str, list[str]] = field(default_factory=dict)  # team -> clusters it reached
    urls: dict[str, str] = field(default_factory=dict)  # team -> its repo's git:// URL
    steps: list[TeamsStep] = field(default_factory=list)


def team_files(team: str, version: str) -> dict[str, str]:
    """A team repo: its namespace, a ConfigMap and a Deployment in it, a placement named <team>-app."""
    namespace = f"""apiVersion: v1
kind: Namespace
metadata:
  name: {team}
  labels: {{owner: {team}}}
"""
    config = f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {CONFIG}
  namespace: {team}
data:
  VERSION: "{version}"
"""
    deployment = f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {team}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginxinc/nginx-unprivileged:1.27.3
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
            limits: {{cpu: 200m, memory: 128Mi}}
"""
    placement = f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: {team}-app
spec:
  resourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: {team}}}
  policy:
    placementType: PickAll
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxUnavailable: 100%, maxSurge: 100%}}
"""
    return {
        "namespace.yaml": namespace,
        "app/config.yaml": config,
        "app/deployment.yaml": deployment,
        "placements/app.yaml": placement,
    }


class TeamRepos:
    """The team repos: a work tree each (``teams/<team>``), pushed to a bare repository under
    ``served/`` that the loopback daemon exports read-only."""

    def __init__(self, root: Path):
        self.root = root
        self.daemon = LoopbackDaemon(root / "served")
        self._work: dict[str, WorkTree] = {}

    def start(self, teams: Sequence[str]) -> None:
        (self.root / "served").mkdir(parents=True, exist_ok=True)
        for team in teams:
            init_bare(self.root / "served" / f"{team}.git")
            path = self.root / "teams" / team
            path.mkdir(parents=True)
            self._work[team] = WorkTree.init(path, DEMO_IDENTITY)
        self.daemon.start()

    def url(self, team: str) -> str:
        return self.daemon.url(f"{team}.git")

    def push(self, team: str, files: Mapping[str, str | None], message: str) -> str:
        """Commit ``files`` (None deletes) on the team's main and push it; the new commit."""
        work = self._work[team]
        changes = {rel: None if text is None else text.encode() for rel, text in files.items()}
        try:
            commit = work.commit(changes, f"{message}\n".encode(), everything=True)
            work.push(self.root / "served" / f"{team}.git", "main")
        except WorkTreeError as e:
            raise TeamStepFailed(f"team {team}: {e}") from e
        return commit

    def close(self) -> None:
        self.daemon.stop()


def team_add(checkout: Path, team: str, url: str, selector: str | None) -> str:
    """Run ``fleetsync team add`` in ``checkout``; the file it wrote (relative) and its text."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            add_command(
                team,
                repo=url,
                namespaces=team,
                branch="main",
                path="",
                clusters=selector,
                kinds="",
                cluster_scoped_kinds="",
                objects_per_cluster=None,
                bundle_bytes=None,
                force=False,
                directory=checkout,
            )
    except typer.Exit as e:  # fail() printed why on stderr
        raise TeamStepFailed(f"fleetsync team add {team} refused: {err.getvalue().strip()}") from e
    return (checkout / "teams" / f"{team}.yaml").read_text()


class TeamsChapter:
    """The steps of the chapter, on a running demo fleet (``hub`` and ``agents`` are the story's)."""

    def __init__(
        self,
        fleet: LocalFleet,
        out: Output,
        hub: Callable[[], object],
        agents: Callable[[], object],
    ):
        self.fleet = fleet
        self.out = out
        self.hub = hub
        self.agents = agents
        self.repos = TeamRepos(fleet.root / "team-repos")
        self.shown = TeamsShown()

    def run(self) -> TeamsShown:
        try:
            self._onboard()
            self._broken()
            self._fixed()
        finally:
            self.repos.close()
        return self.shown

    def _onboard(self) -> None:
        self.repos.start(list(SELECTORS))
        for team in SELECTORS:
            commit = self.repos.push(team, team_files(team, "1.0"), f"{team}: first version of the app")
            self.shown.urls[team] = self.repos.url(team)
            self.out.line(f"{team}: repo {self.repos.url(team)} at {commit[:12]} (VERSION 1.0)")
        assert self.fleet.repo is not None
        for team, selector in SELECTORS.items():
            text = team_add(self.fleet.repo.work, team, self.repos.url(team), selector)
            commit = self.fleet.repo.commit({f"teams/{team}.yaml": text}, f"Onboard team {team}")
            where = f"--clusters '{selector}'" if selector else "every cluster"
            self.out.line(
                f"platform: `fleetsync team add {team} --namespaces {team}` ({where}) "
                f"committed as {commit[:12]}"
            )
        want = {TEAM_A: "1.0", TEAM_B: "1.0"}
        step = self._until("onboarded", lambda v: _everywhere(v, want))
        self.shown.clusters = {t: sorted(step.versions.get(t, {})) for t in SELECTORS}
        for team in SELECTORS:
            self.out.line(f"{team}: {CONFIG} VERSION 1.0 on {', '.join(self.shown.clusters[team]) or 'none'}")
        if not all(self.shown.clusters.values()):
            raise TeamStepFailed("a team's app reached no cluster")

    def _broken(self) -> None:
        bad = self.repos.push(TEAM_B, {**team_files(TEAM_B, "2.0"), "app/config.yaml": BROKEN}, "oops")
        self.out.line(f"{TEAM_B}: pushes {bad[:12]}, whose app/config.yaml is not YAML")
        self.repos.push(TEAM_A, team_files(TEAM_A, "2.0"), f"{TEAM_A}: version 2.0")
        self.out.line(f"{TEAM_A}: pushes VERSION 2.0")
        want = {TEAM_A: "2.0", TEAM_B: "1.0"}
        step = self._until("team-b broken", lambda v: _everywhere(v, want, self.shown.clusters))
        self.out.line(
            f"{TEAM_A}: VERSION 2.0 on {', '.join(self.shown.clusters[TEAM_A])}: not held back by {TEAM_B}"
        )
        self.out.line(
            f"{TEAM_B}: still VERSION 1.0 on {', '.join(self.shown.clusters[TEAM_B])} (its last good commit)"
        )
        record = step.records.get(TEAM_B)
        errors = [f for f in record.last_load.findings if f.severity == "error"] if record else []
        if record is None or record.last_load.commit != bad or not errors:
            seen = "no record" if record is None else f"last read {record.last_load.commit[:12]}"
            raise TeamStepFailed(f"fleet/status does not record {TEAM_B}'s broken commit {bad[:12]} ({seen})")
        kept = ", ".join(f"{i} at {c[:12]}" for i, c in sorted(record.kept.items())) or "nothing"
        self.out.line(f"fleet/status, team {TEAM_B}: read {bad[:12]}; kept at its last good commit: {kept}")
        for f in errors[:2]:
            self.out.line(f"  {f}")

    def _fixed(self) -> None:
        fixed = self.repos.push(TEAM_B, team_files(TEAM_B, "2.0"), f"{TEAM_B}: fix app/config.yaml")
        self.out.line(f"{TEAM_B}: pushes the fix {fixed[:12]} (VERSION 2.0)")
        want = {TEAM_A: "2.0", TEAM_B: "2.0"}
        step = self._until("team-b fixed", lambda v: _everywhere(v, want, self.shown.clusters))
        record = step.records.get(TEAM_B)
        if record is None or record.commit != fixed or record.kept:
            raise TeamStepFailed(f"fleet/status does not show {TEAM_B} rendering its fix {fixed[:12]}")
        self.out.line(
            f"{TEAM_B}: VERSION 2.0 on {', '.join(self.shown.clusters[TEAM_B])}; status: renders {fixed[:12]}"
        )

    def _until(self, name: str, done: Callable[[Mapping[str, Mapping[str, str]]], bool]) -> TeamsStep:
        """Hub, then agents, until ``done`` holds on the members (bounded rounds)."""
        versions: Mapping[str, Mapping[str, str]] = {}
        for _ in range(MAX_ROUNDS):
            self.hub()
            self.agents()
            versions = self._versions()
            if done(versions):
                self.hub()  # fold the reports in
                step = TeamsStep(name, versions, dict(self.fleet.inputs().memory.teams))
                self.shown.steps.append(step)
                return step
        raise TeamStepFailed(f"{name}: not reached after {MAX_ROUNDS} rounds; members run {_text(versions)}")

    def _versions(self) -> dict[str, dict[str, str]]:
        """team -> simulated cluster -> the VERSION of the team's ConfigMap there."""
        out: dict[str, dict[str, str]] = {}
        for cluster, member in sorted(self.fleet.members.items()):
            if member.sim is None:
                continue
            for team in SELECTORS:
                obj = member.sim.get_object("v1", "ConfigMap", team, CONFIG)
                if obj is not None:
                    out.setdefault(team, {})[cluster] = str((obj.get("data") or {}).get("VERSION", ""))
        return out


def _everywhere(
    versions: Mapping[str, Mapping[str, str]],
    want: Mapping[str, str],
    clusters: Mapping[str, Sequence[str]] | None = None,
) -> bool:
    """Every team runs its wanted version on every cluster it has (or on ``clusters[team]``)."""
    for team, version in want.items():
        have = versions.get(team, {})
        where = clusters[team] if clusters is not None else list(have)
        if not where or any(have.get(c) != version for c in where):
            return False
    return True


def _text(versions: Mapping[str, Mapping[str, str]]) -> str:
    return (
        "; ".join(
            f"{t}: " + ", ".join(f"{c}={v}" for c, v in sorted(cs.items()))
            for t, cs in sorted(versions.items())
        )
        or "nothing"
    )
