"""Fleet repos with signed commits: throwaway SSH keys from ssh-keygen, commits unsigned or
signed by a named key (``ada`` is the allowed signer, ``eve`` a stranger, ``host`` a Git host)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import verify_commits

SIGNERS = ".fleetsync/allowed_signers"
STRICT = f"verify:\n  commits: strict\n  allowedSignersFile: {SIGNERS}\n"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def ssh_key(tmp: Path, name: str) -> tuple[Path, str]:
    """A throwaway SSH key and its allowed-signers line (principal ``name``)."""
    key = tmp / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key, f"{name} {key.with_suffix('.pub').read_text().strip()}\n"


class Fleet:
    """A fleet repo whose commits are made unsigned or signed by a named key."""

    def __init__(self, tmp: Path, settings: str = STRICT, signers: tuple[str, ...] = ("ada",)) -> None:
        self.path = tmp / "fleet"
        self.path.mkdir(parents=True)
        self.keys = {n: ssh_key(tmp, n) for n in ("ada", "eve", "host")}
        git(self.path, "init", "-q", "-b", "main")
        git(self.path, "config", "user.name", "Mallory Example")
        git(self.path, "config", "user.email", "mallory@example.com")
        git(self.path, "config", "gpg.format", "ssh")
        self.write("fleetsync.yaml", settings)
        self.write(SIGNERS, "".join(self.keys[n][1] for n in signers))
        self.anchor = self.commit("ada", "trust anchor")

    def write(self, path: str, text: str) -> None:
        (self.path / path).parent.mkdir(parents=True, exist_ok=True)
        (self.path / path).write_text(text)

    def commit(self, signer: str | None, message: str) -> str:
        (self.path / "n.txt").write_text(message)
        git(self.path, "add", "-A")
        sign = ["-c", f"user.signingkey={self.keys[signer][0]}", "commit", "-S"] if signer else ["commit"]
        git(self.path, *sign, "-q", "--no-verify", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def verify(self, anchor: str | None = None) -> tuple[str | None, str]:
        """(the held commit or None, its reason) for the walk from ``anchor`` to the head."""
        with HubRepo.local(self.path) as repo:
            v = verify_commits(
                repo, self.anchor if anchor is None else anchor, git(self.path, "rev-parse", "HEAD")
            )
        return (v.held.commit, v.held.reason) if v.held else (None, v.note)
