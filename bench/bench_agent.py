"""Apply N objects with the agent vs ``kubectl apply --server-side``, against the same test server.

The figure is the ratio kubectl time / agent time, measured in the same run against two fresh
KubeSim instances (one per client, so neither sees the other's objects), plus the agent's peak
resident memory while applying. Each size runs at every ``--latency-ms``: 0 is the simulator as
fast as it goes (~2 ms of CPU per apply in one Python process on the same two cores: both clients
wait on it), and an added per-request latency stands for a real kube-apiserver — 10 ms is what the
Python client saw per request on one (4.9 s for 501 sequential applies), 50 ms what kubectl took
per object there (31 s for 501). The latency is KubeSim's delay fault on every object request
(discovery is not delayed), the same for both clients.

The agent runs in a child process (so its RSS and CPU are its own, not the simulator's): one
``Agent.sync`` of a bundle fetched from a local bare repo — fetch, verify, waves with the agent's
default thread count, inventory, properties and the report push included — then a second sync
with nothing to change. The requests each client sent are counted by the server.

    .venv/bin/python -m bench.bench_agent                      # 100/250/500 objects at 0, 10, 50 ms
    .venv/bin/python -m bench.bench_agent --sizes 500 --latency-ms 50 --workers 8 --sweep-workers 16 32
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def objects(n: int) -> list[dict[str, Any]]:
    """n objects: namespaces, then an even mix of ConfigMaps, Secrets, ServiceAccounts, Services, Deployments."""
    namespaces = max(1, n // 100)
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{i}"}}
        for i in range(namespaces)
    ]
    i = 0
    while len(out) < n:
        ns = f"bench-{i % namespaces}"
        name = f"o{i}"
        kind = i % 5
        meta = {"name": name, "namespace": ns}
        if kind == 0:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": meta,
                    "data": {"k": str(i), "mode": "on"},
                }
            )
        elif kind == 1:
            out.append(
                {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"token": f"t{i}"}}
            )
        elif kind == 2:
            out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
        elif kind == 3:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": meta,
                    "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
                }
            )
        else:
            labels = {"app": name}
            out.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": meta,
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                        },
                    },
                }
            )
        i += 1
    return out


def child(repo: str, cluster: str, kubeconfig: str, state: str, workers: int) -> None:
    """Run in a subprocess: a first sync, then (after the parent said go on) a second one.

    Prints one JSON line after each, so the parent can read the server's request count between."""
    from datetime import UTC, datetime

    from agent.apply.kube import KubeClient
    from agent.bundles import MemoVerifier
    from agent.loop import Agent, AgentConfig
    from agent.source import GitSource

    with (
        KubeClient.from_kubeconfig(kubeconfig, connections=workers) as kube,
        GitSource(repo, cluster, Path(state), verify=MemoVerifier(cluster)) as source,
    ):
        agent = Agent(
            AgentConfig(cluster, workers=workers),
            kube,
            source,
            clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
        )
        waits = _time_applies(kube)
        cpu0, start = _cpu(), time.perf_counter()
        summary = agent.sync()
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
        outcomes: dict[str, int] = {}
        for r in summary.results:
            outcomes[r.outcome.value] = outcomes.get(r.outcome.value, 0) + 1
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "cpu": cpu,
                    "timings": dict(summary.timings),
                    "outcomes": outcomes,
                    "errors": summary.errors,
                    "apply_ms": 1000 * sum(waits) / max(1, len(waits)),
                }
            ),
            flush=True,
        )
        sys.stdin.readline()
        start = time.perf_counter()
        again = agent.sync()
        steady = time.perf_counter() - start
    print(
        json.dumps(
            {
                "steady": steady,
                "steady_unchanged": sum(r.outcome.value == "Unchanged" for r in again.results),
                "rss_mb": _peak_rss_kb() / 1024,
            }
        ),
        flush=True,
    )


def _peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: Linux carries that over from
    the parent across fork and exec, so it would report the benchmark's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _time_applies(kube: Any) -> list[float]:
    """Record how long each server-side apply takes, request to decoded response (the latency the
    server adds plus its queueing: KubeSim is one Python process answering one request at a time)."""
    waits: list[float] = []
    apply = kube.apply

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return apply(*args, **kwargs)
        finally:
            waits.append(time.perf_counter() - start)  # list.append is atomic across threads

    kube.apply = timed
    return waits


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _line(proc: subprocess.Popen[str], timeout: float = 600) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate()
        raise SystemExit(f"the agent child failed: {err.strip()[-2000:]}")
    return dict(json.loads(line))


