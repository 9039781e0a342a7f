"""SOPS-encrypted Secrets are decrypted here, one object at a time, just before the applier sends them.

The hub never holds a key: a Secret committed encrypted to this cluster's age recipient arrives in
the bundle as ciphertext, and only this step, inside ``Applier.process``, turns it into the
manifest to apply. The plaintext lives in that call's memory only: the bundle, the agent's git
cache, the inventory and the parsed-manifest cache keep the ciphertext, and everything that leaves
the agent about a Secret (reports, drift files, logs) is masked by the comparer and the applier as
for any Secret. A file that does not decrypt (not encrypted to this cluster, tampered: the MAC
does not match) fails that object alone with ``DecryptionFailed`` and a message naming paths,
never values; the other objects of the bundle still apply.

The identity is the agent's own: an age identity file (``--age-identity-file``), or else the
Secret ``fleetsync-age-identity`` in the agent's namespace (any key ending ``.agekey``, as Flux's
``sops-age`` Secret), read once per sync and only when the bundle holds an encrypted object, so
a rotated key is picked up at the next sync.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import KubeError
from fleetsync_contract import sops

if TYPE_CHECKING:
    import pyrage

    from agent.apply.manager import Cluster, Work

IDENTITY_SECRET = "fleetsync-age-identity"
MAX_IDENTITY_BYTES = 64 * 1024
REASON = "DecryptionFailed"


class DecryptFailed(Exception):
    """This object cannot be decrypted here; the message names no value."""


class Decryptor:
    """The agent's age identities, loaded on first use in one sync; safe across threads."""

    def __init__(self, load: Callable[[], Sequence[pyrage.x25519.Identity]]):
        self._load = load
        self._lock = threading.Lock()
        self._identities: Sequence[pyrage.x25519.Identity] | None = None
        self._error = ""

    def __repr__(self) -> str:  # never the keys
        return "Decryptor()"

    @classmethod
    def from_file(cls, path: Path) -> Decryptor:
        def load() -> Sequence[pyrage.x25519.Identity]:
            if path.stat().st_size > MAX_IDENTITY_BYTES:  # bounded before it is read
                raise DecryptFailed(f"{path} is larger than {MAX_IDENTITY_BYTES} bytes")
            return sops.parse_identities(_bounded(path.read_bytes(), str(path)))

        return cls(load)

    @classmethod
    def from_cluster(cls, cluster: Cluster, namespace: str) -> Decryptor:
        return cls(lambda: _from_secret(cluster, namespace))

    def identities(self) -> Sequence[pyrage.x25519.Identity]:
        with self._lock:
            if self._identities is None and not self._error:
                try:
                    self._identities = self._load()
                except (OSError, sops.SopsError, KubeError, DecryptFailed) as e:
                    self._error = f"the agent's age identity is not readable: {type(e).__name__}: {_safe(e)}"
            if self._identities is None:
                raise DecryptFailed(self._error)
            return self._identities


def opened(w: Work, decryptor: Decryptor | None) -> Work:
    """``w`` with its manifest decrypted when it is SOPS-encrypted; ``w`` itself otherwise."""
    if not sops.is_sops(w.manifest):
        return w
    if decryptor is None:
        raise DecryptFailed("the object is SOPS-encrypted and this agent has no age identity")
    try:
        plain = sops.decrypt(w.manifest, decryptor.identities())
    except sops.SopsError as e:
        raise DecryptFailed(f"the object does not decrypt on this cluster: {e}") from e
    return dataclasses.replace(w, manifest=plain)


def _from_secret(cluster: Cluster, namespace: str) -> Sequence[pyrage.x25519.Identity]:
    secret = cluster.get(cluster.kind("v1", "Secret"), IDENTITY_SECRET, namespace)
    where = f"Secret {namespace}/{IDENTITY_SECRET}"
    if secret is None:
        raise DecryptFailed(f"neither --age-identity-file nor the {where} is there")
    data: Any = secret.get("data") or {}
    values = [v for k, v in sorted(data.items()) if str(k).endswith(".agekey") and isinstance(v, str)]
    if not values:
        raise DecryptFailed(f"the {where} has no key ending .agekey")
    try:
        text = "\n".join(_bounded(base64.b64decode(v, validate=True), where) for v in values)
    except binascii.Error as e:
        raise DecryptFailed(f"the {where} holds a value that is not base64") from e
    return sops.parse_identities(text)


def _bounded(data: bytes, where: str) -> str:
    if len(data) > MAX_IDENTITY_BYTES:
        raise DecryptFailed(f"{where} is larger than {MAX_IDENTITY_BYTES} bytes")
    return data.decode("utf-8", "replace")


def _safe(e: Exception) -> str:
    """An error about the identity source, without anything read from it."""
    if isinstance(e, OSError):
        return f"{e.strerror}: {e.filename}"
    return str(e) if isinstance(e, sops.SopsError | DecryptFailed) else type(e).__name__


def decryptor_for(identity_file: str, cluster: Cluster, namespace: str) -> Decryptor:
    """The file when one is given (``--age-identity-file``), else the Secret in the agent's namespace."""
    return (
        Decryptor.from_file(Path(identity_file))
        if identity_file
        else Decryptor.from_cluster(cluster, namespace)
    )
