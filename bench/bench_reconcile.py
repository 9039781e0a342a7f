"""Whole hub reconciles through Git vs `kubectl kustomize` building the same per-cluster variants.

Fleet: bench/bench_render.py's 200 objects (1 Namespace, 50 Deployments, 50 Services, 98
ConfigMaps, 1 ClusterRole) and its overrides, written as a real fleet repo (MemberClusters,
one PickAll ClusterResourcePlacement with ``maxUnavailable: 100%``, a ClusterResourceOverride
and five ResourceOverrides, the shipped policy library enabled), every member with a fresh
heartbeat ref. The hub (reconciler/hub/loop.py) runs against the local repository:

- full: the first reconcile (every bundle branch and the status branch written); then every
  agent reports its bundle applied and available, and one pass takes that into status;
- no-op after restart: a reconcile by a new hub process (nothing cached, nothing written);
- no-op warm: the same in a long-running hub (``fleetsync hub run`` keeps a ``HubSession``);
- heartbeats: every member beats again, warm hub (nothing may be written);
- incremental: one ConfigMap changes in a new commit, warm hub, past the rollout's
  ``unavailablePeriodSeconds``: every cluster's bundle branch gets a new commit (checked), one
  file changed in each.

Each figure is printed in seconds and as a share of the full reconcile of the same run, in wall
time and in CPU time (the hub's and its git processes'), the steadier one on a shared machine.

Anchor, in the same process: bench_render.py's ``kubectl kustomize`` of one overlay per
cluster (timed on a sample, extrapolated). Prints every figure, the ratio kustomize / full
reconcile (goal >= 10x), and how the figures grow at 10/100/1,000 clusters.
Usage: python -m bench.bench_reconcile [--sizes 10,100,1000] [--sample 4] [--profile full|noop-restart|noop-warm|incremental]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import bench_render as render_bench
from fleetsync_contract import BUNDLE_REF_PREFIX, HEARTBEAT_REF_PREFIX, REPORT_REF_PREFIX
from fleetsync_contract.bundle import BUNDLE_FILE, parse_bundle, placement_digests
from fleetsync_contract.canonical import dump
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
from reconciler.hub.loop import ReconcileResult, reconcile_once
from reconciler.hub.session import HubSession
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: web}
    - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: web-reader}
  policy:
    placementType: PickAll
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 100%, maxSurge: 100%}
"""
ANNOTATE = """          - op: add
            path: /metadata/annotations
            value: {"fleet.example.com/cluster": "${MEMBER-CLUSTER-NAME}"}
"""


def _deployments(first: int, last: int) -> str:
    return "".join(
        f"    - {{group: apps, version: v1, kind: Deployment, name: app-{i}}}\n" for i in range(first, last)
    )


def _ro(name: str, selectors: str, rules: str) -> str:
    return (
        f"apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ResourceOverride\n"
        f"metadata: {{name: {name}, namespace: web}}\nspec:\n  resourceSelectors:\n{selectors}"
        f"  policy:\n    overrideRules:\n{rules}"
    )


EVERY = "      - clusterSelector: {clusterSelectorTerms: []}\n        jsonPatchOverrides:\n"


def _label_rule(key: str, value: str) -> str:
    return (
        f"      - clusterSelector:\n          clusterSelectorTerms:\n"
        f"            - labelSelector: {{matchLabels: {{{key}: {value}}}}}\n"
    )


