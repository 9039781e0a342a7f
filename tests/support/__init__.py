"""Test support: helpers that tests and benchmarks import, and where the tree's files are.

Helpers used to sit next to the tests that first needed them and were imported as top-level
modules through ``sys.path`` edits in conftest.py files, which bench/ then copied or loaded by
path. One importable package (``tests.support.gitdaemon``, ``tests.support.schedfixtures``, …)
gives every helper one name for tests/ and bench/ alike and leaves conftest.py files with pytest
fixtures only. The paths below are computed once here rather than by counting ``parents[N]`` in
each test, which broke whenever a test moved.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository's root: the source packages, fleet-repo-template/, policies/, pyproject.toml."""

DATA = REPO_ROOT / "tests" / "data"
"""Recorded and hand-written test data: kube-golden/, kubefleet-examples/, malformed/."""

TEMPLATE = REPO_ROOT / "fleet-repo-template"
"""The fleet repo a team forks; tests load, validate, plan and run it."""
