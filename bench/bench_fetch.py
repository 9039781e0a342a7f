"""Bytes one agent's shallow fetch of its own bundle branch moves, as the fleet grows.

Per-cluster branches are meant to keep an agent's fetch proportional to its own bundle, not to
the fleet (shared/design.md §3). This builds fleets of 10, 100 and 1,000 clusters in a bare
repository served by a real ``git daemon`` on 127.0.0.1 — every cluster with a bundle branch
(two generations, so there is history to leave behind), a report branch and a heartbeat ref —
then lets one agent do what agent/source.py does: ``git fetch --depth=1`` of its branch into an
empty repository. A byte-counting TCP relay between the agent and the daemon measures every
byte on the wire (ref advertisement, negotiation and pack), so nothing depends on git's own
accounting.

Figure: wire bytes / bundle bytes (the sum of the bundle's file sizes), per fleet size. Goal:
≤ 1.5 and flat. Run: ``.venv/bin/python -m bench.bench_fetch [--objects 200]``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from fleetsync_contract.bundle import BundleObject, BundlePlacement, build_bundle
from reconciler.gitstore.refs import RefUpdate
from reconciler.gitstore.repo import HubRepo
from tests.support.gitdaemon import GitDaemon, git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
KEY = "ClusterResourcePlacement/web"


class CountingRelay:
    """127.0.0.1:port → target port, counting bytes in each direction."""

    def __init__(self, target: int):
        self.target = target
        self.down = 0  # server → client
        self.up = 0
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, "down"), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while data := src.recv(65536):
                with self._lock:
                    setattr(self, direction, getattr(self, direction) + len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        with self._lock:
            self.down = self.up = 0

    def close(self) -> None:
        self._server.close()


def manifest(i: int, cluster: str, generation: int) -> dict[str, object]:
    data = {f"key-{k}": f"value {k} of object {i} generation {generation}" for k in range(8)}
    if i == 0:
        data["cluster"] = cluster  # one per-cluster override, as ${MEMBER-CLUSTER-NAME} would give
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"config-{i:04}", "namespace": "web", "labels": {"app": "web"}},
        "data": data,
    }


def bundle_files(cluster: str, objects: int, generation: int) -> dict[str, bytes]:
    placement = BundlePlacement(
        "ClusterResourcePlacement", "", "web", generation, {"type": "ClientSideApply"}
    )
    objs = [
        BundleObject(KEY, f"/ConfigMap/web/config-{i:04}", manifest(i, cluster, generation))
        for i in range(objects)
    ]
    return build_bundle(cluster, f"{generation:040x}", [placement], objs)


def build_fleet(bare: Path, clusters: int, objects: int) -> int:
    """Bundle branches (2 generations), report branches and heartbeats; returns one bundle's bytes."""
    size = 0
    with HubRepo.local(bare) as repo:
        report = repo.write_commit(
            repo.write_tree({"report.yaml": b"kind: ClusterReport\n"}), [], "report", NOW
        )
        beat = repo.write_commit(repo.write_tree({"heartbeat.yaml": b"kind: Heartbeat\n"}), [], "beat", NOW)
        updates: list[RefUpdate] = []
        for c in range(clusters):
            name = f"member-{c:04}"
            parent: list[str] = []
            for generation in (1, 2):
                files = bundle_files(name, objects, generation)
                commit = repo.write_commit(repo.write_tree(files), parent, f"gen {generation}", NOW)
                parent = [commit]
            if c == 0:
                size = sum(len(v) for v in files.values())
            updates += [
                RefUpdate(f"refs/heads/fleet/bundles/{name}", parent[0], None),
                RefUpdate(f"refs/heads/fleet/reports/{name}", report, None),
                RefUpdate(f"refs/fleet/heartbeats/{name}", beat, None),
            ]
        repo.publish(updates)
    return size


def agent_fetch(relay: CountingRelay, work: Path, name: str) -> int:
    agent = work / f"agent-{name}"
    git(work, "init", "-q", "--bare", str(agent))
    relay.reset()
    url = f"git://127.0.0.1:{relay.port}/fleet.git"
    git(
        agent,
        "fetch",
        "-q",
        "--depth=1",
        "--no-tags",
        url,
        f"+refs/heads/fleet/bundles/{name}:refs/remotes/hub/{name}",
    )
    return relay.down + relay.up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200, help="objects per bundle")
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes")
    args = parser.parse_args()
    print(f"{'clusters':>8}  {'bundle bytes':>12}  {'wire bytes':>10}  {'ratio':>6}")
    for clusters in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "served"
            root.mkdir()
            with GitDaemon(root) as daemon:
                bare = daemon.create("fleet.git")
                size = build_fleet(bare, clusters, args.objects)
                relay = CountingRelay(daemon.port)
                try:
                    wire = agent_fetch(relay, Path(tmp), f"member-{clusters // 2:04}")
                finally:
                    relay.close()
        print(f"{clusters:>8}  {size:>12}  {wire:>10}  {wire / size:>6.3f}")


if __name__ == "__main__":
    main()
