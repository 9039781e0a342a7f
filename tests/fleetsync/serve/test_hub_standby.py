"""A standby hub replica (``hub run --leader-elect``, another replica holds the Lease) is ready.

Two replicas behind a Deployment's rolling update and a PodDisruptionBudget only work if the
standby counts as ready: a new pod that never turns ready stalls the rollout, and a leader whose
standby is unready can never be drained. controller-runtime's and Flux's managers answer their
readiness check on every replica, leader or not; the hub does the same, while its leader keeps
the stricter "the last reconcile finished within N intervals".
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from fleetsync.serve.health import Health
from fleetsync.serve.wiring import serving_hub
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.run import Runner
from tests.support.fleethelpers import joined_fleet
from tests.support.serving import FakeClock, Passes, Reply, request

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def until_ready(port: int, timeout: float = 10) -> Reply:
    """/readyz once it answers 200 (the loop's scheduler starts in its own thread)."""
    deadline = time.monotonic() + timeout
    while (reply := request(port, "GET", "/readyz")).status != 200:
        assert time.monotonic() < deadline, reply.text
        time.sleep(0.05)
    return reply


def test_a_standby_replica_is_ready_while_its_loop_runs_and_never_reconciles(tmp_path: Path) -> None:
    fleet = joined_fleet(tmp_path / "fleet", NOW)
    leading = [False]
    with HubRepo.local(fleet.path) as repo, serving_hub(("127.0.0.1", 0), interval=30.0) as service:
        assert service is not None
        runner = Runner(repo, interval=30.0, clock=lambda: NOW, leading=lambda: leading[0])
        service.attach(runner)
        passes = Passes()
        runner.on_pass = passes.wrap(runner.on_pass)
        port = service.server.port
        assert request(port, "GET", "/readyz").status == 503  # the loop has not started
        thread = threading.Thread(target=runner.start, daemon=True)
        thread.start()
        try:
            reply = until_ready(port)
            assert reply.text == "ok: standing by, another replica leads\n"
            assert fleet.refs().get("refs/heads/fleet/status") is None  # the standby wrote nothing
            leading[0] = True  # elected: it reconciles at once and stays ready
            runner.poke()
            passes.wait(1)
            assert request(port, "GET", "/readyz").text.startswith("ok: the last reconcile finished")
            assert fleet.refs().get("refs/heads/fleet/status") is not None
        finally:
            runner.stop()
            thread.join(timeout=10)


def test_a_newly_elected_leader_gets_its_readiness_intervals_to_finish_a_first_reconcile() -> None:
    clock = FakeClock()
    health = Health("reconcile", 10.0, 3, clock=clock)
    health.watch(lambda: True)
    standby = [True]
    health.standby(lambda: standby[0])
    assert health.ready().ok
    standby[0] = False  # elected, its first reconcile still running
    clock.now += 29
    assert health.ready().ok
    clock.now += 2  # 31 s > 3 x 10 s since it was last seen standing by, and nothing finished
    assert health.ready().reason == "elected 31s ago and no reconcile has finished since"
    health.finished()
    assert health.ready().ok


def test_a_hub_without_leader_election_is_unready_until_its_first_reconcile() -> None:
    health = Health("reconcile", 10.0, 3, clock=FakeClock())
    health.watch(lambda: True)
    assert health.ready().reason == "no reconcile has finished yet"
