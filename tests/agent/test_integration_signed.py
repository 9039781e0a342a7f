"""Signed bundles: the agent applies a bundle commit only when a trusted hub key signed it.

The hub's branch is written by real git with real ssh-keygen signatures (``commit.gpgsign`` with
``gpg.format=ssh``), the agent checks them against ``--verify-key-file`` (agent/signatures.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agent.signatures import SignatureCheck, load_trusted
from fleetsync.cli import app
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import AgentFactory, Hub, Member, git, placement
from tests.support.sshkeys import allowed_signers, make_key, public_line, sign_commits_with


def cm(member: Member, name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{member.prefix}-{name}", "namespace": "default"},
        "data": {"v": value},
    }


def live(member: Member, name: str) -> str | None:
    obj = member.get("v1", "ConfigMap", "default", f"{member.prefix}-{name}")
    return None if obj is None else str(obj["data"]["v"])


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    d = tmp_path / "keys"
    return make_key(d, "hub-old"), make_key(d, "hub-new"), make_key(d, "intruder")


def test_a_signed_bundle_applies_and_an_unsigned_one_is_refused_keeping_the_last_verified(
    member: Member, hub: Hub, make_agent: AgentFactory, keys: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    old, _, _ = keys
    (tmp_path / "hub.pub").write_text(public_line(old) + "\n")
    sign_commits_with(hub.work, old)
    p = placement()
    first = hub.publish([(p, cm(member, "a", "1"))])
    agent = make_agent(member, hub)
    agent.source.signatures = SignatureCheck(load_trusted([tmp_path / "hub.pub"]))  # type: ignore[attr-defined]
    summary = agent.sync()
    assert not summary.errors and live(member, "a") == "1"
    assert hub.report()[0].source.verified

    git(hub.work, "config", "commit.gpgsign", "false")
    unsigned = hub.publish([(p, cm(member, "a", "2"))])
    summary = agent.sync()
    assert live(member, "a") == "1"  # the last verified bundle stays applied
    assert [r.outcome for r in summary.results] == [Outcome.UNCHANGED]
    report = hub.report()[0]
    assert report.applied_bundle_commit == first
    assert (report.source.fresh, report.source.verified, report.source.reason) == (False, False, "Unsigned")
    assert f"bundle {unsigned[:12]} refused: the commit is not signed" in report.source.message


def test_a_bundle_signed_by_an_untrusted_key_is_refused_naming_the_key(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, keys: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    member = sim_member
    old, _, intruder = keys
    sign_commits_with(hub.work, old)
    p = placement()
    hub.publish([(p, cm(member, "a", "1"))])
    agent = make_agent(member, hub)
    signers = allowed_signers(tmp_path / "allowed_signers", old)
    agent.source.signatures = SignatureCheck(load_trusted([signers]))  # type: ignore[attr-defined]
    agent.sync()
    sign_commits_with(hub.work, intruder)
    hub.publish([(p, cm(member, "a", "evil"))])
    agent.sync()
    report = hub.report()[0]
    assert live(member, "a") == "1"
    assert (report.source.verified, report.source.reason) == (False, "UnknownSigner")
    assert "which is not a trusted key" in report.source.message


def test_during_a_key_rotation_bundles_signed_by_either_trusted_key_apply(
    sim_member: Member, hub: Hub, make_agent: AgentFactory, keys: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    member = sim_member
    old, new, _ = keys
    (tmp_path / "old.pub").write_text(public_line(old) + "\n")
    (tmp_path / "new.pub").write_text(public_line(new) + "\n")
    p = placement()
    agent = make_agent(member, hub)
    trusted = load_trusted([tmp_path / "old.pub", tmp_path / "new.pub"])  # --verify-key-file twice
    agent.source.signatures = SignatureCheck(trusted)  # type: ignore[attr-defined]
    for key, value in ((old, "1"), (new, "2")):
        sign_commits_with(hub.work, key)
        hub.publish([(p, cm(member, "a", value))])
        summary = agent.sync()
        assert not summary.errors and live(member, "a") == value
    assert hub.report()[0].source.verified


def test_key_files_the_agent_cannot_use_are_usage_errors(tmp_path: Path) -> None:
    rsa = make_key(tmp_path, "rsa", "rsa")
    with pytest.raises(ValueError, match="only Ed25519 hub keys"):
        load_trusted([rsa.with_name("rsa.pub")])
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no ssh-ed25519 public key"):
        load_trusted([tmp_path / "empty"])
    with pytest.raises(ValueError, match="cannot read"):
        load_trusted([tmp_path / "missing"])


def test_agent_run_once_with_verify_key_file_exits_3_on_an_unsigned_bundle_and_2_on_a_bad_key_file(
    sim_member: Member, hub: Hub, keys: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    member = sim_member
    old, _, _ = keys

    def once(*flags: str) -> Result:
        args = ["agent", "run", "--repo", str(hub.bare), "--cluster", hub.cluster, "--once"]
        args += ["--kubeconfig", str(member.kubeconfig), "--state-dir", str(tmp_path / "state")]
        return CliRunner().invoke(app, [*args, "--namespace", f"fs-{member.prefix}", *flags])

    pub = old.with_name(old.name + ".pub")
    sign_commits_with(hub.work, old)
    hub.publish([(placement(), cm(member, "a", "1"))])
    assert once("--verify-key-file", str(pub)).exit_code == 0
    git(hub.work, "config", "commit.gpgsign", "false")
    hub.publish([(placement(), cm(member, "a", "2"))])
    refused = once("--verify-key-file", str(pub))
    assert refused.exit_code == 3 and "the commit is not signed" in refused.stderr
    assert live(member, "a") == "1"
    bad = once("--verify-key-file", str(tmp_path / "missing.pub"))
    assert bad.exit_code == 2 and "--verify-key-file" in bad.stderr
