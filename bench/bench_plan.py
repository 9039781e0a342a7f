"""``fleetsync plan`` benchmark: seconds per plan at 10, 100 and 500 clusters (or --sizes).

Each fleet is a real git repo with N MemberClusters in 5 regions, one PickAll placement of a
namespace with ``--objects`` ConfigMaps, and a per-region override (so clusters fall into 5
groups); the head commit changes one value in every ConfigMap, touching every cluster. The
time is the whole command (both commits exported, loaded, scheduled, overridden, gated, diffed,
grouped, rendered as Markdown). Prints seconds, the ratio to the smallest fleet measured in the
same process, the Markdown size (a PR comment holds 65,536 characters) and the group count.

    .venv/bin/python -m bench.bench_plan [--sizes 10,100,500] [--objects 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from reconciler.plan import run as plan_cmd
from tests.support.gitdaemon import git
from tests.support.planfixtures import member

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: app
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: app}
  policy:
    placementType: PickAll
"""

OVERRIDE = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata:
  name: region
  namespace: app
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: ConfigMap, name: cm-0000}
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms: []
        jsonPatchOverrides:
          - {op: add, path: /data/REGION, value: "${MEMBER-CLUSTER-LABEL-KEY-region}"}
"""


def _apps(objects: int, version: int) -> str:
    docs = ["apiVersion: v1\nkind: Namespace\nmetadata:\n  name: app\n  labels: {owner: bench}\n"]
    for i in range(objects):
        docs.append(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04d}\n  namespace: app\n"
                    f"data:\n  VERSION: \"{version}\"\n  INDEX: \"{i}\"\n")
    return "---\n".join(docs)


def make_fleet(root: Path, clusters: int, objects: int) -> Path:
    root.mkdir(parents=True)
    (root / "clusters").mkdir()
    for i in range(clusters):
        (root / "clusters" / f"c-{i:04d}.yaml").write_text(member(f"c-{i:04d}", {"region": f"r{i % 5}"}))
    (root / "apps.yaml").write_text(_apps(objects, 1))
    (root / "placement.yaml").write_text(PLACEMENT)
    (root / "override.yaml").write_text(OVERRIDE)
    (root / "fleetsync.yaml").write_text("apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    (root / "apps.yaml").write_text(_apps(objects, 2))
    git(root, "commit", "-qam", "head")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    anchor: float | None = None
    print(f"{'clusters':>8} {'objects':>7} {'seconds':>8} {'ratio':>6} {'md chars':>9} {'groups':>6}")
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        for n in sizes:
            repo = make_fleet(Path(tmp) / f"fleet-{n}", n, args.objects)
            times: list[float] = []
            out = ""
            for _ in range(args.repeat):
                start = time.perf_counter()
                out, err, code = plan_cmd.run(repo, "HEAD~1", "HEAD", "markdown", NOW)
                times.append(time.perf_counter() - start)
                assert code == 1, err
            best = statistics.median(times)
            anchor = anchor or best
            groups = out.count("<details>")
            print(f"{n:>8} {args.objects:>7} {best:>8.2f} {best / anchor:>6.1f} {len(out):>9} {groups:>6}")


if __name__ == "__main__":
    main()
