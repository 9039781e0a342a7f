"""``agent run``'s HTTP port against a real agent: its bundle branch in a bare git repo, its
cluster a KubeSim over HTTP. Readiness follows the sync loop; /metrics follows real syncs."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.apply.kube import KubeClient
from agent.loop import Agent, AgentConfig
from agent.runner import Runner, SyncPass
from agent.source import GitSource
from fleetsync.serve.wiring import AgentService, serving_agent
from fleetsync_contract.integrity import verify
from tests.support.agentfixtures import ENV, Hub, git, new_prefix, placement, short_sleep
from tests.support.serving import FakeClock, Passes, request, samples, value


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeClient]:
    from kubesim.testing import running_sim

    with running_sim() as sim:
        path = sim.write_kubeconfig(tmp_path_factory.mktemp("sim") / "kubeconfig")
        with KubeClient.from_kubeconfig(str(path)) as client:
            yield client


def objects(prefix: str, *configmaps: str) -> list[tuple[Any, dict[str, Any]]]:
    p = placement()
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{prefix}-app"}}
    cms = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": f"{prefix}-app"}}
        for n in configmaps
    ]
    return [(p, ns), *((p, cm) for cm in cms)]


def bundle_bytes(hub: Hub) -> int:
    names = git(hub.bare, "ls-tree", "-r", "--name-only", hub.branch).splitlines()
    show = ["git", "show"]
    return sum(
        len(subprocess.run([*show, f"{hub.branch}:{n}"], cwd=hub.bare, env=ENV, capture_output=True).stdout)
        for n in names
    )


@contextmanager
def running_agent(
    kube: KubeClient, hub: Hub, tmp_path: Path, interval: float, clock: FakeClock
) -> Iterator[tuple[Runner, AgentService, Passes, threading.Thread]]:
    """An agent looping on its runner, its HTTP port on 127.0.0.1 wired as ``agent run`` wires it."""
    prefix = new_prefix()
    with (
        GitSource(
            str(hub.bare), hub.cluster, tmp_path / "state", verify=lambda f: verify(f, hub.cluster)
        ) as source,
        serving_agent(("127.0.0.1", 0), cluster=hub.cluster, interval=interval, clock=clock) as service,
    ):
        assert service is not None
        agent = Agent(
            AgentConfig(hub.cluster, namespace=f"fs-{prefix}"),
            kube,
            source,
            clock=lambda: datetime.now(UTC),
            sleep=short_sleep,
        )
        runner = Runner(agent, interval=interval, heartbeat=3600)
        service.attach(runner)
        passes = Passes()
        runner.on_pass = passes.wrap(runner.on_pass)
        thread = threading.Thread(target=runner.start, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        try:
            yield runner, service, passes, thread
        finally:
            runner.stop()
            thread.join(timeout=10)


def test_agent_readiness_follows_its_syncs(kube: KubeClient, tmp_path: Path) -> None:
    hub = Hub(tmp_path, "member-1")
    hub.publish(objects(new_prefix(), "a"))
    clock = FakeClock()
    with running_agent(kube, hub, tmp_path, 3600, clock) as (runner, service, passes, thread):
        port = service.server.port
        passes.wait(1)
        assert request(port, "GET", "/healthz").text == "ok: the sync loop is running\n"
        assert request(port, "GET", "/readyz").status == 200
        clock.now += 3 * 3600 + 1
        reply = request(port, "GET", "/readyz")
        assert (reply.status, reply.text) == (503, "the last sync finished 10801s ago, more than 3 x 3600s\n")
        runner.stop()  # only asks: the loop shuts down on its thread
        thread.join(timeout=30)
        assert request(port, "GET", "/healthz").status == 503


def test_agent_metrics_follow_real_syncs_against_kubesim(kube: KubeClient, tmp_path: Path) -> None:
    hub = Hub(tmp_path, "member-1")
    prefix = new_prefix()
    hub.publish(objects(prefix, "a", "b"))
    first_bytes = bundle_bytes(hub)
    with running_agent(kube, hub, tmp_path, 0.1, FakeClock()) as (_runner, service, passes, _thread):
        port = service.server.port
        passes.wait(2)  # the first applies, the second finds everything as it is
        found = samples(port)
        member = {"cluster": "member-1"}
        assert value(found, "fleetsync_agent_objects_total", outcome="Applied", **member) == 3
        assert value(found, "fleetsync_agent_sync_objects", outcome="Applied", **member) == 0
        assert value(found, "fleetsync_agent_sync_objects", outcome="FailedToApply", **member) == 0
        assert value(found, "fleetsync_agent_bundle_bytes", **member) == first_bytes
        labels = {"kind": "Bundle", "name": "member-1", "namespace": ""}
        assert value(found, "gotk_reconcile_duration_seconds_count", **labels) >= 2
        assert value(found, "fleetsync_reconcile_total", result="error", **labels) == 0
        assert value(found, "gotk_reconcile_condition", type="Ready", status="True", **labels) == 1
        assert value(found, "fleetsync_git_failures_total", operation="fetch") == 0

        hub.publish(objects(prefix, "a"))  # b leaves the bundle: pruned
        seen = passes.n
        passes.wait(seen + 2)  # a whole pass after the publish
        found = samples(port)
        assert value(found, "fleetsync_agent_objects_total", outcome="Pruned", **member) == 1
        assert value(found, "fleetsync_agent_bundle_bytes", **member) == bundle_bytes(hub)

        subprocess.run(["rm", "-rf", str(hub.bare)], check=True)  # the fleet repo is gone
        seen = passes.n
        passes.wait(seen + 2)
        found = samples(port)
        assert value(found, "fleetsync_git_failures_total", operation="fetch") >= 1
        assert value(found, "gotk_reconcile_condition", type="Ready", status="False", **labels) == 1
        assert value(found, "fleetsync_reconcile_total", result="error", **labels) >= 1


def test_pass_records_reach_the_observer_even_when_a_sync_raises(tmp_path: Path) -> None:
    class Broken:
        def heartbeat_period(self) -> float:
            return 60.0

        def sync(self) -> Any:
            raise RuntimeError("boom")

    seen: list[SyncPass] = []
    runner = Runner(Broken(), interval=3600, heartbeat=3600, on_pass=seen.append)  # type: ignore[arg-type]
    runner._sync_job()
    runner.scheduler.remove_all_jobs()
    assert len(seen) == 1 and seen[0].summary is None and seen[0].seconds >= 0


def test_agent_run_refuses_a_bad_http_address_before_touching_git_or_the_cluster(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleetsync.cli import app

    args = ["agent", "run", "--repo", str(tmp_path / "none.git"), "--cluster", "c", "--http-address", "8080"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "[HOST]:PORT" in result.output
