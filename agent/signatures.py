"""Which hub keys this agent trusts, and the check that a bundle commit is signed by one of them.

The agent is given the hub's public key(s) (``agent run --verify-key-file F``, repeatable, or
``FLEETSYNC_VERIFY_KEY_FILES``); with none it checks no signatures, as before. Each file holds
OpenSSH public key lines (``ssh-ed25519 AAAA… comment``) or allowed-signers lines
(``principal ssh-ed25519 AAAA…``, the file git's ``gpg.ssh.allowedSignersFile`` reads), so one
file can list the old and the new hub key during a rotation: a bundle signed by any trusted key
is accepted. The check itself is pure (fleetsync_contract/sshsig.py, no ``ssh-keygen`` process):
agent/source.py hands it the raw commit object of each bundle it would accept, and a commit that
is unsigned, signed by another key, or whose signature does not match is refused with
``SignatureRefused`` — the loop keeps the last verified bundle and reports ``verified: false``
with the reason (docs/agent.md, "Signed bundles").
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from agent.errors import SignatureRefused
from fleetsync_contract.sshsig import KEY_TYPE, FormatError, SignatureState, parse_public_blob, verify_commit

MAX_KEY_FILE_BYTES = 1024 * 1024
MAX_KEYS = 1000


def _line_key(line: str, where: str) -> bytes | None:
    """The key blob of one public key or allowed-signers line; None for a blank or comment line."""
    tokens = line.split()
    if not tokens or tokens[0].startswith("#"):
        return None
    at = next((i for i, t in enumerate(tokens[:-1]) if t == KEY_TYPE), None)
    if at is None:
        raise ValueError(f"{where}: no {KEY_TYPE} key (only Ed25519 hub keys are supported)")
    options = tokens[1:at]
    if any(not o.startswith("namespaces=") for o in options) or at > 2:
        raise ValueError(f"{where}: only a principal and namespaces= may come before the key")
    if options and "git" not in options[0].removeprefix("namespaces=").strip('"').split(","):
        return None  # the key is not for git signatures
    try:
        blob = base64.b64decode(tokens[at + 1], validate=True)
        parse_public_blob(blob)
    except (ValueError, FormatError) as e:
        raise ValueError(f"{where}: not a valid {KEY_TYPE} public key") from e
    return blob


def load_trusted(paths: Sequence[Path]) -> tuple[bytes, ...]:
    """The public key blobs in ``paths``; ValueError (a usage error) naming the file and line."""
    keys: list[bytes] = []
    for path in paths:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as e:
            raise ValueError(f"--verify-key-file {path}: cannot read it ({e.strerror})") from e
        if len(data) > MAX_KEY_FILE_BYTES:
            raise ValueError(f"--verify-key-file {path}: larger than {MAX_KEY_FILE_BYTES} bytes")
        found = 0
        for n, line in enumerate(data.decode(errors="replace").splitlines(), 1):
            blob = _line_key(line, f"--verify-key-file {path}:{n}")
            if blob is not None:
                keys.append(blob)
                found += 1
        if not found:
            raise ValueError(f"--verify-key-file {path}: no {KEY_TYPE} public key for git signatures in it")
    if len(keys) > MAX_KEYS:
        raise ValueError(f"--verify-key-file: {len(keys)} keys; at most {MAX_KEYS}")
    return tuple(dict.fromkeys(keys))


class SignatureCheck:
    """Refuses a bundle commit that no trusted key signed (``check``); remembers the last good one."""

    def __init__(self, trusted: Sequence[bytes]):
        if not trusted:
            raise ValueError("--verify-key-file: no trusted key")
        self.trusted = tuple(trusted)
        self._good = ""
        self._good_key = ""

    def check(self, commit: str, raw: bytes) -> str:
        """The fingerprint of the trusted key that signed ``raw`` (the object of ``commit``);
        SignatureRefused when none did."""
        if commit == self._good:  # an object id names its bytes, signature included
            return self._good_key
        verdict = verify_commit(raw, self.trusted)
        if verdict.state is not SignatureState.GOOD:
            raise SignatureRefused(
                f"bundle {commit[:12]} refused: {verdict.message}; keeping the last verified bundle",
                verdict.state.value,
                commit,
            )
        self._good, self._good_key = commit, verdict.fingerprint
        return verdict.fingerprint
