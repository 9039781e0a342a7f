"""YAML builders for team repos and the platform repo's Team objects (tests of reconciler/teams/)."""

from __future__ import annotations


def team_yaml(
    name: str,
    url: str,
    namespaces: list[str],
    selector: dict[str, str] | None = None,
    kinds: list[str] | None = None,
    cluster_kinds: list[str] | None = None,
    branch: str = "main",
    objects_per_cluster: int | None = None,
) -> str:
    lines = [
        "apiVersion: fleetsync.io/v1alpha1",
        "kind: Team",
        "metadata:",
        f"  name: {name}",
        "spec:",
        "  repo:",
        f"    url: {url}",
        f"    branch: {branch}",
        f"  namespaces: [{', '.join(namespaces)}]",
    ]
    if selector is not None:
        labels = ", ".join(f"{k}: {v}" for k, v in selector.items())
        lines += ["  clusterSelector:", f"    matchLabels: {{{labels}}}"]
    if kinds is not None:
        lines.append(f"  kinds: [{', '.join(repr(k) for k in kinds)}]")
    if cluster_kinds is not None:
        lines.append(f"  clusterScopedKinds: [{', '.join(repr(k) for k in cluster_kinds)}]")
    if objects_per_cluster is not None:
        lines += ["  limits:", f"    objectsPerCluster: {objects_per_cluster}"]
    return "\n".join(lines) + "\n"


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def configmap(name: str, ns: str, value: str = "1") -> str:
    return f'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  VALUE: "{value}"\n'


def team_crp(name: str, namespace_name: str, clusters: list[str] | None = None) -> str:
    policy = "    placementType: PickAll\n"
    if clusters is not None:
        policy = f"    placementType: PickFixed\n    clusterNames: [{', '.join(clusters)}]\n"
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: {name}
spec:
  resourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: {namespace_name}}}
  policy:
{policy}  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxUnavailable: 100%, maxSurge: 100%}}
"""


def team_files(team: str, value: str = "1") -> dict[str, str]:
    """A well-behaved team repo: its namespace, a ConfigMap in it, a placement named <team>-app."""
    return {
        "ns.yaml": namespace(team),
        "app/config.yaml": configmap("config", team, value),
        "placements/app.yaml": team_crp(f"{team}-app", team),
    }