COUNT = 10**9


def _slow(sim: Any, latency_ms: float) -> Any:
    """Every object request answers ``latency_ms`` late (a real API server's round trip); the
    fault also counts the requests (``COUNT - fault.times``)."""
    return sim.faults.add(status=0, delay=latency_ms / 1000, times=COUNT)


def _deep_backlog() -> None:
    """KubeSim listens with socketserver's default backlog of 5: a client opening 16 connections at
    once loses SYNs and waits a second for the kernel's retransmit, a stall no real API server
    (backlog: the kernel's somaxconn) causes. Give the simulators in this process a real backlog."""
    import http.server

    http.server.ThreadingHTTPServer.request_queue_size = 1024


def run_agent(objs: list[dict[str, Any]], tmp: Path, latency_ms: float, workers: int) -> dict[str, Any]:
    """One agent child against a fresh KubeSim: its first sync and its resync, with request counts."""
    from fleetsync_contract.bundle import BundlePlacement
    from kubesim.testing import running_sim
    from tests.support.agentfixtures import Hub

    _deep_backlog()
    n, cluster = len(objs), "bench"
    tmp = Path(tempfile.mkdtemp(prefix=f"agent-{n}-{latency_ms:g}-{workers}-", dir=tmp))
    p = BundlePlacement("ClusterResourcePlacement", "", "bench", 1, {"type": "ServerSideApply"}, 60)
    Hub(tmp, cluster).publish([(p, o) for o in objs])  # tmp/fleet.git, as the hub writes it
    with running_sim(controllers="never") as sim:
        fault = _slow(sim, latency_ms)
        kc = sim.write_kubeconfig(tmp / "agent.kubeconfig")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bench_agent",
                "--child",
                str(tmp / "fleet.git"),
                cluster,
                str(kc),
                str(tmp / "state"),
                str(workers),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        agent = _line(proc)
        agent["requests"] = COUNT - fault.times
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        agent.update(_line(proc))
        agent["steady_requests"] = COUNT - fault.times - agent["requests"]
        proc.communicate()
    return agent


def run_kubectl(objs: list[dict[str, Any]], tmp: Path, latency_ms: float) -> dict[str, Any]:
    """``kubectl apply --server-side`` of the same objects against a fresh KubeSim."""
    from kubesim.testing import running_sim

    _deep_backlog()
    tmp = Path(tempfile.mkdtemp(prefix=f"kubectl-{len(objs)}-{latency_ms:g}-", dir=tmp))
    manifest = tmp / "objects.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    with running_sim(controllers="never") as sim:
        fault = _slow(sim, latency_ms)
        kc = sim.write_kubeconfig(tmp / "kubectl.kubeconfig")
        start = time.perf_counter()
        k = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kc),
                "apply",
                "--server-side",
                "--validate=false",
                "--field-manager",
                "bench",
                "-f",
                str(manifest),
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        requests = COUNT - fault.times
    if k.returncode != 0:
        print(f"kubectl failed ({k.returncode}): {k.stderr.strip()[-500:]}", file=sys.stderr)
    return {"seconds": seconds, "requests": requests, "ok": k.returncode == 0}


