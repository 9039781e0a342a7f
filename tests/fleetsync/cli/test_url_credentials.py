"""A token written into ``--repo``'s URL (``http://user:TOKEN@host/...``, issue 14 point 4) never
reaches an output: not a command's stdout or stderr, not `hub run`'s log on each retry, not the
status branch the hub writes. Every command runs as a user runs it, in its own process, against
a real Git host over smart HTTP (tests/support/githttp.py) or a path on it that does not exist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.fleethelpers import joined_fleet
from tests.support.gitdaemon import git
from tests.support.githttp import GitHttpHost

TOKEN = "glpat-Url-T0ken-91c3aa"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHttpHost]:
    (tmp_path / "srv").mkdir()
    with GitHttpHost(tmp_path / "srv", "bot", TOKEN) as h:
        bare = h.create("fleet.git")
        work = joined_fleet(tmp_path / "fleet", NOW)
        git(work.path, "push", "-q", str(bare), "main")
        yield h


def with_token(host: GitHttpHost, name: str) -> str:
    return f"http://bot:{TOKEN}@127.0.0.1:{host.port}/{name}"


def fleetsync(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSYNC_GIT")}
    return subprocess.run(
        [sys.executable, "-c", "from fleetsync.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**env, "GIT_TERMINAL_PROMPT": "0"},
    )


def test_a_token_in_the_url_is_used_and_never_printed_or_written_to_status(
    host: GitHttpHost, tmp_path: Path
) -> None:
    url = with_token(host, "fleet.git")
    done = fleetsync("hub", "reconcile", "--repo", url, "--state-dir", str(tmp_path / "hub"))
    assert done.returncode == 0, done.stderr
    listed = fleetsync("get", "placements", "-o", "yaml", "--repo", url, "--state-dir", str(tmp_path / "get"))
    assert listed.returncode == 0, listed.stderr
    assert "web" in listed.stdout
    for out in (done, listed):
        assert TOKEN not in out.stdout + out.stderr
    status = git(host.root / "fleet.git", "log", "-p", "--all", "--format=%B")
    assert "fleet/status" in git(
        host.root / "fleet.git", "branch", "--list", "fleet/status", "--format=fleet/status"
    )
    assert TOKEN not in status


@pytest.mark.parametrize(
    "command",
    [
        ["hub", "reconcile"],
        ["get", "placements"],
        ["get", "clusters", "-o", "json"],
        ["drift", "list"],
        ["agent", "run", "--cluster", "c1", "--once", "--kubeconfig", "KUBECONFIG"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_failed_fetch_names_the_url_without_its_token(
    host: GitHttpHost, tmp_path: Path, command: list[str]
) -> None:
    from kubesim.testing import running_sim

    url = with_token(host, "no-such-fleet.git")
    with running_sim() as sim:  # the agent reaches its cluster, then fails on Git
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        args = [str(kubeconfig) if a == "KUBECONFIG" else a for a in command]
        out = fleetsync(*args, "--repo", url, "--state-dir", str(tmp_path / "s"))
    assert out.returncode != 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert TOKEN not in text
    assert f"127.0.0.1:{host.port}/no-such-fleet.git" in text  # the URL is named, its userinfo masked


def test_hub_run_retries_a_failing_fetch_and_no_log_line_carries_the_token(
    host: GitHttpHost, tmp_path: Path
) -> None:
    url = with_token(host, "no-such-fleet.git")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from fleetsync.cli import main; main()",
            "--log-format",
            "json",
            "hub",
            "run",
            "--repo",
            url,
            "--interval",
            "1",
            "--state-dir",
            str(tmp_path / "hub"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: list[str] = []
    logged = threading.Event()
    failure = f"127.0.0.1:{host.port}/no-such-fleet.git"

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if failure in line and sum(failure in seen for seen in lines) >= 2:
                logged.set()  # a retry has been logged too

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert logged.wait(90), "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        reader.join(timeout=10)
    assert TOKEN not in out + "".join(lines)
