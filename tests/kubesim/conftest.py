"""Fixtures for the simulator's own tests: a running KubeSim and official-client handles on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.dynamic import DynamicClient

from kubesim.server import KubeSim
from kubesim.testing import running_sim


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with running_sim(controllers="instant") as s:
        yield s


@pytest.fixture
def kubeconfig(sim: KubeSim, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    sim.write_kubeconfig(path)
    return path


@pytest.fixture
def dyn(kubeconfig: Path) -> Iterator[DynamicClient]:
    api = config.new_client_from_config(str(kubeconfig))
    try:
        yield DynamicClient(api)
    finally:
        api.close()
