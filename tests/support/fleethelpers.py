"""A small fleet repo in tmp_path, with agents' heartbeats and reports, for the hub loop tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fleetsync_contract.bundle import Bundle, parse_bundle, placement_digests
from fleetsync_contract.report import (
    ClusterReport,
    Condition,
    Health,
    Heartbeat,
    PlacementReport,
    dump_heartbeat,
    dump_report,
    format_time,
)
from tests.support.gitdaemon import git

NAMESPACE = """apiVersion: v1
kind: Namespace
metadata:
  name: web
  labels: {app: web}
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: web
data:
  GREETING: hello
  VERSION: "{version}"
"""


def member(name: str, region: str) -> str:
    return f"""apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{region: {region}}}
spec:
  heartbeatPeriodSeconds: 60
"""


def crp(name: str = "web", affinity_region: str | None = None, max_unavailable: str = "25%") -> str:
    affinity = ""
    if affinity_region:
        affinity = f"""    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms:
            - labelSelector:
                matchLabels: {{region: {affinity_region}}}
"""
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: {name}
spec:
  resourceSelectors:
    - group: ""
      version: v1
      kind: Namespace
      name: web
  policy:
    placementType: PickAll
{affinity}  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: {max_unavailable}
      maxSurge: 25%
"""


CRO = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata:
  name: greeting
  namespace: web
spec:
  resourceSelectors:
    - group: ""
      version: v1
      kind: ConfigMap
      name: settings
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms: []
        jsonPatchOverrides:
          - op: replace
            path: /data/GREETING
            value: "hello from ${MEMBER-CLUSTER-NAME} in ${MEMBER-CLUSTER-LABEL-KEY-region}"
"""

CLUSTERS = {"eu-1": "europe", "eu-2": "europe", "us-1": "america", "us-2": "america"}


# A second app beside web (format with level=...): Namespace platform, ConfigMap defaults.
PLATFORM = """apiVersion: v1
kind: Namespace
metadata:
  name: platform
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: defaults
  namespace: platform
data:
  LEVEL: "{level}"
"""


def base_files(
    version: str = "1", clusters: dict[str, str] | None = None, placement: str | None = None
) -> dict[str, str]:
    files = {f"clusters/{c}.yaml": member(c, r) for c, r in (clusters or CLUSTERS).items()}
    files["apps/web/namespace.yaml"] = NAMESPACE
    files["apps/web/settings.yaml"] = CONFIGMAP.format(version=version)
    files["apps/web/override.yaml"] = CRO
    files["placements/web.yaml"] = placement if placement is not None else crp()
    return files


class FleetWork:
    """A non-bare fleet repo (branch main) whose commits the hub reads."""

    def __init__(self, path: Path):
        self.path = path
        git(path.parent, "init", "-q", "-b", "main", str(path))

    def commit(self, files: dict[str, str], message: str = "change", replace: bool = True) -> str:
        if replace:
            for old in git(self.path, "ls-files").splitlines():
                if old not in files:
                    (self.path / old).unlink()
        for name, text in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message, "--allow-empty")
        return git(self.path, "rev-parse", "HEAD")

    def refs(self, pattern: str = "refs/") -> dict[str, str]:
        out = git(self.path, "for-each-ref", "--format=%(refname) %(objectname)", pattern)
        return dict(line.split(" ") for line in out.splitlines())

    def read(self, ref: str, path: str) -> str:
        return git(self.path, "show", f"{ref}:{path}")

    def tree(self, ref: str) -> list[str]:
        return git(self.path, "ls-tree", "-r", "--name-only", ref).splitlines()

    def bundle(self, cluster: str) -> Bundle:
        data = git(self.path, "show", f"refs/heads/fleet/bundles/{cluster}:bundle.yaml").encode() + b"\n"
        return parse_bundle({"bundle.yaml": data})

    def _put(self, ref: str, name: str, data: bytes) -> None:
        blob = git(self.path, "hash-object", "-w", "--stdin", input=data)
        tree = git(self.path, "mktree", input=f"100644 blob {blob}\t{name}\n".encode())
        commit = git(self.path, "commit-tree", tree, "-m", f"{ref}")
        git(self.path, "update-ref", ref, commit)

    def beat(self, cluster: str, now: datetime, healthy: bool = True) -> None:
        hb = Heartbeat(cluster, format_time(now), "", Health(healthy, "", "2026-01-01T00:00:00Z"))
        self._put(f"refs/fleet/heartbeats/{cluster}", "heartbeat.yaml", dump_heartbeat(hb))

    def report(
        self,
        cluster: str,
        now: datetime,
        available: bool = True,
        applied: bool = True,
        available_reason: str = "AllManifestsAvailable",
    ) -> None:
        """The agent applied the bundle now on its branch and says so."""
        bundle = self.bundle(cluster)
        digests = placement_digests(bundle.placements, bundle.files)
        placements = tuple(
            PlacementReport(
                p.key,
                p.resource_index,
                bundle.bundle_id,
                (
                    Condition(
                        "Applied",
                        "True" if applied else "False",
                        "AllManifestsApplied",
                        "",
                        "2026-01-01T00:00:00Z",
                    ),
                    Condition(
                        "Available",
                        "True" if available else "False",
                        available_reason,
                        "",
                        "2026-01-01T00:00:00Z",
                    ),
                ),
                (),
                digests[p.key],
            )
            for p in bundle.placements
        )
        rep = ClusterReport(
            cluster,
            "0.1.0",
            format_time(now),
            bundle.bundle_id,
            health=Health(True, "", "2026-01-01T00:00:00Z"),
            placements=placements,
        )
        self._put(f"refs/heads/fleet/reports/{cluster}", "report.yaml", dump_report(rep))


def joined_fleet(path: Path, now: datetime, files: dict[str, str] | None = None) -> FleetWork:
    """A fleet repo committed with ``files`` (default: base_files()) whose members all beat at ``now``."""
    work = FleetWork(path)
    work.commit(files if files is not None else base_files())
    for c in CLUSTERS:
        work.beat(c, now)
    return work
