"""The hub's commit signature: every commit the hub writes carries a ``gpgsig`` by the hub's own key.

The hub writes its commit objects itself (reconciler/gitstore/objects.py), so it signs them
itself too, in the same process: ``CommitSigner`` is handed the finished commit object and returns
it with the signature header git would have added (fleetsync_contract/sshsig.py), verifiable by
``git verify-commit`` with an allowed-signers file. No ``ssh-keygen`` process per commit, no key
file permission rules (a Kubernetes Secret volume is world-readable by default), and an Ed25519
signature is deterministic, so the same commit is written with the same id. Bundle and status
commits are signed alike: a member agent given the hub's public key
(``agent run --verify-key-file``) refuses a bundle commit without a good signature, so a bundle
branch whose tip is not signed with the hub's current key is written again, same content, signed
(``HubRepo.needs_signature``; the hub's loop asks it before it would keep a bundle unchanged).

The private key comes from a file (``hub run --signing-key-file``, mounted from a Secret): an
unencrypted OpenSSH Ed25519 key (``ssh-keygen -t ed25519 -N ''``). Its bytes never reach a message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from fleetsync_contract.sshsig import SignatureState, fingerprint, public_blob, sign_commit, verify_commit
from reconciler.errors import UserError

MAX_KEY_BYTES = 64 * 1024


class CommitSigner:
    """Signs commit objects with one Ed25519 key (``__call__``: unsigned object → signed object)."""

    def __init__(self, key: Ed25519PrivateKey):
        self._key = key
        self._blob = public_blob(key.public_key())
        self.fingerprint = fingerprint(self._blob)
        self._signed: set[str] = set()  # commits known to carry this key's good signature

    def __call__(self, commit: bytes) -> bytes:
        return sign_commit(commit, self._key)

    def signed(self, commit: str, read: Callable[[str], tuple[str, bytes]]) -> bool:
        """Whether ``commit`` (read as (type, raw object) by ``read`` once) has this key's good
        signature: a bundle that has not is written again, signed, when signing is turned on or
        the key is rotated, so agents that trust only the new key get a bundle they accept."""
        if commit in self._signed:
            return True
        kind, raw = read(commit)
        good = kind == "commit" and verify_commit(raw, [self._blob]).state is SignatureState.GOOD
        if good:
            self._signed.add(commit)
        return good


def load_signer(path: Path) -> CommitSigner:
    """The hub's signer from an OpenSSH private key file; UserError naming the file and the fix."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as e:
        raise UserError(f"--signing-key-file {path}: cannot read it ({e.strerror})") from e
    if len(data) > MAX_KEY_BYTES:
        raise UserError(f"--signing-key-file {path}: larger than {MAX_KEY_BYTES} bytes; not a key")
    try:
        key = load_ssh_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        # the library's message never quotes key material; keep only its class of problem
        why = "passphrase-protected" if isinstance(e, TypeError) else "not an OpenSSH private key"
        raise UserError(
            f"--signing-key-file {path}: {why} (make one with: ssh-keygen -t ed25519 -N '' -f hub-signing)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(
            f"--signing-key-file {path}: only Ed25519 keys sign bundles (ssh-keygen -t ed25519 -N '' -f hub-signing)"
        )
    return CommitSigner(key)
