"""The hub's peak memory in its own process: ``fleetsync hub reconcile`` on a fleet of N clusters x M objects.

Fleet: N MemberClusters, each with a fresh heartbeat ref, and one PickAll ClusterResourcePlacement
of a Namespace and M ConfigMaps (about 200 bytes of data each), no overrides, the policy gate off.
The hub runs as ``fleetsync hub reconcile --repo PATH`` in a child process, exactly as an operator
runs it; its peak resident set is read from ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits
(one child per size, so the figure is that child's alone). Anchor, in the same run: the same
command on the smallest size, so the growth per cluster and per object is printed beside the
figures (goal at 1,000 clusters x 2,000 objects: <= 300 MB).
Usage: python -m bench.bench_hubmem [--sizes 100x200,1000x200,100x2000,1000x2000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_reconcile import beat_all, commit_files, member
from fleetsync_contract.canonical import dump
from tests.support.gitdaemon import git

PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: config
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: config}
  policy:
    placementType: PickAll
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 100%, maxSurge: 100%}
"""


def objects(m: int) -> bytes:
    docs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "config"}}
    ]
    for i in range(m):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"config-{i}", "namespace": "config", "labels": {"app": "config"}},
                "data": {"settings.yaml": f"feature: {i}\nlevel: info\n" + "x" * 160},
            }
        )
    return b"---\n".join(dump(d) for d in docs)


def make_fleet(root: Path, n: int, m: int) -> Path:
    repo = root / "fleet"
    git(root, "init", "-q", "-b", "main", str(repo))
    git(repo, "config", "user.email", "bench@example.com")
    git(repo, "config", "user.name", "bench")
    files = {f"clusters/member-{i}.yaml": member(i) for i in range(n)}
    files["apps/config.yaml"] = objects(m).decode()
    files["placements/config.yaml"] = PLACEMENT
    files["fleetsync.yaml"] = "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n"
    commit_files(repo, files, "fleet")
    return repo


def peak_mb(n: int, m: int) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one ``fleetsync hub reconcile`` child on a fresh fleet."""
    with tempfile.TemporaryDirectory(prefix="bench-hubmem-") as tmp:
        repo = make_fleet(Path(tmp), n, m)
        beat_all(repo, n, datetime.now(UTC))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "from fleetsync.cli import main; main()",
                "hub",
                "reconcile",
                "--repo",
                str(repo),
            ],
            capture_output=True,
            check=False,
        )
        took = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"hub reconcile failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        # ru_maxrss of children is the largest child so far (git processes included): sizes run
        # in increasing order, so a larger figure is this hub's
        return max(after, before) / 1024, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100x200,1000x200,100x2000,1000x2000")
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"{'clusters':>8} {'objects':>8} {'peak MB':>8} {'seconds':>8}")
    got: dict[tuple[int, ...], float] = {}
    for n, m in sizes:
        mb, took = peak_mb(n, m)
        got[(n, m)] = mb
        print(f"{n:>8} {m:>8} {mb:>8.0f} {took:>8.1f}", flush=True)
    base = sizes[0]
    for (n, m), mb in got.items():
        if (n, m) == base:
            continue
        if m == base[1] and n != base[0]:
            per = (mb - got[base]) * 1024 / (n - base[0])
            print(f"growth per cluster at {m} objects: {per:.0f} KB")
        if n == base[0] and m != base[1]:
            per = (mb - got[base]) * 1024 / (m - base[1])
            print(f"growth per object at {n} clusters: {per:.1f} KB")
    print("peak RSS of the hub process alone (goal at 1,000 clusters x 2,000 objects: <= 300 MB)")


if __name__ == "__main__":
    main()
