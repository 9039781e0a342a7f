"""Policy gate benchmark: ms per cluster to judge the shipped library over a placement's objects.

Each cluster gets the same ``--objects`` rendered objects (Deployments, StatefulSets, Services,
ConfigMaps, Secrets, Namespaces, RBAC bindings), shared as one mapping per object across clusters
the way reconciler/hub/overrides.py shares what no override touched; a share of the workloads is
overridden per cluster (an env var naming the cluster: a distinct object per cluster) and per
region (4 variants). Every object is an UPDATE of a slightly different previous render.

"cold" is the first reconcile in a fresh process-level cache; "warm" the next reconcile over a
freshly rendered copy of the same objects (new mappings, same content), as a long-running hub
sees after a commit that touched nothing they depend on. Prints ms per cluster and the ratio to
a cold single-cluster anchor measured in the same process.

    .venv/bin/python -m bench.bench_policy [--sizes 10,100,1000] [--objects 200]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Mapping
from typing import Any

from reconciler.policy.gate import ClusterInfo, PolicyCache, evaluate, library_paths, load_policies

REGIONS = ("eu", "us", "ap", "sa")


def _workload(i: int, kind: str) -> dict[str, Any]:
    image = f"registry.example.com/app{i}:{'latest' if i % 7 == 0 else f'1.{i}'}"
    resources = (
        {} if i % 5 == 0 else {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
    )
    container = {
        "name": f"c{i}",
        "image": image,
        "resources": resources,
        "env": [{"name": "MODE", "value": "prod"}],
        "ports": [{"containerPort": 8080}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": f"w{i}", "namespace": f"ns{i % 20}", "labels": {"app": f"w{i}"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": f"w{i}"}},
            "template": {
                "metadata": {"labels": {"app": f"w{i}"}},
                "spec": {"hostNetwork": i % 11 == 0, "containers": [container]},
            },
        },
    }


def base_objects(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        slot = i % 10
        if slot < 4:
            out.append(_workload(i, "Deployment" if slot < 3 else "StatefulSet"))
        elif slot < 6:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"s{i}", "namespace": f"ns{i % 20}"},
                    "spec": {"selector": {"app": f"w{i}"}, "ports": [{"port": 80}]},
                }
            )
        elif slot < 8:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"cm{i}", "namespace": f"ns{i % 20}"},
                    "data": {f"k{j}": f"value-{i}-{j}" for j in range(10)},
                }
            )
        elif slot == 8:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": f"sec{i}", "namespace": f"ns{i % 20}"},
                    "data": {"password": "c2VjcmV0"},
                }
            )
        elif i % 20 == 9:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": f"ns{(i // 20) % 20}", "labels": {"owner": "team-a"}},
                }
            )
        else:
            out.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"rb{i}", "namespace": f"ns{i % 20}"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "view",
                    },
                    "subjects": [{"kind": "Group", "name": "devs"}],
                }
            )
    return out


def identity(m: Mapping[str, Any]) -> str:
    group = m["apiVersion"].rpartition("/")[0]
    return f"{group}/{m['kind']}/{m['metadata'].get('namespace', '')}/{m['metadata']['name']}"


def previous_of(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    prev = {}
    for o in objs:
        old = copy.deepcopy(o)
        old["metadata"].setdefault("annotations", {})["rev"] = "1"
        prev[identity(o)] = old
    return prev


def render(objs: list[dict[str, Any]], cluster: int) -> dict[str, Mapping[str, Any]]:
    """One cluster's render: shared mappings, with per-cluster (10%) and per-region (10%) overrides."""
    out: dict[str, Mapping[str, Any]] = {}
    for i, o in enumerate(objs):
        if o["kind"] in ("Deployment", "StatefulSet") and i % 20 in (0, 1):
            v = copy.deepcopy(o)
            env = v["spec"]["template"]["spec"]["containers"][0]["env"]
            env.append(
                {"name": "CLUSTER", "value": f"c{cluster}"}
                if i % 20 == 0
                else {"name": "REGION", "value": REGIONS[cluster % 4]}
            )
            out[identity(o)] = v
        else:
            out[identity(o)] = o
    return out


def reconcile(
    policies: Any, clusters: int, objs: list[dict[str, Any]], prev: Mapping[str, Any], cache: PolicyCache
) -> tuple[float, int]:
    start = time.perf_counter()
    found = 0
    for c in range(clusters):
        info = ClusterInfo(f"c{c}", {"region": REGIONS[c % 4]})
        found += len(evaluate(policies, info, render(objs, c), prev, cache=cache))
    return (time.perf_counter() - start) * 1000 / clusters, found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--objects", type=int, default=200)
    args = ap.parse_args()
    policies = load_policies([], library=library_paths())
    print(f"{len(policies.bindings)} policies over {args.objects} objects")

    def fresh() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        objs = base_objects(args.objects)
        return objs, previous_of(objs)

    anchor, found1 = reconcile(policies, 1, *fresh(), new_cache())
    print(f"anchor (1 cluster, cold): {anchor:.1f} ms/cluster, {found1} violations")
    for n in (int(s) for s in args.sizes.split(",")):
        cache = new_cache()
        cold, found = reconcile(policies, n, *fresh(), cache)
        warm, found_w = reconcile(policies, n, *fresh(), keep(cache))
        assert found == found_w, (found, found_w)
        print(
            f"{n:5d} clusters: cold {cold:8.2f} ms/cluster (ratio {cold / anchor:.3f}), "
            f"warm {warm:8.2f} ms/cluster (ratio {warm / anchor:.3f}), {found // n} violations/cluster"
        )


def new_cache() -> PolicyCache:
    return PolicyCache()


def keep(cache: PolicyCache) -> PolicyCache:
    """The cache the next reconcile of a long-running hub uses (the HubSession keeps one per hub process)."""
    begin = getattr(cache, "new_pass", None)
    if begin is None:  # a PolicyCache that lives for one reconcile only
        return PolicyCache()
    begin()
    return cache


if __name__ == "__main__":
    main()
