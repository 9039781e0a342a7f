"""Hub reconciles of a staged update run (External placement) vs a RollingUpdate of the same fleet.

Fleet: N MemberClusters in three regions (``region: r0|r1|r2``), one PickAll placement of a
Namespace and ``--objects`` ConfigMaps, a ResourceOverride that writes each cluster's region into
one of them, the policy gate off (``policies: []``, as bench_reconcile.py's default) — a real
fleet repo in a temp dir, every member with a fresh heartbeat ref. The hub (reconciler/hub/loop.py)
runs against the local repository as ``fleetsync hub run`` does (one open repo, one ``HubSession``),
its clock 30 s on per pass. Between passes the bench plays the agents (tests/support/fleethelpers.py's
``FleetWork.report``/``beat``, batched): every cluster whose bundle branch moved reports
``Applied``/``Available`` for its new bundle, and every member beats once a minute (untimed).

- rolling: ``strategy: RollingUpdate``, ``maxUnavailable: 17%``; snapshot 0 is placed, then a
  commit changes every ConfigMap (snapshot 1) and the passes that move the fleet to it are timed;
- staged: ``strategy: {type: External}``; run v0 (one stage, everyone) rolls out snapshot 0;
  the content change (snapshot 1: nothing moves) and then run v1 — a ClusterStagedUpdateStrategy
  of three stages by region, ``maxConcurrency: 50%``, no approvals or waits — are committed,
  and v1's passes are timed until it is ``UpdateRunSucceeded``. 50% of a stage (a third of the
  fleet) is about the 17% the rolling update moves per pass, so the passes compare;
- rollback: run ``back`` with ``resourceSnapshotIndex: "0"`` is committed and its first
  reconcile, which reads snapshot 0 back from the commit that made it
  (reconciler/hub/snapshots.py) and moves the first batch back, is timed against v1's first
  reconcile (each the best of ``--repeat`` from the same refs; each commit adds only a run).

Prints, per fleet size: the median seconds of a pass that wrote refs and how many there were,
the ratio staged / rolling (the hub's cost of driving a staged run, per reconcile), both first
reconciles and the ratio rollback / forward, and how many clusters that first pass moved back.
Usage: python -m bench.bench_staged [--sizes 50,200,1000] [--objects 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import bench_reconcile
from fleetsync_contract import BUNDLE_REF_PREFIX, HEARTBEAT_REF_PREFIX, REPORT_REF_PREFIX
from fleetsync_contract.bundle import Bundle, parse_bundle
from fleetsync_contract.canonical import load
from fleetsync_contract.report import (
    HEARTBEAT_FILE,
    REPORT_FILE,
    ClusterReport,
    Condition,
    Health,
    Heartbeat,
    PlacementReport,
    dump_heartbeat,
    dump_report,
    format_time,
)
from reconciler.gitstore.objects import ObjectWriter
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.session import HubSession
from reconciler.status.runs import summary
from tests.support.gitdaemon import git

commit_files: Callable[[Path, dict[str, str], str], None] = bench_reconcile.commit_files

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)  # the clock between hub passes
BEAT = timedelta(seconds=60)  # every agent beats each heartbeatPeriodSeconds (the hub's timeout: 5 min)
KEY = "ClusterResourcePlacement/web"
MAX_PASSES = 60
HEALTH = Health(True, "", "2026-01-01T00:00:00Z")

PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: web}
  policy:
    placementType: PickAll
  strategy:
"""
# 17% of the fleet per pass: about what the staged run moves (50% of a stage, a third of the fleet)
ROLLING = "    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: 17%, maxSurge: 25%}\n"
EXTERNAL = "    type: External\n"
STRATEGY = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: by-region
spec:
  stages:
""" + "".join(
    f"    - name: region{r}\n      labelSelector: {{matchLabels: {{region: r{r}}}}}\n"
    f"      maxConcurrency: 50%\n"
    for r in range(3)
)
OVERRIDE = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata: {name: region, namespace: web}
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: ConfigMap, name: cm-00}
  policy:
    overrideRules:
      - clusterSelector: {clusterSelectorTerms: []}
        jsonPatchOverrides:
          - {op: add, path: /data/REGION, value: "${MEMBER-CLUSTER-LABEL-KEY-region}"}
"""
EVERYONE = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateStrategy
metadata:
  name: everyone
