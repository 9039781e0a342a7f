"""The agent against a Git remote that accepts the connection and never answers (issue 14, 3).

Every fetch and push of the agent's door is bounded: it fails with one clear line naming the
remote (credentials masked) and the deadline, the loop goes on enforcing the last verified
bundle, and ``agent run --once`` exits non-zero instead of hanging. The deadlines here are one
second; the subprocess timeout of the CLI test is only a guard, never a timing assertion.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.errors import SourceError
from agent.source import GitSource
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement
from tests.support.hangingpeer import HangingPeer

TOKEN = "glpat-silent-T0ken-9d2e"
GUARD_S = 60  # the test fails (instead of hanging) if the CLI has not exited by then


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_a_fetch_from_a_silent_remote_fails_within_the_timeout_naming_the_remote(
    peer: HangingPeer, tmp_path: Path, scheme: str
) -> None:
    url = peer.url(scheme, token=TOKEN)
    with GitSource(url, "eu-1", tmp_path, timeout=1) as source, pytest.raises(SourceError) as caught:
        source.fetch_bundle(None)
    message = str(caught.value)
    assert f"127.0.0.1:{peer.port}/fleet.git" in message
    assert "no answer within 1 s" in message
    assert TOKEN not in message and "\n" not in message


def test_a_push_to_a_silent_remote_fails_within_the_timeout(peer: HangingPeer, tmp_path: Path) -> None:
    with GitSource(peer.url("git"), "eu-1", tmp_path, timeout=1) as source:
        with pytest.raises(SourceError, match=r"heartbeats/eu-1 to git://.*no answer within 1 s"):
            source.beat({"heartbeat.yaml": b"x: 1\n"}, "beat", "agent-eu-1")
        with pytest.raises(SourceError, match="no answer within 1 s"):
            source.push_report({"report.yaml": b"x: 1\n"}, "report", "agent-eu-1")


def _cm(member: Member, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": f"{member.prefix}-app"},
        "data": {"k": value},
    }


def test_drift_is_corrected_from_the_last_verified_bundle_while_the_remote_is_silent(
    member: Member, hub: Hub, make_agent: AgentFactory, peer: HangingPeer
) -> None:
    p = placement()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-app"}}
    hub.publish([(p, namespace), (p, _cm(member, "v"))])
    agent = make_agent(member, hub)
    assert not agent.sync().errors
    member.kube.delete(member.kube.kind("v1", "ConfigMap"), "a", f"{member.prefix}-app")  # drift
    source = agent.source
    assert isinstance(source, GitSource)
    source.url, source.timeout = peer.url("git"), 1  # the remote goes silent
    summary = agent.sync()
    assert any("no answer within 1 s" in e for e in summary.errors)
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "a")
    assert live is not None and live["data"]["k"] == "v"


def test_agent_run_once_against_a_silent_remote_exits_non_zero(
    peer: HangingPeer, sim_member: Member, tmp_path: Path
) -> None:
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "agent", "run", "--once"]
    command += ["--repo", peer.url("git"), "--cluster", "eu-1", "--git-timeout", "1"]
    command += ["--kubeconfig", str(sim_member.kubeconfig), "--state-dir", str(tmp_path / "state")]
    command += ["--namespace", f"fs-{sim_member.prefix}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=GUARD_S, check=False)
    assert done.returncode == 3, done.stderr  # a runtime error (docs/operations.md, "Timeouts")
    assert f"127.0.0.1:{peer.port}/fleet.git" in done.stderr
    assert "no answer within 1 s" in done.stderr
