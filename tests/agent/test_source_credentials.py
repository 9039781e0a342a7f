"""The agent's Git door with credentials: a token-protected HTTPS host (fetch its bundle, push its
report and heartbeat, never leak the token) and SSH (our key, the host key pinned)."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.errors import SourceError
from agent.source import GitSource
from fleetsync.cli import app
from fleetsync_contract.bundle import parse_bundle
from fleetsync_contract.gitauth import credentials_from
from fleetsync_contract.integrity import verify
from reconciler.gitstore.repo import open_hub_repo
from reconciler.hub.loop import reconcile_once
from tests.support.agentfixtures import Member
from tests.support.fleethelpers import joined_fleet
from tests.support.gitdaemon import git
from tests.support.githttp import GitHttpHost

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
USER = "oauth2"
TOKEN = "glpat-agent-T0ken-77e1"
CLUSTER = "eu-1"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitHttpHost]:
    (tmp_path / "srv").mkdir()
    with GitHttpHost(tmp_path / "srv", USER, TOKEN) as h:
        bare = h.create("fleet.git")
        work = joined_fleet(tmp_path / "fleet", NOW)
        git(work.path, "push", "-q", str(bare), "main", "refs/fleet/heartbeats/*:refs/fleet/heartbeats/*")
        yield h


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_the_hub_publishes_and_the_agent_fetches_its_bundle_with_a_token_that_never_leaks(
    host: GitHttpHost,
    tmp_path: Path,
    token_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    trace = tmp_path / "git-trace.log"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    caplog.set_level(logging.DEBUG)
    creds = credentials_from(token_file=token_file, username=USER)
    url = host.url("fleet.git")
    with open_hub_repo(url, cache_root=tmp_path / "hub", credentials=creds) as hub:
        assert reconcile_once(hub, NOW).loaded
    with GitSource(url, CLUSTER, tmp_path / "agent", lambda f: verify(f, CLUSTER), creds) as source:
        bundle = source.fetch_bundle(None)
        assert bundle is not None and "bundle.yaml" in bundle.files
        assert source.push_report({"report.yaml": b"ok: true\n"}, "report: applied", f"agent-{CLUSTER}")
        source.beat({"heartbeat.yaml": b"at: now\n"}, "heartbeat", f"agent-{CLUSTER}")
        clone_config = (source.path / "config").read_text()
    bare = host.root / "fleet.git"
    assert git(bare, "show", f"fleet/reports/{CLUSTER}:report.yaml") == "ok: true"
    assert git(bare, "rev-parse", "--verify", f"refs/fleet/heartbeats/{CLUSTER}")
    out, err = capfd.readouterr()
    places = {
        "log records": caplog.text,
        "stdout/stderr": out + err,
        "git argv (GIT_TRACE)": trace.read_text(),
        "the agent's clone config": clone_config,
        "request lines and headers": "\n".join(host.seen),
    }
    for where, text in places.items():
        assert TOKEN not in text, f"the token leaked into {where}"


def test_without_credentials_the_fetch_fails_with_an_error_that_says_what_to_do(
    host: GitHttpHost, tmp_path: Path
) -> None:
    with (
        GitSource(host.url("fleet.git"), CLUSTER, tmp_path / "agent") as source,
        pytest.raises(SourceError) as e,
    ):
        source.fetch_bundle(None)
    assert "docs/operations.md" in str(e.value)
    assert host.denied >= 1


def test_a_url_with_credentials_is_split_and_masked_in_errors(host: GitHttpHost, tmp_path: Path) -> None:
    secret = host.url("nothing.git").replace("http://", f"http://{USER}:{TOKEN}@")
    with GitSource(secret, CLUSTER, tmp_path / "agent") as source:
        assert TOKEN not in source.url
        with pytest.raises(SourceError) as e:  # the text of a SourceError goes into the report
            source.push_report({"report.yaml": b"x\n"}, "report", "agent")
    assert TOKEN not in str(e.value) and "nothing.git" in str(e.value)


FAKE_SSH = """#!/bin/sh
# Stands in for OpenSSH: records its argv, then runs the remote command locally.
printf '%s\\n' "$@" > "$FAKE_SSH_LOG"
for last; do :; done
exec sh -c "$last"
"""


def test_ssh_runs_with_our_key_and_the_pinned_known_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "srv" / "fleet.git"
    work = joined_fleet(tmp_path / "fleet", NOW)
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(work.path, "push", "-q", str(bare), f"main:refs/heads/fleet/bundles/{CLUSTER}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "ssh-argv"))
    secrets = tmp_path / "mounted secret"  # a space: the paths are quoted for the shell
    secrets.mkdir()
    (secrets / "identity").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (secrets / "known_hosts").write_text("git.example.com ssh-ed25519 AAAA\n")
    creds = credentials_from(ssh_key_file=secrets / "identity", known_hosts_file=secrets / "known_hosts")
    with GitSource(f"ssh://git@git.example.com{bare}", CLUSTER, tmp_path / "agent", credentials=creds) as s:
        assert s.fetch_bundle(None) is not None
    argv = (tmp_path / "ssh-argv").read_text().splitlines()
    options = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert argv[argv.index("-i") + 1] == str(secrets / "identity")
    assert "IdentitiesOnly=yes" in options and "StrictHostKeyChecking=yes" in options
    assert f'UserKnownHostsFile="{secrets / "known_hosts"}"' in options  # one file for ssh, not two
    assert "git@git.example.com" in argv
    assert shlex.split(argv[-1])[0] == "git-upload-pack"


def test_agent_run_once_with_a_token_file_applies_its_bundle_and_reports(
    host: GitHttpHost,
    tmp_path: Path,
    token_file: Path,
    sim_member: Member,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole way a user runs it: `hub reconcile` and `agent run --once` against a private host."""
    monkeypatch.setenv("FLEETSYNC_GIT_USERNAME", USER)  # the flags' environment fallbacks
    monkeypatch.setenv("FLEETSYNC_GIT_TOKEN_FILE", str(token_file))
    fresh = joined_fleet(tmp_path / "fresh", datetime.now(UTC))  # the CLI runs on the wall clock
    git(
        fresh.path,
        "push",
        "-qf",
        str(host.root / "fleet.git"),
        "refs/fleet/heartbeats/*:refs/fleet/heartbeats/*",
    )
    url = host.url("fleet.git")
    hub = CliRunner().invoke(app, ["hub", "reconcile", "--repo", url, "--state-dir", str(tmp_path / "hub")])
    assert hub.exit_code == 0, hub.output
    args = ["agent", "run", "--repo", url, "--cluster", CLUSTER, "--once"]
    args += ["--kubeconfig", str(sim_member.kubeconfig), "--state-dir", str(tmp_path / "agent")]
    agent = CliRunner().invoke(app, args)
    assert agent.exit_code == 0, agent.output
    assert sim_member.get("v1", "ConfigMap", "web", "settings") is not None
    report = git(host.root / "fleet.git", "show", f"fleet/reports/{CLUSTER}:report.yaml")
    bundle = parse_bundle(
        {"bundle.yaml": git(host.root / "fleet.git", "show", f"fleet/bundles/{CLUSTER}:bundle.yaml").encode()}
    )
    assert f"appliedBundleId: {bundle.bundle_id}" in report
    for text in (hub.output, agent.output, report):
        assert TOKEN not in text
