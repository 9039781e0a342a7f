"""End to end through Git: a commit to the fleet repo until every agent has applied it.

A fleet of N simulated members (kubesim, one per MemberCluster) with one PickAll placement of a
Namespace and a ConfigMap; the fleet repo is a bare repository served by a loopback
``git daemon``; the hub (reconciler/hub/loop.py) and N agents (agent/loop.py) each run in their own
thread, polling Git at fixed intervals exactly as ``fleetsync hub run`` / ``agent run`` would.
Each measured commit changes the ConfigMap's value; the latency is the time from the push until
the value is on every member (read straight from the simulators' stores, so observing costs
nothing). Prints p50 / p99 / max over the commits for each fleet size, with the poll intervals
used. Goal: p99 <= 5 s at 20 agents (Rancher Fleet and Config Sync poll Git every 15 s).

The placement rolls out with ``maxUnavailable: 100%``: the figure is the latency of the loop, not
of a rolling-update policy that deliberately holds clusters back.

Usage: python -m bench.bench_e2e [--sizes 5,20] [--commits 15] [--hub-interval 1] [--agent-interval 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fleetsync.demo.fleet import LocalFleet
from tests.support.gitdaemon import GitDaemon

CLUSTER = """apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{environment: bench, region: r{region}}}
spec:
  heartbeatPeriodSeconds: 60
status:
  properties:
    kubernetes-fleet.io/node-count: {{value: "2"}}
  resourceUsage:
    capacity: {{cpu: "8", memory: 32Gi}}
"""
PLACEMENT = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: bench
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: bench}
  policy:
    placementType: PickAll
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 100%, maxSurge: 100%, unavailablePeriodSeconds: 1}
"""
RESOURCES = """apiVersion: v1
kind: Namespace
metadata:
  name: bench
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: marker
  namespace: bench
data:
  value: "{value}"
"""


def make_template(root: Path, clusters: int) -> Path:
    t = root / "template"
    (t / "clusters").mkdir(parents=True)
    (t / "placements").mkdir()
    for i in range(clusters):
        (t / "clusters" / f"m{i:03d}.yaml").write_text(CLUSTER.format(name=f"m{i:03d}", region=i % 3))
    (t / "placements" / "bench.yaml").write_text(PLACEMENT)
    (t / "bench.yaml").write_text(RESOURCES.format(value="v0"))
    return t


def poller(
    stop: threading.Event, interval: float, step: Callable[[], object], errors: list[str], took: list[float]
) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            start = time.monotonic()
            try:
                step()
            except Exception as e:  # a failed pass is counted and retried, as the services do
                errors.append(f"{type(e).__name__}: {e}")
            took.append(time.monotonic() - start)
            stop.wait(interval)

    return threading.Thread(target=loop, daemon=True)


def values(fleet: LocalFleet) -> list[str]:
    out = []
    for m in fleet.members.values():
        assert m.sim is not None
        cm = m.sim.get_object("v1", "ConfigMap", "bench", "marker")
        out.append(str((cm or {}).get("data", {}).get("value", "")))
    return out


def all_have(fleet: LocalFleet, value: str) -> Callable[[], bool]:
    return lambda: all(v == value for v in values(fleet))


def wait_for(cond: Callable[[], bool], deadline_s: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if cond():
            return time.monotonic() - start
        time.sleep(0.02)  # the bench observes from outside; polling the stores is free
    return None


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def run(clusters: int, commits: int, hub_interval: float, agent_interval: float) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        template = make_template(root, clusters)
        served = root / "served"
        served.mkdir()
        stop = threading.Event()
        errors: list[str] = []
        with (
            GitDaemon(served) as daemon,
            LocalFleet(
                served,
                template,
                clock=lambda: datetime.now(UTC),
                sleep=time.sleep,
                remote_url=daemon.url("remote.git"),
                agent_workers=2,
            ) as fleet,
        ):
            fleet.create_repo()
            fleet.start_members()
            hub_took: list[float] = []
            agent_took: list[float] = []
            threads = [poller(stop, hub_interval, fleet.reconcile, errors, hub_took)]
            for m in fleet.members.values():
                agent = m.agent
                threads.append(poller(stop, agent_interval, agent.sync, errors, agent_took))
                threads.append(poller(stop, 20.0, agent.heartbeat, errors, []))
            for t in threads:
                t.start()
            try:
                joined = wait_for(all_have(fleet, "v0"), 120)
                if joined is None:
                    raise SystemExit(f"the fleet never converged on v0: {errors[-3:]}")
                print(f"  {clusters} clusters joined and applied v0 in {joined:.1f}s", flush=True)
                latencies: list[float] = []
                assert fleet.repo is not None
                for k in range(1, commits + 1):
                    fleet.repo.commit({"bench.yaml": RESOURCES.format(value=f"v{k}")}, f"bench: v{k}")
                    took = wait_for(all_have(fleet, f"v{k}"), 60)
                    if took is None:
                        raise SystemExit(f"commit v{k} did not reach every cluster in 60s: {errors[-3:]}")
                    latencies.append(took)
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=30)
        print(
            f"  one pass takes: hub p50 {statistics.median(hub_took):.2f}s max {max(hub_took):.2f}s; "
            f"agent p50 {statistics.median(agent_took):.2f}s max {max(agent_took):.2f}s"
        )
        if errors:
            print(f"  ({len(errors)} failed passes, last: {errors[-1][:160]})")
        return latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5,20")
    ap.add_argument("--commits", type=int, default=15)
    ap.add_argument("--hub-interval", type=float, default=1.0)
    ap.add_argument("--agent-interval", type=float, default=1.0)
    args = ap.parse_args()
    print(
        f"commit -> applied on every member; hub polls every {args.hub_interval}s, "
        f"agents every {args.agent_interval}s, loopback git daemon, {args.commits} commits per size"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        lat = run(n, args.commits, args.hub_interval, args.agent_interval)
        verdict = "meets" if pct(lat, 99) <= 5.0 else "MISSES"
        print(
            f"{n:>4} agents: p50 {statistics.median(lat):.2f}s  p99 {pct(lat, 99):.2f}s  "
            f"max {max(lat):.2f}s  ({verdict} the p99 <= 5 s goal)",
            flush=True,
        )


if __name__ == "__main__":
    main()
