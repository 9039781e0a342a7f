"""Render per-cluster bundles for a fleet vs `kubectl kustomize` building the same variants as overlays.

Fleet: one ClusterResourcePlacement selecting a namespace of 200 objects (1 Namespace, 50
Deployments, 50 Services, 98 ConfigMaps, 1 ClusterRole), placed on every cluster, with overrides that give every
cluster its own variant: ResourceOverrides annotating every Deployment with
``${MEMBER-CLUSTER-NAME}`` and setting replicas on prod clusters, a ClusterResourceOverride labelling
the ClusterRole with the cluster name, a ResourceOverride writing the
cluster's region label into a ConfigMap, and a Delete rule dropping one ConfigMap on dev clusters.

Ours: select + override + render (canonical YAML, hashes, bundle.yaml) for N clusters.
Anchor, in the same process: one `kubectl kustomize` overlay per cluster (a base with the 200
objects, an overlay with the same JSON patches, values pre-substituted since kustomize has no
cluster variables), timed on a sample of clusters and extrapolated per cluster.

Prints the ratio (goal: >= 10x faster than kustomize) and how both grow at 10/100/1,000 clusters.
Usage: python -m bench.bench_render [--sample 5] [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.api.meta import LabelSelector, ObjectMeta, Origin
from reconciler.api.override import (
    CRO_KIND,
    RO_KIND,
    JsonPatch,
    Override,
    OverrideRule,
    OverrideSelector,
    OverrideType,
    PatchOp,
)
from reconciler.api.placement import Placement, ResourceSelector
from reconciler.api.resource import Resource
from reconciler.hub.overrides import apply_prepared, prepare_overrides, substitute
from reconciler.hub.render import ManifestCache, PlacementOnCluster, render_cluster
from reconciler.hub.select import select_resources

ORIGIN = Origin("bench.yaml", 1)
NS = "web"


def _deployment(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"app-{i}", "namespace": NS, "labels": {"app": f"app-{i}", "tier": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"app-{i}"}},
            "template": {
                "metadata": {"labels": {"app": f"app-{i}"}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": f"registry.example.com/app-{i}:1.{i}.0",
                            "ports": [{"containerPort": 8080}],
                            "env": [
                                {"name": "MODE", "value": "production"},
                                {"name": "LOG_LEVEL", "value": "info"},
                            ],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                        }
                    ]
                },
            },
        },
    }


def _service(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"app-{i}", "namespace": NS},
        "spec": {"selector": {"app": f"app-{i}"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def _configmap(i: int) -> dict[str, Any]:
    name = "region-config" if i == 0 else "dev-only" if i == 1 else f"config-{i}"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS},
        "data": {"settings.yaml": f"feature-{i}: enabled\nlimit: {i * 10}\n", "region": "unset"},
    }


def fleet_objects() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}]
    objs += [_deployment(i) for i in range(50)]
    objs += [_service(i) for i in range(50)]
    objs += [_configmap(i) for i in range(98)]
    objs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "web-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        }
    )
    return objs


def resources(objs: list[dict[str, Any]]) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for o in objs:
        group, _, version = o["apiVersion"].rpartition("/")
        meta = o["metadata"]
        r = Resource(group, version, o["kind"], meta.get("namespace", ""), meta["name"], o, ORIGIN)
        out[r.identity] = r
    return out


def cluster_labels(i: int) -> dict[str, str]:
    return {"env": "prod" if i % 3 else "dev", "region": ("eu", "us", "ap")[i % 3]}


def overrides() -> tuple[list[Override], list[Override]]:
    every = ()
    prod = (LabelSelector({"env": "prod"}),)
    dev = (LabelSelector({"env": "dev"}),)
    annotate = OverrideRule(
        every,
        OverrideType.JSON_PATCH,
        (
            JsonPatch(
                PatchOp.ADD, "/metadata/annotations", {"fleet.example.com/cluster": "${MEMBER-CLUSTER-NAME}"}
            ),
        ),
    )
    cros = [
        Override(
            CRO_KIND,
            "v1beta1",
            ObjectMeta("role-label"),
            ORIGIN,
            (OverrideSelector("rbac.authorization.k8s.io", "v1", "ClusterRole", "web-reader"),),
            (
                OverrideRule(
                    every,
                    OverrideType.JSON_PATCH,
                    (JsonPatch(PatchOp.ADD, "/metadata/labels", {"cluster": "${MEMBER-CLUSTER-NAME}"}),),
                ),
            ),
        )
    ]
    ro_selectors = tuple(OverrideSelector("apps", "v1", "Deployment", f"app-{i}") for i in range(20))
    ros = [
        Override(RO_KIND, "v1beta1", ObjectMeta("annotate-a", NS), ORIGIN, ro_selectors, (annotate,)),
        Override(
            RO_KIND,
            "v1beta1",
            ObjectMeta("annotate-b", NS),
            ORIGIN,
            tuple(OverrideSelector("apps", "v1", "Deployment", f"app-{i}") for i in range(20, 40)),
            (annotate,),
        ),
        Override(
            RO_KIND,
            "v1beta1",
            ObjectMeta("scale", NS),
            ORIGIN,
            tuple(OverrideSelector("apps", "v1", "Deployment", f"app-{i}") for i in range(40, 50)),
            (
                OverrideRule(
                    prod, OverrideType.JSON_PATCH, (JsonPatch(PatchOp.REPLACE, "/spec/replicas", 5),)
                ),
                annotate,
            ),
        ),
        Override(
            RO_KIND,
            "v1beta1",
            ObjectMeta("region", NS),
            ORIGIN,
            (OverrideSelector("", "v1", "ConfigMap", "region-config"),),
            (
                OverrideRule(
                    every,
                    OverrideType.JSON_PATCH,
                    (JsonPatch(PatchOp.REPLACE, "/data/region", "${MEMBER-CLUSTER-LABEL-KEY-region}"),),
                ),
            ),
        ),
        Override(
            RO_KIND,
            "v1beta1",
            ObjectMeta("drop", NS),
            ORIGIN,
            (OverrideSelector("", "v1", "ConfigMap", "dev-only"),),
            (OverrideRule(dev, OverrideType.DELETE),),
        ),
    ]
    return cros, ros


PLACEMENT = Placement(
    "ClusterResourcePlacement",
    "placement.kubernetes-fleet.io/v1beta1",
    ObjectMeta("web"),
    ORIGIN,
    (
        ResourceSelector("", "v1", "Namespace", NS),
        ResourceSelector("rbac.authorization.k8s.io", "v1", "ClusterRole", "web-reader"),
    ),
)


def render_fleet(n: int, res: dict[str, Resource]) -> tuple[float, int]:
    """Seconds to select, override and render ``n`` clusters; total bytes rendered."""
    cros, ros = overrides()
    start = time.perf_counter()
    selection = select_resources(PLACEMENT, res)
    prepared = prepare_overrides(selection.objects, cros, ros, PLACEMENT)
    cache = ManifestCache()
    total = 0
    for i in range(n):
        result = apply_prepared(prepared, f"member-{i}", cluster_labels(i))
        assert result.ok, result.error
        bundle = render_cluster(
            f"member-{i}", "0" * 40, [PlacementOnCluster(PLACEMENT, 0, result.objects)], cache=cache
        )
        total += sum(len(b) for b in bundle.files.values())
    return time.perf_counter() - start, total


def _overlay(i: int) -> str:
    """The kustomization of cluster ``i``: the same patches, values substituted by hand."""
    name, labels = f"member-{i}", cluster_labels(i)
    cluster = substitute("${MEMBER-CLUSTER-NAME}", name, labels)
    ann = '{"fleet.example.com/cluster": "' + cluster + '"}'
    patches = []
    for d in range(50):
        ops = [f"- op: add\n  path: /metadata/annotations\n  value: {ann}"]
        if d >= 40 and labels["env"] == "prod":
            ops.insert(0, "- op: replace\n  path: /spec/replicas\n  value: 5")
        body = "\n".join(ops).replace("\n", "\n      ")
        patches.append(
            f"- target: {{group: apps, version: v1, kind: Deployment, name: app-{d}}}\n"
            f"  patch: |-\n      {body}"
        )
    patches.append(
        "- target: {version: v1, kind: ConfigMap, name: region-config}\n  patch: |-\n"
        f"      - op: replace\n        path: /data/region\n        value: {labels['region']}"
    )
    patches.append(
        "- target: {group: rbac.authorization.k8s.io, version: v1, kind: ClusterRole, name: web-reader}\n"
        f"  patch: |-\n      - op: add\n        path: /metadata/labels\n        value: {{cluster: {name}}}"
    )
    if labels["env"] == "dev":
        patches.append(
            "- patch: |-\n      $patch: delete\n      apiVersion: v1\n      kind: ConfigMap\n"
            f"      metadata: {{name: dev-only, namespace: {NS}}}"
        )
    return "resources:\n- ../../base\npatches:\n" + "\n".join(patches) + "\n"


def kustomize_per_cluster(objs: list[dict[str, Any]], sample: int) -> float:
    """Mean seconds for one `kubectl kustomize` of one cluster's overlay."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl not found: the kustomize anchor needs it")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "base").mkdir()
        (root / "base" / "all.yaml").write_bytes(b"---\n".join(dump(o) for o in objs))
        (root / "base" / "kustomization.yaml").write_text("resources:\n- all.yaml\n")
        dirs = []
        for i in range(sample):
            d = root / "overlays" / f"member-{i}"
            d.mkdir(parents=True)
            (d / "kustomization.yaml").write_text(_overlay(i))
            dirs.append(d)
        subprocess.run([kubectl, "kustomize", str(dirs[0])], check=True, capture_output=True)  # warm caches
        start = time.perf_counter()
        for d in dirs:
            subprocess.run([kubectl, "kustomize", str(d)], check=True, capture_output=True)
        return (time.perf_counter() - start) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sample", type=int, default=6, help="clusters built with kustomize (extrapolated)")
    parser.add_argument("--sizes", default="10,100,1000")
    args = parser.parse_args()
    objs = fleet_objects()
    res = resources(objs)
    per_kustomize = kustomize_per_cluster(objs, args.sample)
    print(
        f"objects per cluster: {len(objs)}; kustomize: {per_kustomize * 1000:.1f} ms per cluster "
        f"(mean of {args.sample} overlays)"
    )
    print(
        f"{'clusters':>8} {'fleetsync s':>12} {'ms/cluster':>11} {'kustomize s (extrap.)':>22} {'ratio':>7}"
        f" {'MB rendered':>12}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        ours, size = render_fleet(n, res)
        theirs = per_kustomize * n
        print(
            f"{n:>8} {ours:>12.2f} {ours / n * 1000:>11.2f} {theirs:>22.1f} {theirs / ours:>6.1f}x"
            f" {size / 1e6:>12.1f}"
        )


if __name__ == "__main__":
    main()
