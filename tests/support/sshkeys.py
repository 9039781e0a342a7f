"""Throwaway SSH signing keys made by the real ``ssh-keygen``, and git configured to sign with them."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_key(directory: Path, name: str, kind: str = "ed25519", passphrase: str = "") -> Path:
    """A new key pair ``directory/name`` (+ ``.pub``); returns the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", name, "-f", str(path)]
    subprocess.run(args, check=True, capture_output=True)
    return path


def public_line(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def allowed_signers(path: Path, *keys: Path, principal: str = "hub@fleetsync.invalid") -> Path:
    """An allowed-signers file (git's ``gpg.ssh.allowedSignersFile``) trusting ``keys``."""
    path.write_text("".join(f'{principal} namespaces="git" {public_line(k)}\n' for k in keys))
    return path


def sign_commits_with(git_dir_or_work: Path, key: Path) -> None:
    """Make every later ``git commit`` in this repository SSH-signed with ``key`` (real git)."""
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true")):
        subprocess.run(["git", "config", name, value], cwd=git_dir_or_work, check=True, capture_output=True)
