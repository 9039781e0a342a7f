"""A fleet repo checkout in tmp_path with agents' report branches that carry drift files.

Reports are written with the wire contract's own writers (fleetsync_contract.report) and
committed with git plumbing onto ``refs/heads/fleet/reports/<cluster>``, as an agent pushes them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from fleetsync_contract.report import (
    ClusterReport,
    DriftType,
    ObjectDrift,
    ObjectResult,
    Outcome,
    PatchDetail,
    PlacementReport,
    drift_path,
    report_files,
)
from reconciler.hub.overrides import apply_prepared, prepare_overrides
from reconciler.hub.select import select_resources
from reconciler.load.fleet import LoadResult, load_directory

T_FIRST = "2026-11-25T02:00:00Z"
T_LAST = "2026-11-25T03:00:00Z"
CRP_KEY = "ClusterResourcePlacement/web"
DEPLOY = "apps/Deployment/web/frontend"


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, input=stdin)
    return done.stdout.decode().strip()


def member(name: str) -> str:
    return f"""apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{env: prod}}
spec:
  heartbeatPeriodSeconds: 60
"""


NAMESPACE = """apiVersion: v1
kind: Namespace
metadata:
  name: web
"""

# Comments and a flow mapping that a round-trip edit must keep as they are.
DEPLOYMENT = """# The storefront. Owned by team web.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: web
  labels: {app: frontend}   # selected by the Service
spec:
  replicas: 3  # sized for the default region
  selector:
    matchLabels: {app: frontend}
  template:
    metadata:
      labels: {app: frontend}
    spec:
      containers:
        - name: web
          image: "nginx:1.27"
"""

SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: web
stringData:
  password: from-the-vault
"""

CRP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
    - group: ""
      version: v1
      kind: Namespace
      name: web
  policy:
    placementType: PickAll
"""

EXISTING_RO = """# Per-region image pins.
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata:
  name: frontend-pins
  namespace: web
spec:
  resourceSelectors:
    - group: apps
      version: v1
      kind: Deployment
      name: frontend
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms:
            - labelSelector:
                matchLabels: {env: prod}
        jsonPatchOverrides:
          - op: replace
            path: /spec/template/spec/containers/0/image
            value: "nginx:1.27-prod"   # the prod pin
"""

KUSTOMIZATION = """resources:
  - settings.yaml
"""

KUSTOMIZED_CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: web
data:
  MODE: fast
"""

CLUSTERS = ("eu-1", "eu-2", "us-1")


def base_files() -> dict[str, str]:
    files = {f"clusters/{c}.yaml": member(c) for c in CLUSTERS}
    files.update(
        {
            "apps/web/namespace.yaml": NAMESPACE,
            "apps/web/deployment.yaml": DEPLOYMENT,
            "apps/web/secret.yaml": SECRET,
            "placements/web.yaml": CRP,
        }
    )
    return files


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    git(path, "config", "commit.gpgsign", "false")
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "fleet")
    return path


def drift(
    identity: str,
    *details: tuple[str, str | None, str | None],
    kind: DriftType = DriftType.DRIFT,
    placement: str = CRP_KEY,
) -> ObjectDrift:
    return ObjectDrift(
        identity,
        placement,
        kind,
        T_LAST,
        T_FIRST,
        7,
        tuple(PatchDetail(p, hub, mem) for p, hub, mem in details),
    )


def push_report(repo: Path, cluster: str, drifts: list[ObjectDrift], placement: str = CRP_KEY) -> None:
    """What an agent commits to fleet/reports/<cluster>: report.yaml plus one file per drift."""
    objects = tuple(
        ObjectResult(
            d.identity,
            "apps/v1",
            Outcome.DRIFTED,
            observed_generation=7,
            drift=drift_path(d.placement, d.identity),
        )
        for d in drifts
    )
    report = ClusterReport(
        cluster, "0.1.0", T_LAST, placements=(PlacementReport(placement, 0, "sha256:x", (), objects),)
    )
    files = report_files(report, {drift_path(d.placement, d.identity): d for d in drifts})
    with_index = {"GIT_INDEX_FILE": str(repo / ".git" / f"report-{cluster}.index")}
    env = {**with_index, "PATH": "/usr/bin:/bin", "HOME": str(repo)}
    for rel, data in files.items():
        blob = git(repo, "hash-object", "-w", "--stdin", stdin=data)
        subprocess.run(
            ["git", "-C", str(repo), "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"],
            check=True,
            env=env,
            capture_output=True,
        )
    tree = (
        subprocess.run(["git", "-C", str(repo), "write-tree"], check=True, env=env, capture_output=True)
        .stdout.decode()
        .strip()
    )
    commit = git(repo, "commit-tree", tree, "-m", f"report {cluster}")
    git(repo, "update-ref", f"refs/heads/fleet/reports/{cluster}", commit)
    (repo / ".git" / f"report-{cluster}.index").unlink()


def load_ref(repo: Path, ref: str, tmp: Path) -> LoadResult:
    """Load the fleet repo as committed on ``ref`` (an exported tree, not the work tree)."""
    tmp.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return load_directory(tmp)


def rendered(loaded: LoadResult, cluster: str, identity: str = DEPLOY) -> dict[str, Any]:
    """The manifest the hub renders for ``cluster``: selection plus every override that applies there."""
    spec = loaded.spec
    placement = spec.placements[CRP_KEY]
    prepared = prepare_overrides(
        select_resources(placement, spec.resources).objects,
        list(spec.cluster_overrides.values()),
        list(spec.resource_overrides.values()),
        placement,
    )
    result = apply_prepared(prepared, cluster, spec.members[cluster].labels)
    assert result.ok, result.error
    return next(dict(o.manifest) for o in result.objects if o.identity == identity)
