"""How fast the fleet-repo loader reads a big repo, and how that scales.

Generates repos of 1k, 5k and 10k objects (Namespaces, ConfigMaps, Deployments, MemberClusters,
ClusterResourcePlacements; 10 documents per file, 100 files per directory) in a temp dir, loads
each with ``load_directory`` and prints objects per second. The comparable figure is the ratio of
the loader's time to a bare libyaml compose of the same files (PyYAML's C composer, the floor any
located YAML reader pays) measured in the same process, so machines of different speed give the
same ratio. Before the loader composed with libyaml it read ~575 objects/s (ruamel.yaml's
pure-Python composer; 17 s for 10,000 objects, ~1x a bare ruamel compose).

    .venv/bin/python -m bench.bench_load
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from reconciler.load.fleet import load_directory

SIZES = (1_000, 5_000, 10_000)
PER_FILE = 10


def _object(i: int) -> str:
    kind = i % 10
    if kind == 0:
        return (
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{i}\n  labels: {{owner: team-{i % 7}}}\n"
        )
    if kind == 1:
        return (
            "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\n"
            f"metadata:\n  name: cluster-{i}\n  labels: {{region: r{i % 5}, environment: prod}}\n"
            "spec:\n  heartbeatPeriodSeconds: 60\n"
        )
    if kind == 2:
        return (
            "apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterResourcePlacement\n"
            f"metadata:\n  name: crp-{i}\nspec:\n  resourceSelectors:\n"
            f"    - {{group: '', version: v1, kind: Namespace, name: ns-{i - 2}}}\n"
            "  policy:\n    placementType: PickN\n    numberOfClusters: 3\n"
            "    affinity:\n      clusterAffinity:\n        requiredDuringSchedulingIgnoredDuringExecution:\n"
            "          clusterSelectorTerms:\n            - labelSelector: {matchLabels: {environment: prod}}\n"
        )
    if kind in (3, 4, 5):
        return (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: ns-{i - i % 10}\n"
            "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n"
            "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
            "        - name: web\n          image: nginx:1.27.3\n"
            "          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}\n"
        )
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: ns-{i - i % 10}\n"
        f"data:\n  key: value-{i}\n  other: '{i}'\n"
    )


def _generate(root: Path, count: int) -> None:
    for f in range(count // PER_FILE):
        directory = root / f"d{f // 100:03d}"
        directory.mkdir(exist_ok=True)
        docs = [_object(f * PER_FILE + j) for j in range(PER_FILE)]
        (directory / f"f{f:05d}.yaml").write_text("---\n".join(docs))


def _bare_compose(root: Path) -> float:
    start = time.perf_counter()
    for path in sorted(root.rglob("*.yaml")):
        for _ in yaml.compose_all(path.read_text(), Loader=yaml.CSafeLoader):
            pass
    return time.perf_counter() - start


def main() -> None:
    print(f"{'objects':>8} {'load s':>8} {'objects/s':>10} {'libyaml compose s':>18} {'ratio':>6}")
    for count in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            _generate(root, count)
            start = time.perf_counter()
            result = load_directory(root)
            elapsed = time.perf_counter() - start
            assert result.ok, result.findings[:3]
            loaded = len(result.documents)
            assert loaded == count, loaded
            bare = _bare_compose(root)
            print(f"{count:>8} {elapsed:>8.2f} {count / elapsed:>10.0f} {bare:>18.2f} {elapsed / bare:>6.2f}")


if __name__ == "__main__":
    main()
