"""``hub run``'s HTTP port against a real hub loop on a small fleet: readiness follows the loop,
/metrics follows real reconciles (and the status the hub wrote), a signed push reconciles now."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.serve.wiring import HubService, serving_hub
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import ReconcileResult
from reconciler.hub.run import Runner
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, joined_fleet
from tests.support.serving import FakeClock, Passes, github_signature, request, samples, value

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SECRET = b"hub-secret"
INTERVAL = 3600.0  # never the timer: every pass in these tests is asked for


@pytest.fixture
def fleet(tmp_path: Path) -> FleetWork:
    return joined_fleet(tmp_path / "fleet", NOW)


@dataclass
class Hub:
    runner: Runner
    service: HubService
    passes: Passes
    clock: FakeClock
    results: list[ReconcileResult]
    thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop the loop and wait until it has shut down (``Runner.stop`` only asks)."""
        self.runner.stop()
        assert self.thread is not None
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()

    @property
    def port(self) -> int:
        return self.service.server.port

    def get(self, path: str) -> tuple[int, str]:
        reply = request(self.port, "GET", path)
        assert reply.headers["content-type"].startswith("text/plain")
        return reply.status, reply.text


@contextmanager
def running_hub(repo: HubRepo, secret: bytes | None = None) -> Iterator[Hub]:
    """The hub's loop with its HTTP port on 127.0.0.1, as ``hub run`` wires them; readiness on a
    clock the test moves. The first pass starts at once."""
    clock = FakeClock()
    with serving_hub(("127.0.0.1", 0), interval=INTERVAL, clock=clock, secret=secret) as service:
        assert service is not None
        runner = Runner(repo, interval=INTERVAL, clock=lambda: NOW)
        results: list[ReconcileResult] = []
        runner.on_result = results.append
        service.attach(runner)
        passes = Passes()
        runner.on_pass = passes.wrap(runner.on_pass)
        hub = Hub(runner, service, passes, clock, results)
        assert hub.get("/healthz")[0] == 503  # not started yet
        thread = threading.Thread(target=runner.start, daemon=True)
        hub.thread = thread
        thread.start()
        try:
            yield hub
        finally:
            runner.stop()
            thread.join(timeout=10)


def test_readiness_follows_the_loop_as_it_runs_and_stalls(fleet: FleetWork) -> None:
    with HubRepo.local(fleet.path) as repo, running_hub(repo) as hub:
        hub.passes.wait(1)
        assert hub.get("/healthz") == (200, "ok: the reconcile loop is running\n")
        assert hub.get("/readyz") == (200, "ok: the last reconcile finished 0s ago\n")
        hub.clock.now += 3 * INTERVAL + 1  # three intervals and no pass: stalled
        status, reason = hub.get("/readyz")
        assert (status, reason) == (503, "the last reconcile finished 10801s ago, more than 3 x 3600s\n")
        assert hub.get("/healthz")[0] == 200  # alive all the same: a restart would not help
        hub.runner.poke()
        hub.passes.wait(2)
        assert hub.get("/readyz")[0] == 200
        hub.stop()
        assert hub.get("/healthz") == (503, "the reconcile loop is not running\n")
        assert hub.get("/readyz")[0] == 503


