"""The hub signs every commit it writes; git's own verify-commit accepts the signature."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.errors import UserError
from reconciler.gitstore.refs import RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signing import load_signer
from tests.support.gitdaemon import git
from tests.support.sshkeys import allowed_signers, make_key

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
BUNDLE = "refs/heads/fleet/bundles/a"


def verify_commit(repo: Path, commit: str, signers: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", commit],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_bundle_commit_of_a_signing_hub_passes_git_verify_commit(tmp_path: Path) -> None:
    key, other = make_key(tmp_path / "keys", "hub"), make_key(tmp_path / "keys", "other")
    git(tmp_path, "init", "-q", str(tmp_path / "fleet"))
    with HubRepo.local(tmp_path / "fleet") as repo:
        unsigned = repo.write_commit(repo.write_tree({"bundle.yaml": b"v: 1\n"}), [], "bundle", NOW)
        repo.sign_commits(load_signer(key))
        with repo.batch():
            signed = repo.write_commit(repo.write_tree({"bundle.yaml": b"v: 1\n"}), [], "bundle", NOW)
        assert signed == repo.write_commit(repo.write_tree({"bundle.yaml": b"v: 1\n"}), [], "bundle", NOW)
        repo.publish([RefUpdate(BUNDLE, signed, None)])
    fleet = tmp_path / "fleet"
    ok = verify_commit(fleet, "fleet/bundles/a", allowed_signers(tmp_path / "hub.signers", key))
    assert ok.returncode == 0, ok.stderr
    assert 'Good "git" signature for hub@fleetsync.invalid' in ok.stderr
    assert verify_commit(fleet, signed, allowed_signers(tmp_path / "other.signers", other)).returncode != 0
    assert verify_commit(fleet, unsigned, allowed_signers(tmp_path / "hub2.signers", key)).returncode != 0
    assert git(fleet, "show", "-s", "--format=%s", signed) == "bundle"


@pytest.mark.parametrize(
    ("kind", "passphrase", "why"),
    [("rsa", "", "only Ed25519 keys"), ("ed25519", "secret-pass", "passphrase-protected")],
)
def test_a_signing_key_the_hub_cannot_use_is_a_usage_error_naming_the_file(
    tmp_path: Path, kind: str, passphrase: str, why: str
) -> None:
    key = make_key(tmp_path, "k", kind, passphrase)
    with pytest.raises(UserError, match=why) as caught:
        load_signer(key)
    assert str(key) in str(caught.value) and "PRIVATE KEY" not in str(caught.value)
    with pytest.raises(UserError, match="cannot read"):
        load_signer(tmp_path / "missing")
