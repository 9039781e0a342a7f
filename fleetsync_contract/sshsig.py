"""Git commit signatures in the SSH format (``gpg.format=ssh``): made by the hub, checked by the agent.

A signed commit is a commit object with a ``gpgsig`` header holding an armored SSHSIG blob
(OpenSSH's PROTOCOL.sshsig, namespace ``git``) over the commit object without that header — the
exact bytes ``git commit -S`` writes and ``git verify-commit`` checks. The format lives here, in
the wire contract, because both sides need the same bytes: the hub inserts the header into the
commit objects it writes itself (reconciler/gitstore/signing.py), the agent checks it without a
process and without ``ssh-keygen`` in its image (agent/signatures.py). Only the wire format is
written here; the cryptography is the ``cryptography`` package's Ed25519, and only Ed25519 keys
are accepted (deterministic signatures, so a re-written commit keeps its id). Both directions are
tested against the real tools: a commit signed here passes ``git verify-commit`` and a commit
signed by git verifies here (tests/contract/test_sshsig.py).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

NAMESPACE = b"git"
KEY_TYPE = "ssh-ed25519"
HASH = "sha512"
BEGIN = b"-----BEGIN SSH SIGNATURE-----"
END = b"-----END SSH SIGNATURE-----"
HEADER = b"gpgsig"
MAX_COMMIT_BYTES = 1024 * 1024  # a bundle commit is a few hundred bytes
MAX_SIGNATURE_BYTES = 16 * 1024


class SignatureState(StrEnum):
    """What checking one commit's signature found (a closed vocabulary: the agent's report reason)."""

    GOOD = "Verified"
    UNSIGNED = "Unsigned"
    UNKNOWN_KEY = "UnknownSigner"
    BAD = "BadSignature"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: SignatureState
    message: str
    fingerprint: str = ""  # SHA256:… of the signing key, as ssh-keygen -l prints it


class FormatError(ValueError):
    """A key or a signature is not in the expected wire format."""


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise FormatError("truncated")
    (n,) = struct.unpack(">I", buf[pos : pos + 4])
    if pos + 4 + n > len(buf):
        raise FormatError("truncated")
    return buf[pos + 4 : pos + 4 + n], pos + 4 + n


def public_blob(key: Ed25519PublicKey) -> bytes:
    """The SSH wire form of a public key (what an ``.pub`` line base64-encodes)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _string(KEY_TYPE.encode()) + _string(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def fingerprint(blob: bytes) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` and git's ``%GK`` print it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_blob(blob: bytes) -> Ed25519PublicKey:
    kind, pos = _read_string(blob, 0)
    raw, pos = _read_string(blob, pos)
    if kind.decode(errors="replace") != KEY_TYPE or len(raw) != 32 or pos != len(blob):
        raise FormatError(f"not an {KEY_TYPE} key ({kind.decode(errors='replace')[:40]})")
    return Ed25519PublicKey.from_public_bytes(raw)


def _signed_data(message: bytes) -> bytes:
    """What an SSHSIG signature covers: the preamble, namespace, reserved, hash name, H(message)."""
    digest = hashlib.sha512(message).digest()
    return b"SSHSIG" + _string(NAMESPACE) + _string(b"") + _string(HASH.encode()) + _string(digest)


def sign(message: bytes, key: Ed25519PrivateKey) -> bytes:
    """An armored SSHSIG signature of ``message`` in namespace ``git`` (``ssh-keygen -Y sign -n git``)."""
    sig = key.sign(_signed_data(message))
    blob = (
        b"SSHSIG"
        + struct.pack(">I", 1)
        + _string(public_blob(key.public_key()))
        + _string(NAMESPACE)
        + _string(b"")
        + _string(HASH.encode())
        + _string(_string(KEY_TYPE.encode()) + _string(sig))
    )
    text = base64.b64encode(blob)
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return b"\n".join([BEGIN, *lines, END]) + b"\n"


def sign_commit(commit: bytes, key: Ed25519PrivateKey) -> bytes:
    """A commit object with a ``gpgsig`` header over the rest of it, as ``git commit -S`` writes it
    (the header goes last, before the blank line and the message)."""
    head, sep, body = commit.partition(b"\n\n")
    lines = sign(commit, key).rstrip(b"\n").split(b"\n")
    header = HEADER + b" " + lines[0] + b"".join(b"\n " + ln for ln in lines[1:])
    return head + b"\n" + header + sep + body


def split_signed(commit: bytes) -> tuple[bytes, bytes | None]:
    """(the commit without its ``gpgsig`` header, the armored signature or None when unsigned)."""
    head, sep, body = commit.partition(b"\n\n")
    kept: list[bytes] = []
    sig: list[bytes] | None = None
    in_sig = False
    for line in head.split(b"\n"):
        if in_sig and line.startswith(b" "):
            assert sig is not None
            sig.append(line[1:])
            continue
        in_sig = False
        if line.startswith(HEADER + b" ") and sig is None:
            sig, in_sig = [line[len(HEADER) + 1 :]], True
            continue
        kept.append(line)
    payload = b"\n".join(kept) + sep + body
    return payload, (b"\n".join(sig) + b"\n" if sig is not None else None)


def _unarmor(armored: bytes) -> bytes:
    lines = [ln.strip() for ln in armored.strip().split(b"\n")]
    if len(armored) > MAX_SIGNATURE_BYTES or len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise FormatError("not an SSH signature (gpg.format=ssh)")
    try:
        return base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except ValueError as e:
        raise FormatError("the SSH signature is not base64") from e


def _parse_sshsig(blob: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(public key blob, namespace, hash name, raw Ed25519 signature)."""
    if blob[:6] != b"SSHSIG" or blob[6:10] != struct.pack(">I", 1):
        raise FormatError("not an SSHSIG version 1 signature")
    pub, pos = _read_string(blob, 10)
    namespace, pos = _read_string(blob, pos)
    _reserved, pos = _read_string(blob, pos)
    hash_name, pos = _read_string(blob, pos)
    sig_blob, pos = _read_string(blob, pos)
    if pos != len(blob):
        raise FormatError("trailing bytes after the signature")
    kind, spos = _read_string(sig_blob, 0)
    raw, spos = _read_string(sig_blob, spos)
    if kind.decode(errors="replace") != KEY_TYPE or len(raw) != 64 or spos != len(sig_blob):
        raise FormatError(f"not an {KEY_TYPE} signature")
    return pub, namespace, hash_name, raw


def signing_key(commit: bytes) -> str:
    """The fingerprint of the key ``commit`` says it is signed with ("" when unsigned), not judged;
    FormatError when its signature is not an SSH one."""
    _, armored = split_signed(commit)
    return "" if armored is None else fingerprint(_parse_sshsig(_unarmor(armored))[0])


def verify_commit(commit: bytes, trusted: Iterable[bytes]) -> Verdict:
    """Whether ``commit`` (a raw commit object) carries a good ``git`` signature by one of the
    ``trusted`` public key blobs. Never raises: a malformed signature is a BAD verdict."""
    if len(commit) > MAX_COMMIT_BYTES:
        return Verdict(SignatureState.BAD, f"the commit object is larger than {MAX_COMMIT_BYTES} bytes")
    payload, armored = split_signed(commit)
    if armored is None:
        return Verdict(SignatureState.UNSIGNED, "the commit is not signed")
    try:
        pub, namespace, hash_name, raw = _parse_sshsig(_unarmor(armored))
    except FormatError as e:
        return Verdict(SignatureState.BAD, f"unreadable signature: {e}")
    fp = fingerprint(pub)
    if pub not in set(trusted):
        return Verdict(SignatureState.UNKNOWN_KEY, f"signed by {fp}, which is not a trusted key", fp)
    if namespace != NAMESPACE or hash_name.decode(errors="replace") not in ("sha256", "sha512"):
        return Verdict(SignatureState.BAD, "the signature is not a git commit signature", fp)
    digest = hashlib.new(hash_name.decode(), payload).digest()
    data = b"SSHSIG" + _string(namespace) + _string(b"") + _string(hash_name) + _string(digest)
    try:
        parse_public_blob(pub).verify(raw, data)
    except (InvalidSignature, FormatError):
        return Verdict(SignatureState.BAD, f"the signature by {fp} does not match the commit", fp)
    return Verdict(SignatureState.GOOD, f"signed by {fp}", fp)
