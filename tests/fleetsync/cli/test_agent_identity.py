"""``fleetsync agent run`` refuses a kubeconfig whose identity it cannot honour: one line naming
the file, the user entry and the field, exit 2, before anything is fetched or applied (issue 14.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def kubeconfig(path: Path, user: dict[str, Any]) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "m",
        "clusters": [{"name": "m", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "agent", "user": user}],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "agent"}}],
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"token": "t", "as-groups": ["admins"]}, "user 'agent': as-groups is set without as"),
        (
            {"auth-provider": {"name": "gcp", "config": {}}},
            "user 'agent': auth-provider 'gcp' is not implemented",
        ),
        ({"token": "t", "username": "u", "password": "p"}, "user 'agent': token and username/password"),
    ],
    ids=["groups-without-as", "gcp-provider", "two-methods"],
)
def test_a_kubeconfig_identity_the_agent_cannot_honour_is_one_line_and_exit_2(
    tmp_path: Path, user: dict[str, Any], expected: str
) -> None:
    path = kubeconfig(tmp_path / "kubeconfig", user)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fleetsync.cli import main; main()",
            "agent",
            "run",
            "--repo",
            str(tmp_path / "none.git"),
            "--cluster",
            "c1",
            "--state-dir",
            str(tmp_path / "s"),
            "--kubeconfig",
            str(path),
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith(f"error: kubeconfig {path}: "), result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "s").exists()  # nothing was fetched
