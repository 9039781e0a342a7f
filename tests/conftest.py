"""Shared fixtures: a real ``git daemon`` on 127.0.0.1 (tests/support/gitdaemon.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitdaemon import GitDaemon


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A ``git daemon`` serving the bare repos under ``tmp_path/served``, push enabled."""
    root = tmp_path / "served"
    root.mkdir()
    with GitDaemon(root) as daemon:
        yield daemon
