"""Fixtures for the agent's integration tests: a hub (bare git repo), a member (KubeSim or a real
cluster named by FLEETSYNC_E2E_KUBECONFIG) and an agent wired to both (tests/support/agentfixtures.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agent.apply.kube import KubeClient
from agent.loop import Agent, AgentConfig
from agent.properties import DefaultProvider, PropertyProvider
from agent.source import GitSource
from fleetsync_contract.integrity import verify
from tests.support.agentfixtures import E2E_ENV, AgentFactory, Hub, Member, new_prefix, short_sleep


@pytest.fixture(scope="module")
def _sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, KubeClient]]:
    from kubesim.testing import running_sim

    with running_sim(crd_establish_delay=0.2) as sim:
        path = sim.write_kubeconfig(tmp_path_factory.mktemp("sim") / "kubeconfig")
        with KubeClient.from_kubeconfig(str(path), sleep=short_sleep) as kube:
            yield sim, path, kube


@pytest.fixture(scope="module")
def _real() -> Iterator[tuple[Path, KubeClient] | None]:
    path = os.environ.get(E2E_ENV)
    if not path:
        yield None
        return
    with KubeClient.from_kubeconfig(path) as kube:
        yield Path(path), kube


@pytest.fixture(params=["kubesim", pytest.param("real", marks=pytest.mark.e2e)])
def member(
    request: pytest.FixtureRequest,
    _sim: tuple[Any, Path, KubeClient],
    _real: tuple[Path, KubeClient] | None,
) -> Iterator[Member]:
    """Every test taking ``member`` runs on KubeSim, and on a real cluster when one is named."""
    if request.param == "real":
        if _real is None:
            pytest.skip(f"set {E2E_ENV} to a kubeconfig to run this against a real cluster")
        yield Member(_real[0], _real[1], None, new_prefix())
        return
    sim, path, kube = _sim
    yield Member(path, kube, sim, new_prefix())
    sim.faults.clear()


@pytest.fixture
def sim_member(_sim: tuple[Any, Path, KubeClient]) -> Iterator[Member]:
    """Only the simulator: for faults and out-of-band edits a real cluster cannot be told to make."""
    sim, path, kube = _sim
    yield Member(path, kube, sim, new_prefix())
    sim.faults.clear()


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[AgentFactory]:
    opened: list[GitSource] = []

    def make(
        member: Member,
        hub: Hub,
        *,
        url: str | None = None,
        providers: Sequence[PropertyProvider] = (DefaultProvider(),),
        state: str = "state",
        **config: Any,
    ) -> Agent:
        source = GitSource(
            url or str(hub.bare), hub.cluster, tmp_path / state, verify=lambda f: verify(f, hub.cluster)
        )
        opened.append(source)
        config.setdefault("namespace", f"fs-{member.prefix}")  # per test: a real cluster is shared
        return Agent(
            AgentConfig(hub.cluster, crd_wait_seconds=10, **config),
            member.kube,
            source,
            clock=lambda: datetime.now(UTC),
            sleep=short_sleep,
            providers=providers,
        )

    yield make
    for source in opened:
        source.close()


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path, "member-1")