def main() -> None:
    from agent.loop import WORKERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500])
    ap.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0, 10, 50],
        help="added server latency per object request (0: the simulator as fast as it goes)",
    )
    ap.add_argument(
        "--workers", type=int, default=WORKERS, help=f"the agent's threads per wave (default {WORKERS})"
    )
    ap.add_argument(
        "--sweep-workers",
        type=int,
        nargs="*",
        default=[8, 32],
        help="also run the agent with these thread counts at the largest size and latency",
    )
    ap.add_argument("--child", nargs=5, metavar=("REPO", "CLUSTER", "KUBECONFIG", "STATE", "WORKERS"))
    args = ap.parse_args()
    if args.child:
        repo, cluster, kubeconfig, state, workers = args.child
        child(repo, cluster, kubeconfig, state, int(workers))
        return
    if shutil.which("kubectl") is None:
        sys.exit("kubectl is not on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    rows: list[tuple[float, int, dict[str, Any], dict[str, Any]]] = []
    try:
        print(
            f"agent: {args.workers} threads per wave. sync = one whole agent sync (fetch, verify, parse, waves,"
        )
        print(
            "inventory, properties, report push); apply = its apply phase; ms/apply = mean time of one of its"
        )
        print(
            "server-side applies (the added latency plus the simulator's queue); cpu = the agent's CPU seconds in"
        )
        print(
            "the sync; req = object requests the server answered; resync = the next sync, nothing to change."
        )
        print(_HEADER)
        for latency, n in [(lat, n) for lat in args.latency_ms for n in args.sizes]:
            objs = objects(n)
            agent, kubectl = run_agent(objs, tmp, latency, args.workers), run_kubectl(objs, tmp, latency)
            rows.append((latency, n, agent, kubectl))
            print(_row(latency, n, args.workers, agent, kubectl), flush=True)
        _growth(rows)
        latency, n, _, kubectl = max(rows, key=lambda row: (row[0], row[1]))
        if args.sweep_workers:
            print(f"\nthreads per wave, {n} objects at {latency:g} ms (against the kubectl run above):")
            print(_HEADER)
            for workers in args.sweep_workers:
                print(
                    _row(latency, n, workers, run_agent(objects(n), tmp, latency, workers), kubectl),
                    flush=True,
                )
        _figure(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_HEADER = (
    f"{'latency':>7} {'objects':>7} {'threads':>7} {'sync s':>7} {'apply s':>7} {'ms/apply':>8} {'cpu s':>6} "
    f"{'req':>5} {'kubectl s':>9} {'req':>5} {'ratio':>6} {'apply ratio':>11} {'resync s':>8} {'req':>4} "
    f"{'RSS MB':>6}  outcomes"
)


def _row(latency: float, n: int, workers: int, a: dict[str, Any], k: dict[str, Any]) -> str:
    apply_s = a["timings"].get("apply", 0.0)
    ratio = k["seconds"] / a["seconds"] if a["seconds"] else float("nan")
    apply_ratio = k["seconds"] / apply_s if apply_s else float("nan")
    flag = "" if k["ok"] else " (kubectl failed)"
    line = (
        f"{latency:>5g}ms {n:>7} {workers:>7} {a['seconds']:>7.2f} {apply_s:>7.2f} {a['apply_ms']:>8.1f} "
        f"{a['cpu']:>6.2f} {a['requests']:>5} {k['seconds']:>9.2f} {k['requests']:>5} {ratio:>5.1f}x "
        f"{apply_ratio:>10.1f}x {a['steady']:>8.2f} {a['steady_requests']:>4} {a['rss_mb']:>6.1f}  "
        f"{a['outcomes']}{flag}"
    )
    if a["errors"]:
        line += f"\n         agent errors: {a['errors']}"
    return line


def _growth(rows: list[tuple[float, int, dict[str, Any], dict[str, Any]]]) -> None:
    """How each client's time grows with the object count, per latency."""
    print("\ngrowth with object count (seconds; ms per object in brackets):")
    for latency in sorted({row[0] for row in rows}):
        sized = sorted(((n, a, k) for lat, n, a, k in rows if lat == latency), key=lambda row: row[0])
        agent = "  ".join(f"{n}: {a['seconds']:.2f} [{1000 * a['seconds'] / n:.1f}]" for n, a, _ in sized)
        kubectl = "  ".join(f"{n}: {k['seconds']:.2f} [{1000 * k['seconds'] / n:.1f}]" for n, _, k in sized)
        print(f"{latency:>5g}ms  agent   {agent}")
        print(f"{'':>7}  kubectl {kubectl}")


def _figure(rows: list[tuple[float, int, dict[str, Any], dict[str, Any]]]) -> None:
    latency, n, a, k = max(rows, key=lambda row: (row[0], row[1]))
    print(
        f"\nfigure: {n} objects at {latency:g} ms per request: kubectl / agent sync = {k['seconds'] / a['seconds']:.1f}x "
        f"(goal >= 10x); agent peak RSS {max(row[2]['rss_mb'] for row in rows):.0f} MB, the most of the runs in the "
        "first table (goal <= 80 MB)"
    )


if __name__ == "__main__":
    main()
