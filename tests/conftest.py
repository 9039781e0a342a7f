"""Shared fixtures: a real ``git daemon`` on 127.0.0.1 (tests/support/gitdaemon.py), and a Git
remote that accepts connections and never answers (tests/support/hangingpeer.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitdaemon import GitDaemon
from tests.support.hangingpeer import HangingPeer


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A ``git daemon`` serving the bare repos under ``tmp_path/served``, push enabled."""
    root = tmp_path / "served"
    root.mkdir()
    with GitDaemon(root) as daemon:
        yield daemon


@pytest.fixture
def peer() -> Iterator[HangingPeer]:
    """A silent remote on 127.0.0.1: git's fetch and push to it hang until their deadline."""
    with HangingPeer() as p:
        yield p
