"""Fleet repos with two commits for ``fleetsync plan``: the template, or a generated fleet.

Plan tests import their shared changes (planfixtures.py) as a top-level module.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gitdaemon import git

from reconciler.plan import run as plan_cmd

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

TEMPLATE = Path(__file__).resolve().parents[2] / "fleet-repo-template"
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

    def plan_text(self, output: str = "markdown", labels: tuple[str, ...] = (APPROVE,),
                  reports_from: str | None = None) -> tuple[str, str, int]:
        return plan_cmd.run(self.path, "HEAD~1", "HEAD", output, NOW, labels=labels, reports_from=reports_from)

    def plan(self, labels: tuple[str, ...] = (APPROVE,), reports_from: str | None = None) -> tuple[dict[str, Any], int]:
        out, err, code = self.plan_text("json", labels, reports_from)
        assert code < 3, err
        doc: dict[str, Any] = json.loads(out)
        return doc, code


def init_repo(path: Path) -> PlanRepo:
    git(path.parent, "init", "-q", "-b", "main", str(path))
    repo = PlanRepo(path)
    repo.commit("base")
    return repo


@pytest.fixture
def template(tmp_path: Path) -> PlanRepo:
    """The fleet-repo-template, committed once (the base)."""
    path = tmp_path / "fleet"
    shutil.copytree(TEMPLATE, path)
    return init_repo(path)


def member(name: str, labels: dict[str, str]) -> str:
    lab = ", ".join(f"{k}: {v}" for k, v in sorted(labels.items()))
    return (f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: {name}\n"
            f"  labels: {{{lab}}}\nspec:\n  heartbeatPeriodSeconds: 60\n")


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


@pytest.fixture
def make_fleet(tmp_path: Path) -> Callable[[int], PlanRepo]:
    """A generated fleet of N clusters (a factory: the size is the test's)."""
    return lambda n: generated_fleet(tmp_path / f"fleet-{n}", n)
