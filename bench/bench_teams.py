"""The hub's reconcile cost with T team repos against one repo holding the same objects.

Fleet: N MemberClusters (every one with a fresh heartbeat ref) and T teams; each team has a
Namespace, a ClusterResourcePlacement ``team-<i>-app`` (PickAll, ``maxUnavailable: 100%``)
selecting it, and DEPLOYMENTS Deployments and CONFIGMAPS ConfigMaps in it. Two sides hold the
same objects:

- *one repo* (the anchor): clusters and every team's objects in the fleet repo;
- *team repos*: a platform repo (clusters and one ``teams/<team>.yaml`` per team) and one repo
  per team served by a loopback ``git daemon`` (tests/support/gitdaemon.py), fetched by the hub
  over the git protocol as in production.

Each side runs in a process of its own (``--side``), as a hub does: a long-running hub
(``HubSession``) doing the full first pass, a no-op pass (nothing moved; the median of three)
and a pass after one team changes one ConfigMap (a commit to the fleet repo, or a push to that
team's repo). The parent prints every figure, the ratio team repos / one repo per pass, and how
both grow at 5/20/50 teams. ``--profile full|noop|change`` prints a cProfile of that pass of the
team side. The shipped policies are off (``policies: []``) on both sides: the gate costs the
same per object on either, and the figure is the teams' overhead.
Usage: python -m bench.bench_teams [--teams 5,20,50] [--clusters 20] [--profile noop]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_reconcile import beat_all, member
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.session import HubSession
from tests.support.gitdaemon import GitDaemon, git

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
DEPLOYMENTS = 3
CONFIGMAPS = 3
SETTINGS = "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n"
NOOP_RUNS = 3


def team_name(i: int) -> str:
    return f"team-{i}"


def team_objects(team: str, version: str = "1") -> dict[str, str]:
    """One team's files: its Namespace, Deployments and ConfigMaps, and its placement."""
    files = {"namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {team}\n"}
    for d in range(DEPLOYMENTS):
        files[f"apps/deploy-{d}.yaml"] = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{d}, namespace: {team}}}\n"
            f"spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: app-{d}}}}}\n  template:\n"
            f"    metadata: {{labels: {{app: app-{d}}}}}\n    spec:\n      containers:\n"
            f"        - {{name: app, image: 'registry.example.com/{team}/app-{d}:1.0'}}\n"
        )
    for c in range(CONFIGMAPS):
        value = version if c == 0 else "1"
        files[f"apps/config-{c}.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config-{c}, namespace: {team}}}\n"
            f'data: {{VERSION: "{value}"}}\n'
        )
    files["placements/app.yaml"] = (
        "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\n"
        f"metadata: {{name: {team}-app}}\nspec:\n  resourceSelectors:\n"
        f'    - {{group: "", version: v1, kind: Namespace, name: {team}}}\n'
        "  policy: {placementType: PickAll}\n"
        "  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 100%, maxSurge: 100%}}\n"
    )
    return files


def team_entry(team: str, url: str) -> str:
    return (
        f"apiVersion: fleetsync.io/v1alpha1\nkind: Team\nmetadata: {{name: {team}}}\n"
        f"spec:\n  repo: {{url: '{url}', branch: main}}\n  namespaces: [{team}]\n"
    )


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        p = repo / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def new_repo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "-q", "-b", "main", str(path))
    return path


def platform_files(clusters: int) -> dict[str, str]:
    files = {f"clusters/member-{i}.yaml": member(i) for i in range(clusters)}
    files["fleetsync.yaml"] = SETTINGS
    return files


