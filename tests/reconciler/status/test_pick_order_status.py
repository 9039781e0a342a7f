"""``get placements`` shows, per cluster, when the scheduler picked it: the scheduling cycle and
the pick order, remembered in ``fleet/status`` so they survive later reconciles, and continued
(not restarted) when the placement later picks more clusters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import FleetWork, base_files, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def pick_n(n: int) -> str:
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: web}}
  policy:
    placementType: PickN
    numberOfClusters: {n}
    affinity:
      clusterAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 10
            preference: {{labelSelector: {{matchLabels: {{region: america}}}}}}
"""


def picks(work: FleetWork) -> dict[str, tuple[int, int]]:
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    result = CliRunner().invoke(app, ["get", "placements", "web", "-o", "json", "--repo", str(work.path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return {
        s["clusterName"]: (s["schedulingCycle"], s["pickOrder"]) for s in doc["status"]["placementStatuses"]
    }


def test_placement_status_shows_pick_order_kept_and_continued(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW, base_files(placement=pick_n(2)))
    # america scores 10: us-2 then us-1 (ties by descending name)
    assert picks(work) == {"us-2": (1, 1), "us-1": (1, 2)}
    work.commit(base_files(version="2", placement=pick_n(2)))
    assert picks(work) == {"us-2": (1, 1), "us-1": (1, 2)}  # remembered, not re-picked
    work.commit(base_files(version="2", placement=pick_n(3)))
    assert picks(work) == {"us-2": (1, 1), "us-1": (1, 2), "eu-2": (2, 3)}  # the next pick continues
