"""Agent settings: the heartbeat period the bundle carries, the `agent run` flags, and kubesim's backlog."""

from __future__ import annotations

from typing import Any

import pytest

from agent.loop import DEFAULT_HEARTBEAT_SECONDS
from agent.runner import Runner, allowed_protected
from fleetsync_contract.bundle import BundleObject, build_bundle_index, parse_bundle
from fleetsync_contract.integrity import verify
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement

CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "x", "namespace": "default"},
    "data": {"k": "v"},
}


def build(heartbeat: int | None) -> tuple[str, dict[str, bytes]]:
    p = placement()
    index, files = build_bundle_index(
        "c1",
        "0" * 40,
        [p],
        [BundleObject(p.key, "/ConfigMap/default/x", manifest=CM)],
        heartbeat_period_seconds=heartbeat,
    )
    return index.bundle_id, files


def test_a_changed_heartbeat_period_is_a_new_bundle_and_old_bundles_keep_their_id() -> None:
    old_id, old_files = build(None)
    id30, files30 = build(30)
    id45, _ = build(45)
    assert len({old_id, id30, id45}) == 3
    assert b"memberCluster" not in old_files["bundle.yaml"]
    assert verify(old_files, "c1") == [] and verify(files30, "c1") == []
    assert parse_bundle(old_files).heartbeat_period_seconds is None
    assert parse_bundle(files30).heartbeat_period_seconds == 30


@pytest.mark.parametrize("bad", [b"0", b"601", b"'30'"])
def test_a_heartbeat_period_out_of_bounds_is_refused(bad: bytes) -> None:
    _, files = build(30)
    files["bundle.yaml"] = files["bundle.yaml"].replace(
        b"heartbeatPeriodSeconds: 30", b"heartbeatPeriodSeconds: " + bad
    )
    assert verify(files, "c1")


@pytest.mark.parametrize(("override", "expected"), [(None, 7.0), (5.0, 5.0)])
def test_heartbeats_follow_the_bundle_period_unless_overridden(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, override: float | None, expected: float
) -> None:
    hub.publish([], heartbeat=7)
    agent = make_agent(sim_member, hub)
    runner = Runner(agent, interval=1, heartbeat=override)
    assert runner.heartbeat_period == (override or DEFAULT_HEARTBEAT_SECONDS)
    runner.scheduler.add_job(runner._beat_job, "interval", seconds=runner.heartbeat_period, id="heartbeat")
    runner._sync_job()
    assert runner.heartbeat_period == expected
    job: Any = runner.scheduler.get_job("heartbeat")
    assert job.trigger.interval.total_seconds() == expected


def test_allow_prune_names_only_the_protected_kinds() -> None:
    assert allowed_protected(["Namespace", "persistentvolumeclaim"]) == {
        ("", "Namespace"),
        ("", "PersistentVolumeClaim"),
    }
    with pytest.raises(ValueError, match="ConfigMap"):
        allowed_protected(["ConfigMap"])


def test_the_hub_carries_the_member_clusters_heartbeat_period_and_a_change_reaches_the_bundle(
    tmp_path: Any,
) -> None:
    from datetime import UTC, datetime, timedelta

    from reconciler.gitstore.repo import HubRepo
    from reconciler.hub.loop import reconcile_once
    from tests.support.fleethelpers import CLUSTERS, base_files, joined_fleet

    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    cluster = sorted(CLUSTERS)[0]
    ref = f"refs/heads/fleet/bundles/{cluster}"
    files = base_files()
    work = joined_fleet(tmp_path / "fleet", now, files)

    def period() -> int | None:
        data = {"bundle.yaml": work.read(ref, "bundle.yaml").encode() + b"\n"}
        return parse_bundle(data).heartbeat_period_seconds

    def reconcile(at: datetime) -> list[str]:
        with HubRepo.local(work.path) as repo:
            return list(reconcile_once(repo, at).written)

    reconcile(now)
    assert period() == 60
    path = f"clusters/{cluster}.yaml"
    work.commit(
        {**files, path: files[path].replace("heartbeatPeriodSeconds: 60", "heartbeatPeriodSeconds: 20")}
    )
    assert ref in reconcile(now + timedelta(seconds=10))  # only the period changed: still a new bundle
    assert period() == 20
    others = [f"refs/heads/fleet/bundles/{c}" for c in CLUSTERS if c != cluster]
    work.commit(
        {
            **files,
            path: files[path].replace("heartbeatPeriodSeconds: 60", "heartbeatPeriodSeconds: 20"),
            "README.md": "unrelated\n",
        }
    )
    assert not {*others, ref} & set(reconcile(now + timedelta(seconds=20)))


def test_agent_run_flags_reach_the_agent_config(
    sim_member: Member, hub: Hub, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import agent.loop as loop
    import agent.runner as runner
    from fleetsync.cli import app

    seen: list[loop.AgentConfig] = []
    real = loop.AgentConfig

    def recording(*args: Any, **kwargs: Any) -> loop.AgentConfig:
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(runner, "AgentConfig", recording)
    hub.publish([])
    base = [
        "agent",
        "run",
        "--repo",
        str(hub.bare),
        "--cluster",
        hub.cluster,
        "--kubeconfig",
        str(sim_member.kubeconfig),
        "--once",
        "--state-dir",
        str(tmp_path / "s"),
        "--namespace",
        f"fs-{sim_member.prefix}",
    ]
    result = CliRunner().invoke(
        app,
        [
            *base,
            "--workers",
            "3",
            "--max-prune-share",
            "0.9",
            "--allow-prune",
            "Namespace",
            "--allow-prune",
            "CustomResourceDefinition",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (seen[0].workers, seen[0].max_prune_share) == (3, 0.9)
    assert seen[0].allow_protected == {
        ("", "Namespace"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
    result = CliRunner().invoke(app, base)
    assert (seen[1].workers, seen[1].max_prune_share, seen[1].allow_protected) == (
        loop.WORKERS,
        0.5,
        frozenset(),
    )
    refused = CliRunner().invoke(app, [*base, "--allow-prune", "ConfigMap"])
    assert refused.exit_code == 2 and "ConfigMap" in refused.output


def test_the_simulated_member_accepts_a_waves_connections_at_once(sim_member: Member) -> None:
    """The agent opens up to WORKERS connections at once; with Python's default listen backlog (5)
    the rest wait for a SYN retransmit (~1 s). kubesim listens with a backlog of 128."""
    import select
    import socket
    import time

    host, port = sim_member.sim._httpd.server_address[:2]
    socks = [socket.socket() for _ in range(48)]
    try:
        start = time.monotonic()
        for s in socks:
            s.setblocking(False)
            s.connect_ex((host, port))
        pending = set(socks)
        while pending and time.monotonic() - start < 0.5:
            _, writable, _ = select.select([], list(pending), [], 0.05)
            pending -= set(writable)
        assert not pending, f"{len(pending)} of {len(socks)} connections still waiting after 0.5 s"
    finally:
        for s in socks:
            s.close()
