"""Apply N objects with the agent vs ``kubectl apply --server-side``, against the same test server.

The figure is the ratio kubectl time / agent time, measured in the same run against two fresh
KubeSim instances (one per client, so neither sees the other's objects), plus the agent's peak
resident memory while applying. Each size runs twice: against the simulator as fast as it goes
(sub-millisecond answers: the client's own CPU decides), and with a per-request latency added to
every object request (``--latency-ms``; a real kube-apiserver's SSA round trip is tens of ms),
which is where the agent's 8 threads pay. The agent runs in a child process (so its RSS is its own, not
the simulator's): one ``Agent.sync`` of a bundle fetched from a local bare repo — fetch, verify,
waves with 8 threads, inventory, properties and the report push included.

    .venv/bin/python bench/bench_agent.py            # 100 and 500 objects
    .venv/bin/python bench/bench_agent.py --sizes 500
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}


def objects(n: int) -> list[dict[str, Any]]:
    """n objects: namespaces, then an even mix of ConfigMaps, Secrets, ServiceAccounts, Services, Deployments."""
    namespaces = max(1, n // 100)
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{i}"}} for i in range(namespaces)
    ]
    i = 0
    while len(out) < n:
        ns = f"bench-{i % namespaces}"
        name = f"o{i}"
        kind = i % 5
        meta = {"name": name, "namespace": ns}
        if kind == 0:
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": str(i), "mode": "on"}})
        elif kind == 1:
            out.append({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"token": f"t{i}"}})
        elif kind == 2:
            out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
        elif kind == 3:
            out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta,
                        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
        else:
            labels = {"app": name}
            out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                 "template": {"metadata": {"labels": labels},
                                              "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})
        i += 1
    return out


def publish(bare: Path, work: Path, cluster: str, objs: list[dict[str, Any]]) -> None:
    from fleetsync_contract.bundle import BundleObject, BundlePlacement, build_bundle, manifest_identity

    p = BundlePlacement("ClusterResourcePlacement", "", "bench", 1, {"type": "ServerSideApply"}, 60)
    files = build_bundle(cluster, "0" * 40, [p], [BundleObject(p.key, manifest_identity(o), manifest=o) for o in objs])
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=GIT_ENV)
    subprocess.run(["git", "init", "-q", str(work)], check=True, env=GIT_ENV)
    for name, data in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for args in (["add", "-A"], ["commit", "-qm", "bundle"], ["push", "-q", str(bare), f"HEAD:refs/heads/fleet/bundles/{cluster}"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=GIT_ENV)


def child(repo: str, cluster: str, kubeconfig: str, state: str) -> None:
    """Run in a subprocess: one agent sync; print seconds and peak RSS as JSON."""
    from datetime import UTC, datetime

    from agent.apply.kube import KubeClient
    from agent.bundles import MemoVerifier
    from agent.loop import Agent, AgentConfig
    from agent.source import GitSource

    with KubeClient.from_kubeconfig(kubeconfig) as kube, GitSource(
        repo, cluster, Path(state), verify=MemoVerifier(cluster)
    ) as source:
        agent = Agent(AgentConfig(cluster), kube, source, clock=lambda: datetime.now(UTC), sleep=time.sleep)
        start = time.perf_counter()
        summary = agent.sync()
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = agent.sync()
        steady = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes: dict[str, int] = {}
    for r in summary.results:
        outcomes[r.outcome.value] = outcomes.get(r.outcome.value, 0) + 1
    print(json.dumps({"seconds": seconds, "apply": summary.timings.get("apply", 0.0), "steady": steady,
                      "steady_unchanged": sum(r.outcome.value == "Unchanged" for r in again.results),
                      "rss_mb": rss_kb / 1024, "outcomes": outcomes, "errors": summary.errors}))


def _slow(sim: Any, latency_ms: float) -> None:
    """Every object request answers ``latency_ms`` late (a real API server's SSA round trip)."""
    if latency_ms:
        sim.faults.add(status=0, delay=latency_ms / 1000, times=10**9)


def run_size(n: int, tmp: Path, latency_ms: float) -> dict[str, Any]:
    from kubesim.testing import running_sim

    objs = objects(n)
    cluster = "bench"
    tmp = tmp / f"{n}-{latency_ms:g}"
    tmp.mkdir()
    bare, work = tmp / f"fleet-{n}.git", tmp / f"work-{n}"
    publish(bare, work, cluster, objs)
    with running_sim(controllers="never") as sim:
        _slow(sim, latency_ms)
        kc = sim.write_kubeconfig(tmp / f"agent-{n}.kubeconfig")
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(bare), cluster, str(kc), str(tmp / f"state-{n}")],
            check=True, capture_output=True, text=True,
        )
        agent = json.loads(out.stdout.strip().splitlines()[-1])
    manifest = tmp / f"objects-{n}.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    with running_sim(controllers="never") as sim:
        _slow(sim, latency_ms)
        kc = sim.write_kubeconfig(tmp / f"kubectl-{n}.kubeconfig")
        start = time.perf_counter()
        k = subprocess.run(
            ["kubectl", "--kubeconfig", str(kc), "apply", "--server-side", "--validate=false", "--field-manager", "bench", "-f", str(manifest)],
            capture_output=True, text=True,
        )
        kubectl_seconds = time.perf_counter() - start
    if k.returncode != 0:
        print(f"kubectl failed ({k.returncode}): {k.stderr.strip()[-500:]}", file=sys.stderr)
    return {"n": n, "agent": agent, "kubectl_seconds": kubectl_seconds, "kubectl_ok": k.returncode == 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0, 10],
                    help="added server latency per object request (0: the simulator as fast as it goes)")
    ap.add_argument("--child", nargs=4, metavar=("REPO", "CLUSTER", "KUBECONFIG", "STATE"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if shutil.which("kubectl") is None:
        sys.exit("kubectl is not on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    try:
        print("agent s = one whole sync (fetch, verify, parse, waves, inventory, properties, report push);")
        print("apply s = its apply phase; resync s = the next sync with nothing to change.")
        print(f"{'latency':>7} {'objects':>8} {'agent s':>8} {'apply s':>8} {'kubectl s':>10} {'ratio':>7} {'apply ratio':>11} "
              f"{'resync s':>9} {'agent RSS MB':>13}  outcomes")
        for latency, n in [(lat, n) for lat in args.latency_ms for n in args.sizes]:
            r = run_size(n, tmp, latency)
            a = r["agent"]
            ratio = r["kubectl_seconds"] / a["seconds"] if a["seconds"] else float("nan")
            flag = "" if r["kubectl_ok"] else " (kubectl failed)"
            apply_ratio = r["kubectl_seconds"] / a["apply"] if a["apply"] else float("nan")
            print(f"{latency:>5g}ms {n:>8} {a['seconds']:>8.2f} {a['apply']:>8.2f} {r['kubectl_seconds']:>10.2f} {ratio:>6.1f}x "
                  f"{apply_ratio:>10.1f}x {a['steady']:>9.2f} {a['rss_mb']:>13.1f}  {a['outcomes']}{flag}")
            if a["errors"]:
                print(f"         agent errors: {a['errors']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
