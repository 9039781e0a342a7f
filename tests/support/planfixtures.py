"""The changes plan tests make to the fleet-repo-template, written once.

test_plan_template.py asserts the JSON plan of each change and test_plan_done_when.py the
Markdown comment of the same change: both call these functions, so they cannot drift apart.

Plan tests import this module as a top-level module (tests/plan/conftest.py puts this folder
on ``sys.path``), the way tests/staged imports stagedfixtures.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

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
    """What a change needs of tests/plan/conftest.py's PlanRepo."""

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
    t.edit("apps/checkout/checkout.yaml", lambda s: s.replace(
        "          image: ghcr.io/example/checkout:2.8.1\n",
        "          image: ghcr.io/example/checkout:2.8.1\n          securityContext: {privileged: true}\n"))


def invalid(t: Template) -> None:
    """web's placementType becomes one KubeFleet does not have (placements/web.yaml line 16)."""
    t.edit("placements/web.yaml", lambda s: s.replace("placementType: PickN", "placementType: PickSome"))


def no_change(t: Template) -> None:
    """Only the README changes: no cluster renders anything new."""
    t.edit("README.md", lambda s: s + "\nA note.\n")
