"""Test helpers: a running simulator as a context manager, and a pytest fixture factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubesim.server import KubeSim


@contextmanager
def running_sim(**kw: Any) -> Iterator[KubeSim]:
    """A started KubeSim, stopped on exit."""
    sim = KubeSim(**kw)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


def sim_fixture(**kw: Any) -> Callable[[], Iterator[KubeSim]]:
    """A pytest fixture yielding a fresh simulator per test: ``kube = pytest.fixture(sim_fixture())``."""

    def fixture() -> Iterator[KubeSim]:
        with running_sim(**kw) as sim:
            yield sim

    return fixture
