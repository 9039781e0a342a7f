"""The SSH commit signature format against the real tools: ssh-keygen's bytes, git's commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from fleetsync_contract.sshsig import SignatureState, public_blob, sign, split_signed, verify_commit
from tests.support.agentfixtures import git
from tests.support.sshkeys import make_key, sign_commits_with


def _key(path: Path) -> Ed25519PrivateKey:
    key = load_ssh_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_a_signature_is_byte_for_byte_what_ssh_keygen_makes(tmp_path: Path) -> None:
    path = make_key(tmp_path, "hub")
    message = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nbundle\n"
    (tmp_path / "msg").write_bytes(message)
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(path), str(tmp_path / "msg")],
        check=True,
        capture_output=True,
    )
    assert sign(message, _key(path)) == (tmp_path / "msg.sig").read_bytes()


def test_a_commit_git_signed_verifies_and_any_other_is_refused_with_its_reason(tmp_path: Path) -> None:
    hub, other = make_key(tmp_path / "keys", "hub"), make_key(tmp_path / "keys", "other")
    work = tmp_path / "w"
    git(tmp_path, "init", "-q", str(work))
    (work / "f").write_text("1\n")
    git(work, "add", "f")
    git(work, "commit", "-qm", "unsigned")
    unsigned = git(work, "cat-file", "commit", "HEAD").encode() + b"\n"
    sign_commits_with(work, hub)
    git(work, "commit", "-q", "--allow-empty", "-m", "signed by git")
    raw = subprocess.run(
        ["git", "cat-file", "commit", "HEAD"], cwd=work, capture_output=True, check=True
    ).stdout
    trusted = [public_blob(_key(hub).public_key())]

    assert verify_commit(raw, trusted).state is SignatureState.GOOD
    assert verify_commit(unsigned, trusted).state is SignatureState.UNSIGNED
    unknown = verify_commit(raw, [public_blob(_key(other).public_key())])
    assert unknown.state is SignatureState.UNKNOWN_KEY
    assert unknown.fingerprint in unknown.message  # the operator learns which key signed it
    tampered = raw.replace(b"signed by git", b"signed by gut")
    assert verify_commit(tampered, trusted).state is SignatureState.BAD
    payload, armored = split_signed(raw)
    assert armored is not None and b"gpgsig" not in payload
    assert (
        verify_commit(payload.replace(b"\n\n", b"\ngpgsig junk\n\n", 1), trusted).state is SignatureState.BAD
    )