def build(root: Path, teams: int, clusters: int, daemon: GitDaemon) -> dict[str, str]:
    """Both sides under ``root``; the paths a side process needs."""
    one = new_repo(root / "one")
    files = platform_files(clusters)
    for i in range(teams):
        files.update({f"{team_name(i)}/{k}": v for k, v in team_objects(team_name(i)).items()})
    commit(one, files, "one repo")
    beat_all(one, clusters, NOW)
    platform = new_repo(root / "platform")
    files = platform_files(clusters)
    for i in range(teams):
        team = team_name(i)
        daemon.create(f"{team}.git")
        work = new_repo(root / "work" / team)
        commit(work, team_objects(team), "app")
        git(work, "push", "-q", daemon.url(f"{team}.git"), "main")
        files[f"teams/{team}.yaml"] = team_entry(team, daemon.url(f"{team}.git"))
    commit(platform, files, "platform")
    beat_all(platform, clusters, NOW)
    return {"one": str(one), "teams": str(platform), "team0": str(root / "work" / team_name(0))}


# -- one side, in its own process ------------------------------------------------------------------
def side(args: argparse.Namespace) -> None:
    paths = json.loads(args.paths)
    repo_path = Path(paths[args.side])
    session = HubSession()
    prof = cProfile.Profile()
    out: dict[str, float] = {}

    def run(label: str, expect_writes: bool) -> float:
        with HubRepo.local(repo_path) as repo:
            if label == args.profile:
                prof.enable()
            start = time.perf_counter()
            result = reconcile_once(repo, NOW, session=session)
            took = time.perf_counter() - start
            if label == args.profile:
                prof.disable()
        if not result.loaded or bool(result.written) != expect_writes:
            raise SystemExit(f"{args.side} {label}: unexpected result {result}")
        return took

    out["full"] = run("full", True)
    run("warmup", False)
    out["noop"] = statistics.median(run("noop", False) for _ in range(NOOP_RUNS))
    changed = {"apps/config-0.yaml": team_objects(team_name(0), "2")["apps/config-0.yaml"]}
    if args.side == "one":
        commit(repo_path, {f"{team_name(0)}/{k}": v for k, v in changed.items()}, "team-0 change")
    else:
        work = Path(paths["team0"])
        commit(work, changed, "team-0 change")
        git(work, "push", "-q", args.team0_url, "main")
    out["change"] = run("change", True)
    print(json.dumps(out))
    if args.profile:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(35)


def measure_side(name: str, paths: dict[str, str], url: str, profile: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.bench_teams", "--side", name, "--paths", json.dumps(paths)]
    cmd += ["--team0-url", url, "--profile", profile if name == "teams" else ""]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"side {name} failed:\n{done.stderr[-3000:]}")
    if profile and name == "teams":
        print(done.stderr, file=sys.stderr)
    got: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--teams", default="5,20,50")
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument(
        "--profile", default="", help="cProfile one pass of the team side: full, noop, change"
    )
    parser.add_argument("--side", default="", help=argparse.SUPPRESS)
    parser.add_argument("--paths", default="", help=argparse.SUPPRESS)
    parser.add_argument("--team0-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args)
        return
    per_team = 2 + DEPLOYMENTS + CONFIGMAPS
    print(
        f"{args.clusters} clusters; each team: {per_team} objects (Namespace, placement, "
        f"{DEPLOYMENTS} Deployments, {CONFIGMAPS} ConfigMaps) on every cluster; seconds per pass, "
        "each side a long-running hub in its own process"
    )
    passes = ("full", "noop", "change")
    print(
        f"{'teams':>5} " + " ".join(f"{'one ' + p:>11} {'teams ' + p:>13} {'ratio':>6}" for p in passes),
        flush=True,
    )
    for t in (int(s) for s in args.teams.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-teams-") as tmp:
            served = Path(tmp) / "served"
            served.mkdir()
            with GitDaemon(served) as daemon:
                paths = build(Path(tmp), t, args.clusters, daemon)
                url = daemon.url(f"{team_name(0)}.git")
                one = measure_side("one", paths, url, "")
                teams = measure_side("teams", paths, url, args.profile)
        print(
            f"{t:>5} "
            + " ".join(f"{one[p]:>11.3f} {teams[p]:>13.3f} {teams[p] / one[p]:>5.1f}x" for p in passes),
            flush=True,
        )
    print("ratio: the hub's pass with team repos / the same objects in one repo (measured in the same run)")


if __name__ == "__main__":
    main()
