"""The changes plan tests make to the fleet-repo-template, written once.

test_plan_template.py asserts the JSON plan of each change and test_plan_done_when.py the
Markdown comment of the same change: both call these functions, so they cannot drift apart.

``PlanRepo`` is the non-bare repo a plan runs in: the template committed once
(tests/reconciler/plan/conftest.py's ``template`` fixture), or a generated fleet of N clusters
(``generated_fleet``, also the fleets bench/bench_plan.py plans).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler.plan import run as plan_cmd
from tests.support.gitdaemon import git

BATCH_APP = """apiVersion: v1
kind: Namespace
metadata:
  name: batch
  labels: {owner: data-team}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: batch-config
  namespace: batch
data:
  QUEUE: jobs
"""
BATCH_PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: batch
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: batch}
  policy:
    placementType: PickN
    numberOfClusters: 2
    affinity:
      clusterAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          clusterSelectorTerms:
            - labelSelector:
                matchLabels: {environment: staging}
            - labelSelector:
                matchLabels: {environment: development}
"""


class Template(Protocol):
    """What a change needs of PlanRepo."""

    def write(self, name: str, text: str) -> None: ...

    def edit(self, name: str, change: Callable[[str], str]) -> None: ...


def new_pickn(t: Template) -> None:
    """A new app (a Namespace and a ConfigMap) placed by a PickN of 2 over staging or development."""
    t.write("apps/batch/batch.yaml", BATCH_APP)
    t.write("placements/batch.yaml", BATCH_PLACEMENT)


def label_moves(t: Template) -> None:
    """prod-eu-2 becomes a staging cluster: web's PickN drops it and picks prod-us-1."""
    t.edit("clusters/prod-eu-2.yaml", lambda s: s.replace("environment: production", "environment: staging"))


def override_subset(t: Template) -> None:
    """The westeurope replicas override changes: only prod-eu-1 and prod-eu-2 render differently."""
    t.edit("overrides/web-region.yaml", lambda s: s.replace("value: 5", "value: 7"))


def privileged(t: Template) -> None:
    """checkout's container becomes privileged: the Deny policy no-privileged-containers fires."""
    t.edit(
        "apps/checkout/checkout.yaml",
        lambda s: s.replace(
            "          image: ghcr.io/example/checkout:2.8.1\n",
            "          image: ghcr.io/example/checkout:2.8.1\n          securityContext: {privileged: true}\n",
        ),
    )


def invalid(t: Template) -> None:
    """web's placementType becomes one KubeFleet does not have (placements/web.yaml line 16)."""
    t.edit("placements/web.yaml", lambda s: s.replace("placementType: PickN", "placementType: PickSome"))


def no_change(t: Template) -> None:
    """Only the README changes: no cluster renders anything new."""
    t.edit("README.md", lambda s: s + "\nA note.\n")


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
APPROVE = "fleetsync/approve-blast-radius"


class PlanRepo:
    """A non-bare git repo: edit files, commit, and plan HEAD~1..HEAD."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, name: str, text: str) -> None:
        p = self.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def edit(self, name: str, change: Callable[[str], str]) -> None:
        p = self.path / name
        before = p.read_text()
        after = change(before)
        assert after != before, f"{name}: the edit changed nothing"
        p.write_text(after)

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    def commit(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message, "--allow-empty")
        return git(self.path, "rev-parse", "HEAD")

    def plan_text(
        self, output: str = "markdown", labels: tuple[str, ...] = (APPROVE,), reports_from: str | None = None
    ) -> tuple[str, str, int]:
        return plan_cmd.run(
            self.path, "HEAD~1", "HEAD", output, NOW, labels=labels, reports_from=reports_from
        )

    def plan(
        self, labels: tuple[str, ...] = (APPROVE,), reports_from: str | None = None
    ) -> tuple[dict[str, Any], int]:
        out, err, code = self.plan_text("json", labels, reports_from)
        assert code < 3, err
        doc: dict[str, Any] = json.loads(out)
        return doc, code


def init_repo(path: Path) -> PlanRepo:
    git(path.parent, "init", "-q", "-b", "main", str(path))
    repo = PlanRepo(path)
    repo.commit("base")
    return repo


def member(name: str, labels: dict[str, str]) -> str:
    lab = ", ".join(f"{k}: {v}" for k, v in sorted(labels.items()))
    return (
        f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: {name}\n"
        f"  labels: {{{lab}}}\nspec:\n  heartbeatPeriodSeconds: 60\n"
    )


APP = """apiVersion: v1
kind: Namespace
metadata:
  name: app
  labels: {{owner: team-a}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: app
data:
  VERSION: "{version}"
"""

PICKALL = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: app
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: app}
  policy:
    placementType: PickAll
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 10%, maxSurge: 10%}
"""


def generated_fleet(path: Path, clusters: int, version: str = "1") -> PlanRepo:
    """``clusters`` members in 5 regions, one PickAll placement of a namespace and a ConfigMap."""
    path.mkdir(parents=True)
    repo = PlanRepo(path)
    for i in range(clusters):
        repo.write(f"clusters/c-{i:04d}.yaml", member(f"c-{i:04d}", {"region": f"r{i % 5}"}))
    repo.write("apps/app.yaml", APP.format(version=version))
    repo.write("placements/app.yaml", PICKALL)
    repo.write("fleetsync.yaml", "apiVersion: fleetsync.io/v1alpha1\nkind: FleetSettings\npolicies: []\n")
    git(path.parent, "init", "-q", "-b", "main", str(path))
    repo.commit("base")
    return repo
