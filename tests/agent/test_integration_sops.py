"""SOPS-encrypted Secrets: the agent decrypts just before apply; nothing it writes holds the plaintext."""

from __future__ import annotations

import base64
import logging
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest

from fleetsync_contract import sops
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import ENV, AgentFactory, Hub, Member, placement

PLAINTEXT = "s3cret-Agent-Plaintext-7f3a"


def keypair(tmp_path: Path, name: str = "agent.agekey") -> tuple[Path, str]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / name
    path.write_text(f"# test identity\n{identity}\n")
    return path, str(identity.to_public())


def ns(member: Member) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{member.prefix}-app"}}


def secret(member: Member, recipient: str, name: str = "creds") -> dict[str, Any]:
    plain = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": f"{member.prefix}-app"},
        "stringData": {"password": PLAINTEXT},
        "data": {"token": base64.b64encode(PLAINTEXT.encode()).decode()},
    }
    return sops.encrypt(plain, [recipient])


def everything_written(hub: Hub) -> str:
    """Every file of every ref the agent and the test hub wrote, as text."""
    out = []
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)"], cwd=hub.bare, env=ENV, capture_output=True, text=True
    ).stdout.split()
    for ref in refs:
        out.append(
            subprocess.run(
                ["git", "log", "-p", "--all", ref], cwd=hub.bare, env=ENV, capture_output=True, text=True
            ).stdout
        )
    return "\n".join(out)


def outcomes(hub: Hub) -> dict[str, tuple[Outcome, str, str]]:
    report, _ = hub.report()
    return {o.identity: (o.outcome, o.reason, o.message) for p in report.placements for o in p.objects}


def test_a_secret_encrypted_to_this_cluster_is_applied_in_plaintext_and_reported_without_it(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_file, recipient = keypair(tmp_path)
    p = placement()
    hub.publish([(p, ns(member)), (p, secret(member, recipient))])
    agent = make_agent(member, hub, age_identity_file=str(key_file))
    summary = agent.sync()
    assert {r.outcome for r in summary.results} == {Outcome.APPLIED}
    live = member.get("v1", "Secret", f"{member.prefix}-app", "creds")
    assert live is not None and "sops" not in live
    assert {k: base64.b64decode(v).decode() for k, v in live["data"].items()} == {
        "password": PLAINTEXT,
        "token": PLAINTEXT,
    }
    agent.sync()  # a second pass compares (drift detection) and changes nothing
    assert PLAINTEXT not in everything_written(hub)  # bundle (ciphertext), report, drift files
    assert PLAINTEXT not in caplog.text
    assert base64.b64encode(PLAINTEXT.encode()).decode() not in everything_written(hub)


def test_the_identity_can_come_from_the_secret_in_the_agents_namespace(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    key_file, recipient = keypair(tmp_path)
    agent_ns = f"fs-{member.prefix}"
    member.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": agent_ns}}, force=True)
    member.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "fleetsync-age-identity", "namespace": agent_ns},
            "data": {"identity.agekey": base64.b64encode(key_file.read_bytes()).decode()},
        },
        force=True,
    )
    p = placement()
    hub.publish([(p, ns(member)), (p, secret(member, recipient))])
    summary = make_agent(member, hub).sync()
    assert {r.outcome for r in summary.results} == {Outcome.APPLIED}


def test_a_secret_not_encrypted_to_this_cluster_fails_alone_and_names_no_value(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    key_file, _ = keypair(tmp_path)
    _, other = keypair(tmp_path, "other.agekey")
    p = placement()
    tampered = secret(
        member, str(pyrage.x25519.Identity.from_str(key_file.read_text().split()[-1]).to_public())
    )
    tampered["metadata"]["name"] = "tampered"  # under the MAC: changed after encryption
    hub.publish([(p, ns(member)), (p, secret(member, other)), (p, tampered)])
    make_agent(member, hub, age_identity_file=str(key_file)).sync()
    found = outcomes(hub)
    app = f"{member.prefix}-app"
    assert found[f"/Namespace//{app}"][0] == Outcome.APPLIED
    failed, reason, message = found[f"/Secret/{app}/creds"]
    assert (failed, reason) == (Outcome.FAILED_TO_APPLY, "DecryptionFailed")
    assert "none of the file's age recipients" in message
    assert found[f"/Secret/{app}/tampered"][2].endswith("the file was changed after it was encrypted")
    assert member.get("v1", "Secret", app, "creds") is None
    assert PLAINTEXT not in everything_written(hub)


def test_without_any_identity_an_encrypted_secret_fails_with_the_fix(
    member: Member, hub: Hub, make_agent: AgentFactory, tmp_path: Path
) -> None:
    _, recipient = keypair(tmp_path)
    p = placement()
    hub.publish([(p, ns(member)), (p, secret(member, recipient))])
    make_agent(member, hub).sync()
    _, reason, message = outcomes(hub)[f"/Secret/{member.prefix}-app/creds"]
    assert reason == "DecryptionFailed"
    assert "fleetsync-age-identity" in message and "--age-identity-file" in message
