"""Leaving the fleet end to end (docs/hub.md "Leaving the fleet"): a real hub, real agents, kubesim.

A two-cluster fleet places the namespace ``web`` and its ConfigMap everywhere. eu-1 leaves with
``fleetsync.io/leave: "true"`` (no ``Fleetsync-Allow-Prune`` trailer): the hub publishes an
empty bundle, its agent removes what it placed — except the Namespace, which the agent's prune
keeps as a protected kind — and the MemberCluster's ``Joined`` condition says how much remains.
us-1 leaves with ``keep-resources``: its objects stay. Deleting eu-1's file then completes its leave.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleetsync.demo.fleet import LocalFleet
from reconciler.status.memory import load_hub_yaml
from tests.support.fleethelpers import base_files

pytestmark = pytest.mark.slow

MAX_ROUNDS = 8
CLUSTERS = {"eu-1": "europe", "us-1": "america"}


def settings(fleet: LocalFleet, cluster: str) -> dict[str, Any] | None:
    sim = fleet.members[cluster].sim
    assert sim is not None
    return sim.get_object("v1", "ConfigMap", "web", "settings")


def round_trip(fleet: LocalFleet) -> None:
    fleet.reconcile()
    failed = {c: s for c, s in fleet.sync().items() if isinstance(s, BaseException) or s.errors}
    assert not failed, failed


def joined(fleet: LocalFleet, cluster: str) -> dict[str, Any] | None:
    fleet.reconcile()  # the hub folds in the agents' last reports
    files = fleet.inputs().status_files
    data = files.get(f"clusters/{cluster}.yaml")
    if data is None:
        return None
    doc = load_hub_yaml(data)
    return dict(next(c for c in doc["status"]["conditions"] if c["type"] == "Joined"))


def annotated(files: dict[str, str], cluster: str, value: str) -> dict[str, str]:
    path = f"clusters/{cluster}.yaml"
    return {
        path: files[path].replace("  labels:", f"  annotations: {{fleetsync.io/leave: {value!r}}}\n  labels:")
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("leaving")
    template = root / "template"
    for path, text in base_files(clusters=CLUSTERS).items():
        (template / path).parent.mkdir(parents=True, exist_ok=True)
        (template / path).write_text(text)
    with LocalFleet(root / "run", Path(template), clock=lambda: datetime.now(UTC), sleep=time.sleep) as f:
        f.create_repo()
        f.start_members()
        f.reconcile()
        f.sync()  # agents join: the hub schedules only clusters whose agent has reported
        for _ in range(MAX_ROUNDS):
            round_trip(f)
            if all(settings(f, c) for c in CLUSTERS):
                break
        yield f


def test_a_leaving_cluster_loses_what_was_placed_and_its_status_says_what_remains(fleet: LocalFleet) -> None:
    assert fleet.repo is not None
    assert all(settings(fleet, c) is not None for c in CLUSTERS)
    files = base_files(clusters=CLUSTERS)
    fleet.repo.commit(annotated(files, "eu-1", "true"), "eu-1 leaves the fleet")  # no trailer
    for _ in range(MAX_ROUNDS):
        round_trip(fleet)
        if settings(fleet, "eu-1") is None:
            break
    assert settings(fleet, "eu-1") is None
    assert settings(fleet, "us-1") is not None  # the other member keeps its placement
    report = fleet.inputs().agents["eu-1"].report
    assert report is not None and report.prune.refused == ""
    assert [(i.kind, i.name) for i in report.inventory] == [("Namespace", "web")]  # protected: kept
    condition = joined(fleet, "eu-1")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "MemberClusterLeaving")
    assert "1 placed object(s) remain" in condition["message"]
    assert "prune/eu-1.yaml" not in fleet.inputs().status_files


def test_keep_resources_leaves_the_objects_on_the_cluster(fleet: LocalFleet) -> None:
    assert fleet.repo is not None
    files = base_files(clusters=CLUSTERS)
    fleet.repo.commit(
        {**annotated(files, "eu-1", "true"), **annotated(files, "us-1", "keep-resources")},
        "us-1 leaves, keeping its objects",
    )
    for _ in range(3):
        round_trip(fleet)
    assert settings(fleet, "us-1") is not None
    condition = joined(fleet, "us-1")
    assert condition is not None and condition["reason"] == "MemberClusterLeft"


def test_deleting_the_file_completes_the_leave(fleet: LocalFleet) -> None:
    assert fleet.repo is not None
    fleet.repo.commit({"clusters/eu-1.yaml": None}, "eu-1 has left")
    round_trip(fleet)
    assert joined(fleet, "eu-1") is None
    assert settings(fleet, "eu-1") is None
