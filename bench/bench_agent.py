"""Apply N objects with the agent vs ``kubectl apply --server-side`` as users run it, against the same test server.

Two anchors, each measured in the same run against a fresh KubeSim of its own (so no client sees
another's objects), each client in its own process as in production:

- ``kubectl apply --server-side`` as typed, which validates: kubectl 1.3x loads the server's
  OpenAPI v2 document before anything else and then asks the server to validate strictly
  (``fieldValidation=Strict``). KubeSim serves no ``/openapi/v2``, so the bench answers it with an
  empty document (kubectl then has no schema to check client-side: its validation costs only the
  fetch). On a real kube-apiserver the full documents make this kubectl much slower
  (issue 19 measured 15-22 s against 3.3-3.8 s with ``--validate=false`` for 500 objects on
  v1.36): against KubeSim this anchor is a lower bound of kubectl's real time.
- ``kubectl apply --server-side --validate=false``: no OpenAPI, no validation.

The agent runs in a child process: one ``Agent.sync`` of a bundle fetched from a local bare repo —
inventory read, fetch and verify, parse, waves with the agent's default thread count, prune,
health and properties, inventory write and the report push — then a second sync with nothing to
change. Its time is split into the apply phase and the fixed cost of a sync around it
(``overhead`` = sync - apply; the phases come from ``SyncSummary.timings``, verification is timed
by wrapping the verifier). Each size runs at every ``--latency-ms``: an added per-request latency
(KubeSim's delay fault on every object request, the same for every client; discovery is not
delayed) stands in for a remote API server — 50 ms is what kubectl took per object on a real one
(31 s for 501) — and 0 is the simulator as fast as it goes (~2 ms of CPU per apply in one Python
process on the same two cores: every client waits on it). The server counts each client's
requests; the agent's peak resident memory is its own (VmHWM).

    .venv/bin/python -m bench.bench_agent                      # 100/500/2,000 objects at 0 and 50 ms
    .venv/bin/python -m bench.bench_agent --sizes 500 --latency-ms 50 --sweep-workers 8 32
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

    verifier = MemoVerifier(cluster)
    verify_s: list[float] = []

    def verify(files: Any) -> list[str]:
        start = time.perf_counter()
        try:
            return verifier(files)
        finally:
            verify_s.append(time.perf_counter() - start)

    with (
        KubeClient.from_kubeconfig(kubeconfig, connections=workers) as kube,
        GitSource(repo, cluster, Path(state), verify=verify) as source,
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
                    "verify": sum(verify_s),
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


def _openapi_v2(sim: Any) -> None:
    """Answer ``GET /openapi/v2`` with an empty document (a protobuf message with no fields is
    zero bytes), which KubeSim does not serve: kubectl's default validation needs it to start."""
    discovery = sim._discovery

    def answer(path: str, accept: str) -> Any:
        if path == "/openapi/v2":
            return 200, "", {"Content-Type": "application/octet-stream"}
        return discovery(path, accept)

    sim._discovery = answer


def run_kubectl(objs: list[dict[str, Any]], tmp: Path, latency_ms: float, validate: bool) -> dict[str, Any]:
    """``kubectl apply --server-side`` (``validate``: as typed, else ``--validate=false``) of the
    same objects against a fresh KubeSim."""
    from kubesim.testing import running_sim

    _deep_backlog()
    tmp = Path(tempfile.mkdtemp(prefix=f"kubectl-{len(objs)}-{latency_ms:g}-", dir=tmp))
    manifest = tmp / "objects.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    with running_sim(controllers="never") as sim:
        _openapi_v2(sim)
        fault = _slow(sim, latency_ms)
        kc = sim.write_kubeconfig(tmp / "kubectl.kubeconfig")
        flags = [] if validate else ["--validate=false"]
        start = time.perf_counter()
        k = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(kc),
                "apply",
                "--server-side",
                *flags,
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


Row = tuple[
    float, int, dict[str, Any], dict[str, Any], dict[str, Any]
]  # latency, n, agent, kubectl, kubectl --validate=false


