"""Fleet repos with two commits for ``fleetsync plan``: the template, or a generated fleet.

The repo and the generated fleet are built by tests/support/planfixtures.py (bench/bench_plan.py
builds the same fleets); here they become fixtures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import TEMPLATE
from tests.support.planfixtures import PlanRepo, generated_fleet, init_repo


@pytest.fixture
def template(tmp_path: Path) -> PlanRepo:
    """The fleet-repo-template, committed once (the base)."""
    path = tmp_path / "fleet"
    shutil.copytree(TEMPLATE, path)
    return init_repo(path)


@pytest.fixture
def make_fleet(tmp_path: Path) -> Callable[[int], PlanRepo]:
    """A generated fleet of N clusters (a factory: the size is the test's)."""
    return lambda n: generated_fleet(tmp_path / f"fleet-{n}", n)
