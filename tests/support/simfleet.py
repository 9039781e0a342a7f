"""A fleet of simulated members for end-to-end tests: the real hub and agents, kubesim clusters.

fleetsync/demo/fleet.py's LocalFleet runs the fleet repo, the hub and one simulated member with
its agent per cluster, all through Git. End-to-end tests start it the same way: from the files of
a fleet repo, on a clock the test moves by hand, never sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fleetsync.demo.fleet import LocalFleet

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


class Clock:
    """The fleet's clock: it says ``now``, which only the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def member(name: str, labels: Mapping[str, str] | None = None) -> str:
    """A MemberCluster with a 60-second heartbeat; label values stay strings (``order: "1"``)."""
    label_line = ""
    if labels:
        label_line = "  labels: {" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in labels.items()) + "}\n"
    return (
        f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: {name}\n"
        f"{label_line}spec: {{heartbeatPeriodSeconds: 60}}\n"
    )


def deployment_app(
    namespace: str, name: str, replicas: int, container: str, image: str = "nginx:1.27"
) -> str:
    """A Namespace and a Deployment of ``image`` in it (selector ``app: <name>``), made available by kubesim."""
    return f"""apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: {container}, image: "{image}"}}]
"""


@contextmanager
def sim_fleet(root: Path, files: Mapping[str, str], clock: Clock) -> Iterator[LocalFleet]:
    """The fleet repo made of ``files`` (path -> text) with its members started; all stopped on exit."""
    template = root / "template"
    for name, text in files.items():
        (template / name).parent.mkdir(parents=True, exist_ok=True)
        (template / name).write_text(text)
    with LocalFleet(root / "fleet", template, clock=clock, sleep=lambda _s: None) as fleet:
        fleet.create_repo()
        fleet.start_members()
        yield fleet


EXTERNAL_SHOP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: shop}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: shop}]
  policy: {placementType: PickAll}
  strategy: {type: External}
"""  # the namespace `shop` of deployment_app("shop", ...), moved only by staged update runs