def main() -> None:
    from agent.loop import WORKERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 2000])
    ap.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0, 50],
        help="added server latency per object request (0: the simulator as fast as it goes)",
    )
    ap.add_argument(
        "--workers", type=int, default=WORKERS, help=f"the agent's threads per wave (default {WORKERS})"
    )
    ap.add_argument(
        "--sweep-workers",
        type=int,
        nargs="*",
        default=[],
        help="also run the agent with these thread counts at 500 objects (or the largest size) and the largest latency",
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
    rows: list[Row] = []
    try:
        print(__doc__.split("\n\n")[0].splitlines()[0])
        print(f"agent: {args.workers} threads per wave; load average at start {_load()}")
        print(_LEGEND)
        print(_HEADER)
        for latency, n in [(lat, n) for lat in args.latency_ms for n in args.sizes]:
            objs = objects(n)
            agent = run_agent(objs, tmp, latency, args.workers)
            kubectl = run_kubectl(objs, tmp, latency, validate=True)
            plain = run_kubectl(objs, tmp, latency, validate=False)
            rows.append((latency, n, agent, kubectl, plain))
            print(_row(latency, n, args.workers, agent, kubectl, plain), flush=True)
        _phases(rows)
        _growth(rows)
        if args.sweep_workers:
            latency, n, _, kubectl, plain = _anchor_row(rows)
            print(f"\nthreads per wave, {n} objects at {latency:g} ms (against the kubectl runs above):")
            print(_HEADER)
            for workers in args.sweep_workers:
                agent = run_agent(objects(n), tmp, latency, workers)
                print(_row(latency, n, workers, agent, kubectl, plain), flush=True)
        _figure(rows)
        print(
            f"load average at end {_load()} (2 cores; figures from a loaded machine when it is well above 2)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


_LEGEND = """sync = the agent's whole first sync; apply = its apply phase; overhead = sync - apply (inventory read,
fetch and verify, parse, prune, health and properties, inventory write, report push); ms/apply = mean
time of one of its server-side applies (the added latency plus the simulator's queue); cpu = the
agent's CPU seconds in the sync; req = object requests the server answered; kubectl = kubectl apply
--server-side as typed (validating), kc -v=f = with --validate=false; x = kubectl time / agent sync
time; resync = the agent's next sync, nothing to change."""

_HEADER = (
    f"{'latency':>7} {'objects':>7} {'threads':>7} {'sync s':>7} {'apply s':>7} {'overhd s':>8} {'ms/apply':>8} "
    f"{'cpu s':>6} {'req':>5} {'kubectl s':>9} {'x':>6} {'kc -v=f s':>9} {'x':>6} {'kc req':>6} "
    f"{'resync s':>8} {'req':>4} {'RSS MB':>6}  outcomes"
)


def _overhead(a: dict[str, Any]) -> float:
    return float(a["seconds"] - a["timings"].get("apply", 0.0))


def _ratio(k: dict[str, Any], a: dict[str, Any]) -> str:
    if not k["ok"]:
        return "failed"
    return f"{k['seconds'] / a['seconds']:.1f}x" if a["seconds"] else "nan"


def _row(
    latency: float, n: int, workers: int, a: dict[str, Any], k: dict[str, Any], plain: dict[str, Any]
) -> str:
    apply_s = a["timings"].get("apply", 0.0)
    line = (
        f"{latency:>5g}ms {n:>7} {workers:>7} {a['seconds']:>7.2f} {apply_s:>7.2f} {_overhead(a):>8.2f} "
        f"{a['apply_ms']:>8.1f} {a['cpu']:>6.2f} {a['requests']:>5} {k['seconds']:>9.2f} {_ratio(k, a):>6} "
        f"{plain['seconds']:>9.2f} {_ratio(plain, a):>6} {plain['requests']:>6} {a['steady']:>8.2f} "
        f"{a['steady_requests']:>4} {a['rss_mb']:>6.1f}  {a['outcomes']}"
    )
    if a["errors"]:
        line += f"\n         agent errors: {a['errors']}"
    return line


def _phases(rows: list[Row]) -> None:
    """Where the agent's fixed cost per sync goes, per row (seconds)."""
    print("\nthe agent's sync by phase (seconds; verify is part of fetch):")
    for latency, n, a, _, _ in rows:
        t = dict(a["timings"])
        parts = "  ".join(f"{k} {v:.3f}" for k, v in t.items())
        print(f"{latency:>5g}ms {n:>6}  {parts}  verify {a['verify']:.3f}  overhead {_overhead(a):.3f}")


def _growth(rows: list[Row]) -> None:
    """How each client's time grows with the object count, per latency."""
    print("\ngrowth with object count (seconds; ms per object in brackets):")
    for latency in sorted({row[0] for row in rows}):
        sized = sorted((r for r in rows if r[0] == latency), key=lambda r: r[1])
        for label, pick in (
            ("agent", lambda r: r[2]["seconds"]),
            ("overhead", lambda r: _overhead(r[2])),
            ("kubectl", lambda r: r[3]["seconds"]),
            ("kc -v=f", lambda r: r[4]["seconds"]),
        ):
            cells = "  ".join(f"{r[1]}: {pick(r):.2f} [{1000 * pick(r) / r[1]:.1f}]" for r in sized)
            print(f"{latency:>5g}ms  {label:<9} {cells}")


def _anchor_row(rows: list[Row]) -> Row:
    """The row the goals are about: 500 objects (or the size nearest it) at the largest latency."""
    latency = max(r[0] for r in rows)
    return min((r for r in rows if r[0] == latency), key=lambda r: abs(r[1] - 500))


def _figure(rows: list[Row]) -> None:
    latency, n, a, k, plain = _anchor_row(rows)
    print(
        f"\nfigure: first sync of {n} objects at {latency:g} ms per request: kubectl (validating) / agent = "
        f"{_ratio(k, a)} (goal >= 10x), kubectl --validate=false / agent = {_ratio(plain, a)} (goal >= 1.5x), "
        f"agent overhead {_overhead(a):.2f} s (goal <= 0.3 s); agent peak RSS "
        f"{max(r[2]['rss_mb'] for r in rows):.0f} MB"
    )
    for lat, size, a0, k0, p0 in rows:
        if lat == 0 and size == n:
            print(
                f"        at 0 ms (the simulator as fast as it goes): kubectl / agent = {_ratio(k0, a0)}, "
                f"kubectl --validate=false / agent = {_ratio(p0, a0)}, overhead {_overhead(a0):.2f} s"
            )


if __name__ == "__main__":
    main()