def test_metrics_follow_a_real_reconcile_and_the_status_it_wrote(fleet: FleetWork) -> None:
    with HubRepo.local(fleet.path) as repo, running_hub(repo) as hub:
        hub.passes.wait(1)
        found = samples(hub.port)
        repo_labels = {"kind": "FleetRepo", "name": "main", "namespace": ""}
        assert value(found, "gotk_reconcile_duration_seconds_count", **repo_labels) == 1
        assert value(found, "gotk_reconcile_duration_seconds_sum", **repo_labels) > 0
        assert value(found, "fleetsync_reconcile_total", result="success", **repo_labels) == 1
        assert value(found, "fleetsync_last_success_timestamp_seconds", **repo_labels) > 1.7e9
        ready = {"type": "Ready", **repo_labels}
        assert value(found, "gotk_reconcile_condition", status="True", **ready) == 1
        assert value(found, "gotk_reconcile_condition", status="False", **ready) == 0
        web = {"kind": "ClusterResourcePlacement", "name": "web", "namespace": ""}
        scheduled = {"type": "ClusterResourcePlacementScheduled", **web}
        assert value(found, "gotk_reconcile_condition", status="True", **scheduled) == 1
        applied = {"type": "ClusterResourcePlacementApplied", **web}  # no agent has reported yet
        assert value(found, "gotk_reconcile_condition", status="Unknown", **applied) == 1
        for cluster in CLUSTERS:
            joined = {"kind": "MemberCluster", "name": cluster, "type": "Joined"}
            assert value(found, "gotk_reconcile_condition", status="True", **joined) == 1
        assert value(found, "fleetsync_git_failures_total", operation="fetch") == 0
        assert value(found, "fleetsync_git_failures_total", operation="push") == 0
        assert "process_resident_memory_bytes" in found

        without_web = base_files()
        del without_web["placements/web.yaml"]
        fleet.commit(without_web)  # the placement is deleted: its series go
        hub.runner.poke()
        hub.passes.wait(2)
        found = samples(hub.port)
        assert value(found, "gotk_reconcile_duration_seconds_count", **repo_labels) == 2
        assert not [s for s in found["gotk_reconcile_condition"] if s[0]["name"] == "web"]


def test_a_commit_that_does_not_load_is_invalid_and_not_ready_as_a_condition(fleet: FleetWork) -> None:
    fleet.commit({**base_files(), "fleetsync.yaml": "include: [unclosed"})  # repo-wide: held
    with HubRepo.local(fleet.path) as repo, running_hub(repo) as hub:
        hub.passes.wait(1)
        found = samples(hub.port)
        labels = {"kind": "FleetRepo", "name": "main"}
        assert value(found, "fleetsync_reconcile_total", result="invalid", **labels) == 1
        assert value(found, "gotk_reconcile_condition", type="Ready", status="False", **labels) == 1
        assert "fleetsync_last_success_timestamp_seconds" not in found
        assert hub.get("/readyz")[0] == 200  # the loop works; the commit is the user's to fix


def test_a_failed_fetch_is_counted_and_the_hub_reports_not_ready_as_a_condition(
    fleet: FleetWork, tmp_path: Path
) -> None:
    with HubRepo.cached(tmp_path / "cache", str(fleet.path)) as repo, running_hub(repo) as hub:
        hub.passes.wait(1)
        shutil.move(fleet.path, tmp_path / "gone")  # the remote disappears
        hub.runner.poke()
        hub.passes.wait(2)
        found = samples(hub.port)
        labels = {"kind": "FleetRepo", "name": "main"}
        assert value(found, "fleetsync_git_failures_total", operation="fetch") == 1
        assert value(found, "fleetsync_reconcile_total", result="error", **labels) == 1
        assert value(found, "gotk_reconcile_condition", type="Ready", status="False", **labels) == 1
        assert value(found, "gotk_reconcile_duration_seconds_count", **labels) == 2


def test_a_signed_push_reconciles_now_instead_of_at_the_next_interval(fleet: FleetWork) -> None:
    with HubRepo.local(fleet.path) as repo, running_hub(repo, secret=SECRET) as hub:
        hub.passes.wait(1)
        commit = fleet.commit(base_files(version="2"))
        body = b'{"ref": "refs/heads/main"}'
        unsigned = request(hub.port, "POST", "/hook", body)
        assert unsigned.status == 401
        reply = request(hub.port, "POST", "/hook", body, github_signature(SECRET, body))
        assert reply.status == 202, reply.text
        hub.passes.wait(2)
        assert hub.results[-1].source_commit == commit and hub.results[-1].written


def test_hub_run_refuses_an_unsigned_webhook_unless_told_it_is_insecure(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["hub", "run", "--repo", str(tmp_path), "--webhook-port", "0"])
    assert result.exit_code == 2
    assert "--webhook-secret-file" in result.output and "--webhook-insecure" in result.output
    both = ["--http-address", ":8080", "--http-port", "8080"]
    result = CliRunner().invoke(app, ["hub", "run", "--repo", str(tmp_path), *both])
    assert result.exit_code == 2 and "not both" in result.output
    (tmp_path / "secret").write_text("s")
    secret_only = ["--webhook-secret-file", str(tmp_path / "secret")]
    result = CliRunner().invoke(app, ["hub", "run", "--repo", str(tmp_path), *secret_only])
    assert result.exit_code == 2 and "--http-address" in result.output
