"""The hub against a Git host that wants a token: refused without one, reconciles with one, and
the token is never in a log, an error, a hub ref, the cache's config or a git process's argv."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fleetsync_contract.gitauth import credentials_from, with_url
from reconciler.gitstore.refs import GitFailure
from reconciler.gitstore.repo import HubRepo, open_hub_repo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, joined_fleet
from tests.support.gitdaemon import git
from tests.support.githttp import GitHttpHost

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
USER = "x-access-token"
TOKEN = "glpat-hub-T0ken-4f9a2c"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHttpHost]:
    """A token-protected host serving fleet.git: the fleet's main and every member's heartbeat."""
    (tmp_path / "srv").mkdir()
    with GitHttpHost(tmp_path / "srv", USER, TOKEN) as h:
        bare = h.create("fleet.git")
        work = joined_fleet(tmp_path / "fleet", NOW)
        git(work.path, "push", "-q", str(bare), "main", "refs/fleet/heartbeats/*:refs/fleet/heartbeats/*")
        yield h


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every git process (and every process git starts: remote-http, the credential helper)
    writes its argv here."""
    path = tmp_path / "git-trace.log"
    monkeypatch.setenv("GIT_TRACE", str(path))
    return path


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret" / "token"
    path.parent.mkdir()
    path.write_text(TOKEN + "\n")
    return path


def every_hub_file(bare: Path) -> str:
    """The content of every file on every hub ref of the remote (status, bundles, ...)."""
    texts = []
    for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/fleet/", "refs/fleet/").split():
        for name in git(bare, "ls-tree", "-r", "--name-only", ref).splitlines():
            texts.append(git(bare, "show", f"{ref}:{name}"))
    return "\n".join(texts)


def test_without_a_token_the_fetch_fails_with_an_error_that_says_what_to_do(
    host: GitHttpHost, tmp_path: Path
) -> None:
    with HubRepo.cached(tmp_path / "cache", host.url("fleet.git")) as repo, pytest.raises(GitFailure) as e:
        repo.refresh()
    message = str(e.value)
    assert message.startswith(f"cannot fetch from {host.url('fleet.git')}: ")
    assert "docs/operations.md" in message and "credentials" in message
    assert host.denied >= 1


def test_a_wrong_token_is_refused_and_not_echoed(host: GitHttpHost, tmp_path: Path) -> None:
    (tmp_path / "wrong").write_text("not-the-token-123")
    creds = credentials_from(token_file=tmp_path / "wrong")
    cached = HubRepo.cached(tmp_path / "cache", host.url("fleet.git"), credentials=creds)
    with cached as repo, pytest.raises(GitFailure) as e:
        repo.refresh()
    assert "Authentication failed" in str(e.value)
    assert "not-the-token-123" not in str(e.value)


def test_with_a_token_file_the_hub_reconciles_and_the_token_never_leaks(
    host: GitHttpHost,
    tmp_path: Path,
    token_file: Path,
    trace: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = credentials_from(token_file=token_file)
    with open_hub_repo(host.url("fleet.git"), cache_root=tmp_path / "cache", credentials=creds) as repo:
        result = reconcile_once(repo, NOW)
        cache = repo.path
    assert result.loaded
    assert len(result.written) == 1 + len(CLUSTERS)  # status and one bundle per cluster
    bare = host.root / "fleet.git"
    assert git(bare, "rev-parse", "--verify", "refs/heads/fleet/status")
    out, err = capfd.readouterr()
    traced = trace.read_text()
    assert "git-remote-http" in traced and "f get" in traced  # the trace saw the helper run
    places = {
        "log records": caplog.text,
        "stdout/stderr": out + err,
        "git argv (GIT_TRACE)": traced,
        "hub refs on the remote": every_hub_file(bare),
        "the cache's config": (cache / "config").read_text(),
        "request lines and headers": "\n".join(host.seen),
    }
    for where, text in places.items():
        assert TOKEN not in text, f"the token leaked into {where}"
    assert host.seen.count(host.expected_authorization) >= 2  # it was sent, in the header only


def test_the_token_is_handed_only_to_the_host_it_was_given_for(
    host: GitHttpHost, tmp_path: Path, token_file: Path
) -> None:
    (tmp_path / "other").mkdir()
    with GitHttpHost(tmp_path / "other", USER, TOKEN) as other:  # would accept it, were it sent
        other.create("fleet.git")
        _, creds = with_url(host.url("fleet.git"), credentials_from(token_file=token_file))
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **creds.env()}
        asked = subprocess.run(["git", "ls-remote", other.url("fleet.git")], env=env, capture_output=True)
        assert asked.returncode != 0 and other.denied >= 1
        assert other.expected_authorization not in other.seen
        mine = subprocess.run(["git", "ls-remote", host.url("fleet.git")], env=env, capture_output=True)
        assert mine.returncode == 0, mine.stderr


def test_a_url_with_credentials_works_and_is_masked_everywhere(
    host: GitHttpHost, tmp_path: Path, trace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret_url = host.url("fleet.git").replace("http://", f"http://{USER}:{TOKEN}@")
    with open_hub_repo(secret_url, cache_root=tmp_path / "cache") as repo:
        assert reconcile_once(repo, NOW).loaded
        assert TOKEN not in str(repo.source) and TOKEN not in str(repo.hub_remote)
    missing = secret_url.replace("fleet.git", "nothing.git")
    with open_hub_repo(missing, cache_root=tmp_path / "cache") as repo, pytest.raises(GitFailure) as e:
        repo.refresh()
    assert TOKEN not in str(e.value) and "nothing.git" in str(e.value)
    assert TOKEN not in trace.read_text() and TOKEN not in caplog.text
    assert not any(TOKEN in line for line in host.seen)