spec:
  stages:
    - {name: everyone, labelSelector: {}, maxConcurrency: 100%}
"""


def run_file(name: str, index: str | None = None, strategy: str = "by-region") -> str:
    pinned = f'  resourceSnapshotIndex: "{index}"\n' if index is not None else ""
    return (
        f"apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterStagedUpdateRun\n"
        f"metadata:\n  name: {name}\nspec:\n  placementName: web\n  stagedRolloutStrategyName: {strategy}\n"
        f"{pinned}  state: Run\n"
    )


def apps(objects: int, version: int) -> str:
    docs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"]
    docs += [
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02d}\n  namespace: web\n"
        f'data:\n  VERSION: "{version}"\n  INDEX: "{i}"\n'
        for i in range(objects)
    ]
    return "---\n".join(docs)


def member(i: int) -> str:
    return (
        f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n"
        f"  name: member-{i:04d}\n  labels: {{region: r{i % 3}}}\nspec: {{heartbeatPeriodSeconds: 60}}\n"
    )


def make_fleet(root: Path, n: int, objects: int, strategy: str) -> Path:
    repo = root / "fleet"
    git(root, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    files = {f"clusters/member-{i:04d}.yaml": member(i) for i in range(n)}
    files["apps/web.yaml"] = apps(objects, 0)
    files["apps/override.yaml"] = OVERRIDE
    files["placements/web.yaml"] = PLACEMENT + strategy
    files["fleetsync.yaml"] = "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n"
    commit_files(repo, files, "fleet")
    return repo


def _condition(kind: str, reason: str) -> Condition:
    return Condition(kind, "True", reason, "", "2026-01-01T00:00:00Z")


@dataclass
class Agents:
    """Every member's agent, as far as the hub can tell: a report for each new bundle, a heartbeat
    every ``BEAT`` (tests/support/fleethelpers.py ``FleetWork.report``/``beat``, batched into one pack and
    one ``update-ref`` transaction so a 1,000-cluster fleet costs the bench little)."""

    repo: Path
    clusters: list[str]
    reported: dict[str, str] = field(default_factory=dict)  # cluster -> bundle commit it reported on
    index: dict[str, int] = field(default_factory=dict)  # cluster -> resource index of KEY it holds
    last_beat: datetime | None = None

    def _bundles(self, heads: dict[str, str]) -> dict[str, Bundle]:
        names = sorted(heads)
        out = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.repo,
            capture_output=True,
            check=True,
            input="".join(f"{heads[c]}:bundle.yaml\n" for c in names).encode(),
        ).stdout
        bundles: dict[str, Bundle] = {}
        pos = 0
        for c in names:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            data = out[header_end + 1 : header_end + 1 + size]
            pos = header_end + 1 + size + 1
            bundles[c] = parse_bundle({"bundle.yaml": data})
        return bundles

    def act(self, now: datetime) -> int:
        """Report on every bundle that moved and beat everywhere; the number of reports."""
        prefix = f"refs/heads/{BUNDLE_REF_PREFIX}"
        refs = git(self.repo, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
        heads = {ref[len(prefix) :]: sha for ref, sha in (line.split() for line in refs.splitlines())}
        moved = {c: sha for c, sha in heads.items() if self.reported.get(c) != sha}
        writer = ObjectWriter(self.repo / ".git" / "objects")
        lines: list[str] = []
        with writer.batch():
            for c, bundle in self._bundles(moved).items():
                conds = (
                    _condition("Applied", "AllManifestsApplied"),
                    _condition("Available", "AllManifestsAvailable"),
                )
                placements = tuple(
                    PlacementReport(p.key, p.resource_index, bundle.bundle_id, conds, ())
                    for p in bundle.placements
                )
                for p in bundle.placements:
                    if p.key == KEY:
                        self.index[c] = p.resource_index
                rep = ClusterReport(
                    c, "0.1.0", format_time(now), bundle.bundle_id, health=HEALTH, placements=placements
                )
                tree = writer.write_tree({REPORT_FILE: dump_report(rep)})
                lines.append(
                    f"update refs/heads/{REPORT_REF_PREFIX}{c} {writer.write_commit(tree, [], c, now)}\n"
                )
                self.reported[c] = moved[c]
            beat_now = self.last_beat is None or now - self.last_beat >= BEAT
            self.last_beat = now if beat_now else self.last_beat
            for c in self.clusters if beat_now else ():
                beat = Heartbeat(c, format_time(now), "", HEALTH)
                tree = writer.write_tree({HEARTBEAT_FILE: dump_heartbeat(beat)})
                lines.append(f"update {HEARTBEAT_REF_PREFIX}{c} {writer.write_commit(tree, [], c, now)}\n")
        subprocess.run(
            ["git", "update-ref", "--stdin"], cwd=self.repo, input="".join(lines).encode(), check=True
        )
        return len(moved)


@dataclass
class Hub:
    """One open repository and one HubSession, as ``fleetsync hub run`` keeps them."""

    repo_path: Path
    agents: Agents
    now: datetime = NOW
    cache: HubSession = field(default_factory=HubSession)

    def __post_init__(self) -> None:
        self.repo = HubRepo.local(self.repo_path)

    def drive(self, label: str, passes: list[float] | None = None) -> list[float]:
        """Reconcile, let the agents answer, again, until a pass writes nothing and nobody reports;
        the seconds of every pass that wrote refs (after ``passes``, the ones already timed)."""
        out = list(passes or [])
        for _ in range(MAX_PASSES):
            self.now += STEP
            start = time.perf_counter()
            result = reconcile_once(self.repo, self.now, session=self.cache)
            took = time.perf_counter() - start
            if not result.loaded:
                raise SystemExit(f"{label}: the fleet commit does not load: {result.findings}")
            if result.written:
                out.append(took)
            if self.agents.act(self.now) == 0 and not result.written:
                return out
        raise SystemExit(f"{label}: still moving after {MAX_PASSES} passes")

    def first_pass(self, files: dict[str, str], message: str, repeat: int) -> float:
        """Commit ``files`` and time the hub's first reconcile of it; the best of ``repeat``.

        The last timing is this hub's own pass; each one before it starts from the same refs
        with a new repo and HubSession, warmed by an (untimed) pass over the commit before. The
        agents then answer the last pass."""
        before = refs(self.repo_path)
        commit_files(self.repo_path, files, message)
        head = git(self.repo_path, "rev-parse", "HEAD")
        times: list[float] = []
        for k in range(repeat):
            repo, cache = self.repo, self.cache
            if k < repeat - 1:
                set_refs(self.repo_path, before)
                repo, cache = HubRepo.local(self.repo_path), HubSession()
                reconcile_once(repo, self.now, session=cache)  # warm: the commit before, nothing new
                set_refs(self.repo_path, {"refs/heads/main": head})
            start = time.perf_counter()
            result = reconcile_once(repo, self.now + STEP, session=cache)
            times.append(time.perf_counter() - start)
            if repo is not self.repo:
                repo.close()
                set_refs(self.repo_path, {**before, "refs/heads/main": head})  # as this hub last saw them
            if not result.written:
                raise SystemExit(f"{message}: the first reconcile moved nothing")
        self.now += STEP
        self.agents.act(self.now)
        return min(times)  # the machine is shared: interference only ever adds

    def run_reason(self, name: str) -> str:
        doc = load(
            git(
                self.repo_path,
                "show",
                f"refs/heads/fleet/status:runs/ClusterStagedUpdateRun/_cluster/{name}.yaml",
            ).encode()
        )
        return str(summary(doc)[4])

    def expect(self, label: str, index: int, run: str | None = None) -> None:
        held = set(self.agents.index.values())
        if len(self.agents.index) != len(self.agents.clusters) or held != {index}:
            raise SystemExit(f"{label}: clusters hold snapshots {sorted(held)}, expected {index}")
        if run is not None and (reason := self.run_reason(run)) != "UpdateRunSucceeded":
            raise SystemExit(f"{label}: run {run} ended {reason}")


def refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def set_refs(repo: Path, wanted: dict[str, str]) -> None:
    """Move refs to ``wanted`` in one transaction; with every ref given, delete the others."""
    now = refs(repo)
    lines = [f"update {r} {sha}\n" for r, sha in wanted.items() if now.get(r) != sha]
    if len(wanted) > 1:
        lines += [f"delete {r}\n" for r in now if r not in wanted]
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input="".join(lines).encode(), check=True)


def measure(n: int, objects: int, repeat: int) -> dict[str, float]:
    clusters = [f"member-{i:04d}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-staged-") as tmp:
        repo = make_fleet(Path(tmp), n, objects, ROLLING)
        agents = Agents(repo, clusters)
        agents.act(NOW)
        hub = Hub(repo, agents)
        hub.drive("rolling v0")
        hub.expect("rolling v0", 0)
        commit_files(repo, {"apps/web.yaml": apps(objects, 1)}, "v1")
        rolling = hub.drive("rolling v1")
        hub.expect("rolling v1", 1)
        hub.repo.close()
    with tempfile.TemporaryDirectory(prefix="bench-staged-") as tmp:
        repo = make_fleet(Path(tmp), n, objects, EXTERNAL)
        agents = Agents(repo, clusters)
        agents.act(NOW)
        hub = Hub(repo, agents)
        hub.drive("external, no run")  # nothing moves without a run
        commit_files(
            repo,
            {
                "rollouts/everyone.yaml": EVERYONE,
                "rollouts/strategy.yaml": STRATEGY,
                "rollouts/v0.yaml": run_file("v0", strategy="everyone"),
            },
            "run v0",
        )
        hub.drive("run v0")
        hub.expect("run v0", 0, "v0")
        commit_files(repo, {"apps/web.yaml": apps(objects, 1)}, "v1")
        hub.drive("snapshot 1")  # External: recorded, nothing moves
        hub.expect("snapshot 1", 0)
        first = hub.first_pass({"rollouts/v1.yaml": run_file("v1")}, "run v1", repeat)
        staged = hub.drive("run v1", [first])
        hub.expect("run v1", 1, "v1")
        back = hub.first_pass({"rollouts/back.yaml": run_file("back", "0")}, "run back to 0", repeat)
        moved_back = sum(1 for i in agents.index.values() if i == 0)
        if not moved_back:
            raise SystemExit("rollback: its first reconcile moved no cluster back to snapshot 0")
        hub.repo.close()
    return {
        "rolling": statistics.median(rolling),
        "rolling-passes": len(rolling),
        "staged": statistics.median(staged),
        "staged-passes": len(staged),
        "forward-first": first,
        "rollback-first": back,
        "moved-back": moved_back,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument(
        "--objects", type=int, default=10, help="ConfigMaps in the placement (plus its Namespace)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="timings of each first reconcile (best of)")
    args = parser.parse_args()
    print(
        f"objects per cluster: {args.objects + 1}; median seconds per hub reconcile that wrote refs "
        f"(passes to move the fleet in brackets); first reconciles best of {args.repeat}:"
    )
    print(
        f"{'clusters':>8} {'rolling':>12} {'staged':>12} {'ratio':>6} {'fwd-first':>9} {'back-first':>10} "
        f"{'ratio':>6} {'moved back':>10}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        start = time.perf_counter()
        m = measure(n, args.objects, args.repeat)
        rolling, staged = (f"{m[k]:.3f} ({int(m[k + '-passes'])})" for k in ("rolling", "staged"))
        print(
            f"{n:>8} {rolling:>12} {staged:>12} {m['staged'] / m['rolling']:>5.2f}x "
            f"{m['forward-first']:>9.3f} {m['rollback-first']:>10.3f} "
            f"{m['rollback-first'] / m['forward-first']:>5.2f}x {int(m['moved-back']):>10}"
            f"   [{time.perf_counter() - start:.0f}s]",
            flush=True,
        )
    print(
        "ratio 1: staged run (3 regions, maxConcurrency 50%) / RollingUpdate (maxUnavailable 17%), s per pass"
    )
    print(
        "ratio 2: a rollback run's first reconcile (snapshot 0 read back from its commit) / a forward run's"
    )


if __name__ == "__main__":
    main()
