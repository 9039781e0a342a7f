"""Shared fixtures: a real ``git daemon`` on 127.0.0.1 (tests/gitdaemon.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # test helpers (gitdaemon) import as top-level modules
    sys.path.insert(0, _HERE)

from gitdaemon import GitDaemon  # noqa: E402


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A ``git daemon`` serving the bare repos under ``tmp_path/served``, push enabled."""
    root = tmp_path / "served"
    root.mkdir()
    with GitDaemon(root) as daemon:
        yield daemon
