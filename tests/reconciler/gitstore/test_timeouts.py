"""The hub against a Git remote that accepts the connection and never answers (issue 14, 3).

Every fetch, push and ls-remote of the hub's door is bounded: a ``GitFailure`` (transient: the
loop retries) with one line naming the remote, credentials masked, and the deadline; ``hub
reconcile`` exits non-zero instead of hanging. Deadlines here are one second; the subprocess
timeout of the CLI test is a guard, never a timing assertion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetsync_contract.gitauth import credentials_from
from reconciler.gitstore.refs import GitFailure, RefUpdate
from reconciler.gitstore.repo import HubRepo, open_hub_repo
from tests.support.gitdaemon import git
from tests.support.hangingpeer import HangingPeer

TOKEN = "glpat-silent-hub-T0ken-51c7"
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
GUARD_S = 60  # the test fails (instead of hanging) if the CLI has not exited by then


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_a_fetch_from_a_silent_remote_fails_within_the_timeout_naming_the_remote(
    peer: HangingPeer, tmp_path: Path, scheme: str
) -> None:
    url = peer.url(scheme, token=TOKEN)
    with open_hub_repo(url, cache_root=tmp_path, timeout=1) as repo, pytest.raises(GitFailure) as caught:
        repo.refresh()
    message = str(caught.value)
    assert message.startswith(f"cannot fetch from {scheme}://")
    assert f"127.0.0.1:{peer.port}/fleet.git: no answer within 1 s" in message
    assert TOKEN not in message and "\n" not in message


def test_a_push_to_a_silent_hub_remote_fails_within_the_timeout(peer: HangingPeer, tmp_path: Path) -> None:
    source = tmp_path / "fleet.git"
    git(tmp_path, "init", "-q", "--bare", str(source))
    with HubRepo.cached(tmp_path / "cache", str(source), peer.url("git"), timeout=1) as repo:
        commit = repo.write_commit(repo.write_tree({"a": b"1\n"}), [], "status", NOW)
        with pytest.raises(GitFailure, match=r"cannot push to git://127\.0\.0\.1:\d+/fleet\.git: no answer"):
            repo.publish([RefUpdate("refs/heads/fleet/status", commit, None)])


def test_git_reads_the_low_speed_limits_and_the_credential_helper_from_the_door_environment(
    tmp_path: Path,
) -> None:
    """The low-speed limits are appended to the credentials' GIT_CONFIG_COUNT list, not over it."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    auth = credentials_from(token_file=token_file)
    with open_hub_repo("https://git.example.com/fleet.git", cache_root=tmp_path, credentials=auth) as repo:
        env = {**os.environ, **repo._repo.git.environment()}
    out = subprocess.run(
        ["git", "config", "--get-regexp", r"^(http\.lowspeed|credential\.)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "http.lowspeedlimit 1000" in out and "http.lowspeedtime 30" in out
    assert "credential.https://git.example.com.helper !f()" in out


def test_hub_reconcile_against_a_silent_remote_exits_non_zero(peer: HangingPeer, tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "hub", "reconcile"]
    command += ["--repo", peer.url("git"), "--git-timeout", "1", "--state-dir", str(tmp_path / "hub")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=GUARD_S, check=False)
    assert done.returncode == 3, done.stderr  # a runtime error (docs/operations.md, "Timeouts")
    assert f"127.0.0.1:{peer.port}/fleet.git: no answer within 1 s" in done.stderr