def override_files() -> dict[str, str]:
    """bench_render.overrides() as the YAML a fleet repo holds."""
    cro = (
        "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourceOverride\n"
        "metadata: {name: role-label}\nspec:\n  clusterResourceSelectors:\n"
        "    - {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: web-reader}\n"
        "  policy:\n    overrideRules:\n"
        + EVERY
        + "          - op: add\n            path: /metadata/labels\n"
        '            value: {cluster: "${MEMBER-CLUSTER-NAME}"}\n'
    )
    scale = (
        _label_rule("env", "prod") + "        jsonPatchOverrides:\n"
        "          - {op: replace, path: /spec/replicas, value: 5}\n" + EVERY + ANNOTATE
    )
    region = EVERY + (
        "          - op: replace\n            path: /data/region\n"
        '            value: "${MEMBER-CLUSTER-LABEL-KEY-region}"\n'
    )
    return {
        "overrides/role-label.yaml": cro,
        "overrides/annotate-a.yaml": _ro("annotate-a", _deployments(0, 20), EVERY + ANNOTATE),
        "overrides/annotate-b.yaml": _ro("annotate-b", _deployments(20, 40), EVERY + ANNOTATE),
        "overrides/scale.yaml": _ro("scale", _deployments(40, 50), scale),
        "overrides/region.yaml": _ro(
            "region", '    - {group: "", version: v1, kind: ConfigMap, name: region-config}\n', region
        ),
        "overrides/drop.yaml": _ro(
            "drop",
            '    - {group: "", version: v1, kind: ConfigMap, name: dev-only}\n',
            _label_rule("env", "dev") + "        overrideType: Delete\n",
        ),
    }


def member(i: int) -> str:
    labels = render_bench.cluster_labels(i)
    return (
        f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n"
        f"  name: member-{i}\n  labels: {{env: {labels['env']}, region: {labels['region']}}}\n"
        f"spec: {{heartbeatPeriodSeconds: 60}}\n"
    )


def commit_files(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        p = repo / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def make_fleet(root: Path, n: int, objs: list[dict[str, object]], policies: bool) -> Path:
    repo = root / "fleet"
    git(root, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    files = {f"clusters/member-{i}.yaml": member(i) for i in range(n)}
    files["apps/web.yaml"] = b"---\n".join(dump(o) for o in objs).decode()
    files["placements/web.yaml"] = PLACEMENT
    files.update(override_files())
    if not policies:  # absent key: every shipped policy judges every cluster's change
        files["fleetsync.yaml"] = "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n"
    commit_files(repo, files, "fleet")
    return repo


def beat_all(repo: Path, n: int, when: datetime) -> None:
    """Every member's heartbeat ref moves to a new parentless commit (as agents do), in one go."""
    writer = ObjectWriter(repo / ".git" / "objects")
    lines = []
    for i in range(n):
        name = f"member-{i}"
        beat = Heartbeat(name, format_time(when), "", Health(True, "", "2026-01-01T00:00:00Z"))
        tree = writer.write_tree({HEARTBEAT_FILE: dump_heartbeat(beat)})
        commit = writer.write_commit(tree, [], f"heartbeat {name}", when)
        lines.append(f"update {HEARTBEAT_REF_PREFIX}{name} {commit}\n")
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input="".join(lines).encode(), check=True)


def report_all(repo_path: Path, n: int, when: datetime) -> None:
    """Every member's agent applied the bundle now on its branch and reports it available (as
    tests/support/fleethelpers.py does for one), so the rolling update may move on."""
    writer = ObjectWriter(repo_path / ".git" / "objects")
    lines = []
    with HubRepo.local(repo_path) as repo:
        refs = repo.hub_refs()
        for i in range(n):
            name = f"member-{i}"
            data = repo.read_file(refs[f"refs/heads/{BUNDLE_REF_PREFIX}{name}"], BUNDLE_FILE)
            bundle = parse_bundle({BUNDLE_FILE: data or b""})
            digests = placement_digests(bundle.placements, bundle.files)
            ok = (
                Condition("Applied", "True", "AllManifestsApplied", "", format_time(when)),
                Condition("Available", "True", "AllManifestsAvailable", "", format_time(when)),
            )
            placements = tuple(
                PlacementReport(p.key, p.resource_index, bundle.bundle_id, ok, (), digests[p.key])
                for p in bundle.placements
            )
            health = Health(True, "", "2026-01-01T00:00:00Z")
            report = ClusterReport(
                name, "0.1.0", format_time(when), bundle.bundle_id, health=health, placements=placements
            )
            tree = writer.write_tree({REPORT_FILE: dump_report(report)})
            commit = writer.write_commit(tree, [], f"report {name}", when)
            lines.append(f"update refs/heads/{REPORT_REF_PREFIX}{name} {commit}\n")
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo_path, input="".join(lines).encode(), check=True)


def _cpu() -> float:
    t = os.times()  # this process and the git processes it ran (waited for)
    return t.user + t.system + t.children_user + t.children_system


