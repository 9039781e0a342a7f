"""The fleet view's matrix page for N clusters x 50 placements vs ``json.dumps`` of the same model.

Fleet: N MemberCluster documents (labels, health, properties) and 50 ClusterResourcePlacement
status documents shaped as the hub writes them, each placement on about half the clusters with
a mix of states (available, applied, held by a rollout, failed, drifted). Nothing touches Git:
the bench times what a page view costs once the branches are read (fleetsync/ui/state.py reads
them again only when a ref moves).

Ours: the view model (``matrix``) plus the HTML through Jinja2 (``UiApp.handle("/")``).
Anchor, in the same process: ``json.dumps`` of that page's JSON form (the cheapest rendering of
the same facts). Prints the ratio, the page's size and how both grow at 100/500/1,000 clusters.
Goal: a 1,000 x 50 page well under a second.
Usage: python -m bench.bench_ui [--sizes 100,500,1000] [--placements 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from fleetsync.ui.app import UiApp, _plain
from fleetsync.ui.model import CommitLinks, Filters, matrix
from fleetsync.ui.state import FleetState

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
T = "2026-11-25T03:00:00Z"


def _cond(ctype: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message, "lastTransitionTime": T}


def cluster_doc(i: int) -> dict[str, Any]:
    name = f"member-{i:04d}"
    return {
        "apiVersion": "cluster.kubernetes-fleet.io/v1beta1",
        "kind": "MemberCluster",
        "metadata": {
            "name": name,
            "labels": {"environment": "production" if i % 3 else "staging", "region": f"region-{i % 7}"},
            "annotations": {"fleetsync.io/eligible": "true"},
        },
        "spec": {"heartbeatPeriodSeconds": 60},
        "status": {
            "agentStatus": [
                {
                    "type": "MemberAgent",
                    "conditions": [_cond("Joined", "True"), _cond("Healthy", "True" if i % 50 else "False")],
                    "lastReceivedHeartbeat": T,
                }
            ],
            "properties": {"kubernetes-fleet.io/node-count": {"value": str(3 + i % 5), "observationTime": T}},
        },
    }


def _entry(cluster: str, k: int) -> dict[str, Any]:
    """One placementStatuses entry in one of five states (k picks which)."""
    conds = [_cond("Scheduled", "True", "ScheduleSucceeded", f'picked "{cluster}" (affinity score: 1)')]
    entry: dict[str, Any] = {"clusterName": cluster, "observedResourceIndex": str(k % 4)}
    if k % 11 == 0:
        conds.append(_cond("RolloutStarted", "False", "RolloutNotStartedYet"))
    else:
        conds += [_cond(t, "True") for t in ("RolloutStarted", "Overridden", "WorkSynchronized")]
        conds.append(_cond("Applied", "False" if k % 13 == 0 else "True"))
        if k % 13:
            conds.append(_cond("Available", "True" if k % 5 else "Unknown"))
    if k % 17 == 0:
        entry["driftedPlacements"] = [
            {
                "group": "apps",
                "kind": "Deployment",
                "namespace": "web",
                "name": "web",
                "observedDrifts": [{"path": "/spec/replicas", "valueInHub": "3", "valueInMember": "5"}],
            }
        ]
    entry["conditions"] = conds
    return entry


def placement_doc(p: int, clusters: list[str]) -> dict[str, Any]:
    picked = [c for i, c in enumerate(clusters) if (i + p) % 2 == 0]
    return {
        "apiVersion": "placement.kubernetes-fleet.io/v1beta1",
        "kind": "ClusterResourcePlacement",
        "metadata": {"name": f"app-{p:02d}"},
        "status": {
            "conditions": [_cond("ClusterResourcePlacementScheduled", "True", "SchedulingPolicyFulfilled")],
            "observedResourceIndex": "3",
            "placementStatuses": [_entry(c, i + p) for i, c in enumerate(picked)],
        },
    }


def fleet_state(clusters: int, placements: int) -> FleetState:
    docs = [cluster_doc(i) for i in range(clusters)]
    names = [d["metadata"]["name"] for d in docs]
    return FleetState(
        repo="bench",
        status_commit="a" * 40,
        placements=tuple(placement_doc(p, names) for p in range(placements)),
        clusters=tuple(docs),
    )


def _best(fn: Any, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(n: int, placements: int, repeat: int) -> tuple[float, float, float, int]:
    """(page, model, anchor) seconds and the page's bytes for ``n`` clusters."""
    links = CommitLinks("https://git.example.com/fleet/commit/{sha}")
    state = fleet_state(n, placements)
    app = UiApp(lambda: state, links, lambda: NOW)
    app.handle("/")  # templates compiled once, as a server does
    page = _best(lambda: app.handle("/"), repeat)
    model = _best(lambda: matrix(state, Filters(), links), repeat)
    plain = _plain(matrix(state, Filters(), links))
    anchor = _best(lambda: json.dumps(plain), repeat)
    return page, model, anchor, len(app.handle("/").body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument("--placements", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'clusters':>8} {'cells':>7} {'page (s)':>9} {'model (s)':>9} {'json (s)':>9} {'ratio':>6} {'KiB':>7}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        page, model, anchor, size = measure(n, args.placements, args.repeat)
        print(
            f"{n:>8} {n * args.placements:>7} {page:>9.3f} {model:>9.3f} {anchor:>9.3f} "
            f"{page / anchor:>5.1f}x {size / 1024:>7.0f}"
        )


if __name__ == "__main__":
    main()
