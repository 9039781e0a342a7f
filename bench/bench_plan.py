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
from tests.support.planfixtures import generated_fleet

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
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
        docs.append(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:04d}\n  namespace: app\n"
            f'data:\n  VERSION: "{version}"\n  INDEX: "{i}"\n'
        )
    return "---\n".join(docs)


def make_fleet(root: Path, clusters: int, objects: int) -> Path:
    """The plan tests' generated fleet (members in 5 regions, a PickAll of namespace ``app``), grown to
    ``objects`` ConfigMaps with a per-region override; the measured change bumps every VERSION."""
    repo = generated_fleet(root, clusters)
    repo.write("apps/app.yaml", _apps(objects, 1))
    repo.write("override.yaml", OVERRIDE)
    repo.commit("base")
    repo.write("apps/app.yaml", _apps(objects, 2))
    repo.commit("head")
    return repo.path


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