def timed(step: Callable[[], ReconcileResult]) -> tuple[float, float, ReconcileResult]:
    """(wall seconds, CPU seconds, result): on a shared machine the CPU figure is the steadier."""
    start, cpu = time.perf_counter(), _cpu()
    result = step()
    return time.perf_counter() - start, _cpu() - cpu, result


def measure(n: int, objs: list[dict[str, object]], profile: str, policies: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        repo_path = make_fleet(Path(tmp), n, objs, policies)
        beat_all(repo_path, n, NOW)
        out: dict[str, float] = {}
        prof = cProfile.Profile()

        def run(label: str, now: datetime, cache: HubSession | None, writes: int) -> None:
            with HubRepo.local(repo_path) as repo:
                if label == profile:
                    prof.enable()
                took, cpu, result = timed(lambda: reconcile_once(repo, now, session=cache))
                if label == profile:
                    prof.disable()
            if not result.loaded or len(result.written) != writes:
                raise SystemExit(f"{label} at {n} clusters: unexpected result {result}")
            out[label], out[f"{label} cpu"] = took, cpu

        cache = HubSession()  # the long-running hub (``fleetsync hub run``)
        run("full", NOW, cache, n + 1)  # every bundle branch and the status branch
        settled = NOW + timedelta(seconds=10)
        report_all(repo_path, n, settled)  # every agent applied its bundle: the rollout may go on
        run("reports", settled, cache, 1)  # status takes the reports in
        run("noop-restart", settled, None, 0)  # a new hub process: nothing cached
        run("warmup", settled, cache, 0)
        run("noop-warm", settled, cache, 0)
        later = NOW + timedelta(seconds=90)  # past unavailablePeriodSeconds (60): bundles may move
        beat_all(repo_path, n, later)
        run("heartbeats", later, cache, 0)
        changed = [dict(o) for o in objs]
        changed[-2] = {**changed[-2], "data": {"settings.yaml": "feature: changed\n", "region": "unset"}}
        commit_files(
            repo_path, {"apps/web.yaml": b"---\n".join(dump(o) for o in changed).decode()}, "one object"
        )
        run("incremental", later, cache, n + 1)  # every cluster's bundle changes (one file each)
        if profile:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return out


def share(got: dict[str, float], c: str) -> str:
    """A step's seconds and its share of the full pass, wall and CPU."""
    return f"{got[c]:.2f}s {got[c] / got['full']:.1%}/{got[c + ' cpu'] / got['full cpu']:.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--sample", type=int, default=4, help="clusters built with kustomize (extrapolated)")
    parser.add_argument(
        "--policies",
        action="store_true",
        help="enable the shipped policy library (default: policies: [], the gate is off)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="cProfile one step: full, noop-restart, noop-warm, heartbeats, incremental",
    )
    args = parser.parse_args()
    objs = render_bench.fleet_objects()
    per_kustomize = render_bench.kustomize_per_cluster(objs, args.sample)
    print(
        f"objects per cluster: {len(objs)}; kustomize: {per_kustomize * 1000:.1f} ms per cluster "
        f"(mean of {args.sample} overlays)"
    )
    cols = ("incremental", "noop-warm", "heartbeats", "noop-restart")
    print(
        f"{'clusters':>8} {'full s':>7} {'cpu s':>7} "
        + " ".join(f"{c:>19}" for c in cols)
        + f" {'kustomize s':>11} {'vs full':>7}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        got = measure(n, objs, args.profile, args.policies)
        theirs = per_kustomize * n

        print(
            f"{n:>8} {got['full']:>7.2f} {got['full cpu']:>7.2f} "
            + " ".join(f"{share(got, c):>19}" for c in cols)
            + f" {theirs:>11.1f} {theirs / got['full']:>6.1f}x",
            flush=True,
        )
    print(
        "per step: wall seconds, then its share of the full reconcile in the same run as wall/CPU "
        "(CPU: the hub and its git processes; steadier on a shared machine). Goals: incremental "
        "<= 5%, no-op after restart <= 20%; kustomize building every cluster's variant / full "
        "(goal >= 10x)"
    )


if __name__ == "__main__":
    main()
