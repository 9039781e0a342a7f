"""Two ``fleetsync hub run --leader-elect`` processes on one fleet: what deploy/hub's two replicas do.

Real processes, as a Deployment runs them: each with its own cache, both polling one bare Git
repository (the fleet repo and the hub refs, over file://), both candidates for one Lease held
by kubesim (the processes find it through $KUBECONFIG, as outside a pod). Who published is read
from each process's JSON log (``reconciled`` with the refs it wrote) and who leads from the Lease
itself. Election timings are shortened (lease 4 s, renew deadline 3 s, retry 0.3 s) so that the
whole story takes seconds; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubesim.testing import running_sim
from reconciler.gitstore.refs import RefRace
from reconciler.gitstore.repo import open_hub_repo
from reconciler.hub.lease import KubeLeaseApi
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import FleetWork, base_files, joined_fleet
from tests.support.serving import request

FLEETSYNC = Path(sys.executable).parent / "fleetsync"
LEASE_SECONDS = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> float:
    """Seconds until ``check()`` held; fails with ``what`` after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


class Hub:
    """One ``hub run --leader-elect`` process; its log is JSON lines in a file."""

    def __init__(self, name: str, repo: str, lease: str, kubeconfig: Path, tmp: Path):
        self.name = name
        self.port = free_port()
        self.log = tmp / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "FLEETSYNC_"))}
        env.update(KUBECONFIG=str(kubeconfig), POD_NAME=name, HOME=str(tmp / name))
        args = [
            str(FLEETSYNC), "--log-format=json", "hub", "run", f"--repo={repo}", "--interval=1",
            f"--state-dir={tmp / name / 'cache'}", f"--http-address=127.0.0.1:{self.port}",
            "--leader-elect", "--leader-elect-namespace=default", f"--leader-elect-name={lease}",
            f"--leader-elect-lease-duration={LEASE_SECONDS:g}", "--leader-elect-renew-deadline=3",
            "--leader-elect-retry-period=0.3",
        ]  # fmt: skip
        (tmp / name).mkdir()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=out)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"message": line})
        return out

    def published(self) -> list[list[str]]:
        """The refs of every reconcile this process published, in order."""
        return [e["written"] for e in self.lines() if e["message"] == "reconciled" and e.get("written")]

    def readyz(self) -> str:
        try:
            reply = request(self.port, "GET", "/readyz")
        except OSError:
            return ""
        return reply.text if reply.status == 200 else ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


@pytest.fixture
def hubs(tmp_path: Path) -> Iterator[list[Hub]]:
    started: list[Hub] = []
    yield started
    for hub in started:
        if hub.proc.poll() is None:
            hub.proc.kill()
            hub.proc.wait(timeout=10)


def fleet_refs(bare: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "-C", str(bare), "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/fleet/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split(" ") for line in out.splitlines())


def push(work: FleetWork, bare: Path, version: str) -> None:
    work.commit(base_files(version=version), message=f"web {version}")
    subprocess.run(["git", "-C", str(work.path), "push", "-q", str(bare), "main"], check=True)


def test_two_hub_processes_one_publishes_the_other_takes_over_on_sigterm_and_git_refuses_the_stale(
    tmp_path: Path, hubs: list[Hub]
) -> None:
    now = datetime.now(UTC)
    work = joined_fleet(tmp_path / "work", now)
    bare = tmp_path / "fleet.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(work.path), str(bare)], check=True)
    url = f"file://{bare}"
    lease = f"hub-{uuid.uuid4().hex[:8]}"
    with running_sim(controllers="never") as sim, ExitStack() as stack:
        kubeconfig = tmp_path / "kubeconfig"
        sim.write_kubeconfig(kubeconfig)
        leases = stack.enter_context(
            closing(KubeLeaseApi.from_environment(lease, "default", kubeconfig=str(kubeconfig)))
        )

        def holder() -> str:
            record = leases.get()
            return record.holder.split("_")[0] if record is not None else ""

        hubs += [Hub(name, url, lease, kubeconfig, tmp_path) for name in ("hub-a", "hub-b")]  # at once
        wait_for("one hub to lead", lambda: holder() in ("hub-a", "hub-b"))
        [a] = [h for h in hubs if h.name == holder()]  # the leader
        [b] = [h for h in hubs if h is not a]
        wait_for("the leader to publish", lambda: bool(a.published()))
        wait_for(
            "the other to stand by, ready", lambda: b.readyz() == "ok: standing by, another replica leads\n"
        )
        # a hub that read the refs now and stalls until after a takeover: its view goes stale
        stale = stack.enter_context(open_hub_repo(url, cache_root=tmp_path / "stale"))
        stale.refresh()

        push(work, bare, "2")  # the leader publishes it; the standby never writes
        wait_for("the leader to publish web 2", lambda: len(a.published()) == 2)
        assert holder() == a.name and b.published() == [] and b.proc.poll() is None

        stopped = time.monotonic()
        assert a.stop() == 0  # SIGTERM: a clean stop, the Lease handed back
        wait_for("the standby to take over", lambda: holder() == b.name)
        assert time.monotonic() - stopped < LEASE_SECONDS, "took the lease duration: it was not released"
        assert any(e["message"] == "leader election: leading" for e in b.lines())

        push(work, bare, "3")
        wait_for("the new leader to publish web 3", lambda: bool(b.published()))
        refs = fleet_refs(bare)
        assert refs and b.readyz().startswith("ok:")

        # the stale hub publishes what it computed from its old refs: git refuses all of it
        with pytest.raises(RefRace):
            reconcile_once(stale, now + timedelta(hours=1), refresh=False, max_attempts=1)
        assert fleet_refs(bare) == refs
        assert b.stop() == 0
        assert not [e for h in (a, b) for e in h.lines() if e.get("level") in ("ERROR", "CRITICAL")]
