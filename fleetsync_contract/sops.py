"""SOPS-encrypted YAML documents with age recipients: the format, decryption and encryption.

A Secret in the fleet repo may be committed encrypted in the format Flux users already have: a
SOPS document whose leaf values under ``encrypted_regex`` (for Kubernetes ``^(data|stringData)$``)
are ``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]``, encrypted with one random 256-bit data key, and
whose ``sops:`` section holds that data key encrypted to each cluster's age recipient, the
``lastmodified`` time and the ``mac``: a SHA-512 over every value (or only the encrypted ones with
``mac_only_encrypted``) in document order, itself encrypted with the data key and ``lastmodified``
as additional data. Every value's additional data is its path (``data:password:``), so a value
moved to another key does not decrypt. The contract implements sops' own algorithm (getsops/sops
``sops.go`` and ``aes/cipher.go``) for this age-only case rather than shelling out to a ``sops``
binary, because both the agent (which decrypts) and ``fleetsync secret encrypt`` need it and
neither may depend on a binary being installed; the primitives come from maintained libraries —
pyrage for age, ``cryptography`` for AES-GCM — and nothing here is hand-rolled cryptography.
tests/contract/test_sops.py checks both directions against the real ``sops`` binary.

The hub never calls ``decrypt``: it only reads the recipients and which paths are encrypted
(``recipients``, ``is_encrypted_path``). The walk order is the document's key order, which the
hub's canonical YAML sorts; so a document is placed only when its keys are already sorted
(``keys_sorted``), which ``encrypt`` guarantees.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SOPS_KEY = "sops"
SOPS_VERSION = "3.9.4"  # the sops release whose format encrypt writes (read by sops 3.7 onwards)
KUBERNETES_REGEX = "^(data|stringData)$"  # what Flux's docs and ``fleetsync secret encrypt`` use
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"  # sops' default when a file names no rule
MAX_VALUES = 10_000
MAX_VALUE_BYTES = 1 << 20
MAX_RECIPIENTS = 100
NONCE_BYTES = 32  # sops' IV size (GCM with a non-standard nonce size, as Go's NewGCMWithNonceSize)
TAG_BYTES = 16
ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
RECIPIENT_RE = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
_ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:([a-z]+)\]$")


class SopsError(ValueError):
    """The document is not a readable SOPS file, or does not decrypt: never holds a value."""


@dataclass(frozen=True, slots=True)
class Rules:
    """Which leaves a SOPS file encrypts (sops' metadata, one rule at most)."""

    encrypted_regex: str = ""
    unencrypted_regex: str = ""
    encrypted_suffix: str = ""
    unencrypted_suffix: str = ""
    mac_only_encrypted: bool = False

    @classmethod
    def of(cls, meta: Mapping[str, Any]) -> Rules:
        rules = cls(
            str(meta.get("encrypted_regex") or ""),
            str(meta.get("unencrypted_regex") or ""),
            str(meta.get("encrypted_suffix") or ""),
            str(meta.get("unencrypted_suffix") or ""),
            meta.get("mac_only_encrypted") is True,
        )
        if not (
            rules.encrypted_regex
            or rules.unencrypted_regex
            or rules.encrypted_suffix
            or rules.unencrypted_suffix
        ):
            return cls(
                unencrypted_suffix=DEFAULT_UNENCRYPTED_SUFFIX, mac_only_encrypted=rules.mac_only_encrypted
            )
        return rules

    def encrypts(self, path: Sequence[str]) -> bool:
        """sops' ``Tree.Encrypt`` decision for one leaf at ``path`` (its mapping keys, outermost first)."""
        if self.unencrypted_suffix:
            return not any(p.endswith(self.unencrypted_suffix) for p in path)
        if self.encrypted_suffix:
            return any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex:
            return not any(re.search(self.unencrypted_regex, p) for p in path)
        return any(re.search(self.encrypted_regex, p) for p in path)

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        return out


# -- reading without keys (the hub) ---------------------------------------------------------------
def is_sops(doc: Mapping[str, Any]) -> bool:
    """The document carries SOPS metadata (Flux's test: a ``sops`` mapping with a ``mac``)."""
    meta = doc.get(SOPS_KEY)
    return isinstance(meta, Mapping) and "mac" in meta


def recipients(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The age recipients the document's data key is encrypted to."""
    meta = doc.get(SOPS_KEY)
    stanzas = meta.get("age") if isinstance(meta, Mapping) else None
    if not isinstance(stanzas, list):
        return ()
    return tuple(str(s.get("recipient")) for s in stanzas if isinstance(s, Mapping) and s.get("recipient"))


def rules(doc: Mapping[str, Any]) -> Rules:
    meta = doc.get(SOPS_KEY)
    return Rules.of(meta if isinstance(meta, Mapping) else {})


def leaves(tree: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf value with its path, in document order, as sops walks a tree: a list item
    keeps its list's path (sops adds no index), the ``sops`` section is not part of the tree."""
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            if not path and k == SOPS_KEY:
                continue
            yield from leaves(v, (*path, str(k)))
    elif isinstance(tree, list):
        for item in tree:
            yield from leaves(item, path)
    else:
        yield path, tree


def keys_sorted(tree: Any) -> bool:
    """Every mapping's keys are in sorted order, so canonical YAML keeps the MAC's walk order."""
    if isinstance(tree, Mapping):
        keys = [str(k) for k in tree if k != SOPS_KEY]
        return keys == sorted(keys) and all(keys_sorted(v) for k, v in tree.items() if k != SOPS_KEY)
    if isinstance(tree, list):
        return all(keys_sorted(v) for v in tree)
    return True


# -- values --------------------------------------------------------------------------------------
def _to_bytes(value: Any) -> bytes:
    """sops' ``ToBytes``: what a value contributes to the MAC and what is encrypted."""
    if isinstance(value, bool):  # strings.Title(strconv.FormatBool(v))
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return _go_float(value).encode()
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f', -1, 64)``: the shortest exact decimal, never exponent form."""
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, "f") if abs(value) >= 1 else f"{value:.{abs(int(text.split('e')[1])) + 17}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
    return text[:-2] if text.endswith(".0") else text


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, bytes):
        return "bytes"
    return "str"


def _from_bytes(data: bytes, kind: str) -> Any:
    text = data.decode("utf-8")
    if kind == "str":
        return text
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text.lower() in ("1", "t", "true")
    if kind == "bytes":
        return data
    raise SopsError(f"unknown value type {kind!r}")


def encrypt_value(value: Any, key: bytes, additional: str) -> str:
    """One leaf as sops writes it (``encrypt`` leaves empty strings and nulls as they are, as sops)."""
    iv = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(iv, _to_bytes(value), additional.encode())
    b64 = base64.b64encode
    return (
        f"ENC[AES256_GCM,data:{b64(sealed[:-TAG_BYTES]).decode()},iv:{b64(iv).decode()},"
        f"tag:{b64(sealed[-TAG_BYTES:]).decode()},type:{_type_of(value)}]"
    )


def decrypt_value(text: Any, key: bytes, additional: str, where: str) -> Any:
    if text == "" or text is None:
        return text
    m = _ENC_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise SopsError(f"{where} should be encrypted (ENC[AES256_GCM,...]) and is not")
    try:
        data, iv, tag = (base64.b64decode(m.group(i), validate=True) for i in (1, 2, 3))
        plain = AESGCM(key).decrypt(iv, data + tag, additional.encode())
        return _from_bytes(plain, m.group(4))
    except (binascii.Error, InvalidTag, ValueError) as e:
        raise SopsError(f"{where} does not decrypt (tampered, or moved from another key)") from e


def _mac_additional(meta: Mapping[str, Any]) -> str:
    """The MAC's additional data: ``lastmodified`` as Go's ``time.RFC3339`` writes it."""
    raw = meta.get("lastmodified")
    if isinstance(raw, datetime):
        stamp = raw
    else:
        try:
            stamp = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError as e:
            raise SopsError("sops.lastmodified is not an RFC 3339 time") from e
    return _rfc3339(stamp)


def _rfc3339(stamp: datetime) -> str:
    stamp = stamp.replace(microsecond=0)
    if stamp.tzinfo is None or stamp.utcoffset() == UTC.utcoffset(None):
        return stamp.replace(tzinfo=None).isoformat() + "Z"
    return stamp.isoformat()


# -- age ------------------------------------------------------------------------------------------
def armor(data: bytes) -> str:
    """age's ASCII armor (PEM-like, 64 columns), as sops stores each recipient's data key."""
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def dearmor(text: str) -> bytes:
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if len(lines) < 2 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise SopsError("an age stanza is not ASCII-armored")
    try:
        return base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error as e:
        raise SopsError("an age stanza's armor is not base64") from e


def parse_identities(text: str) -> list[pyrage.x25519.Identity]:
    """An age identity file: ``AGE-SECRET-KEY-1…`` lines, ``#`` comments and blank lines."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            out.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError as e:
            raise SopsError("the age identity file holds a line that is not an X25519 identity") from e
    if not out:
        raise SopsError("the age identity file holds no identity")
    return out


def public_recipient(identity: pyrage.x25519.Identity) -> str:
    return str(identity.to_public())


def check_recipient(text: str) -> str:
    if not RECIPIENT_RE.match(text):
        raise SopsError(f"{text[:80]!r} is not an age X25519 recipient (age1 followed by 58 characters)")
    return text


def _data_key(meta: Mapping[str, Any], identities: Sequence[pyrage.x25519.Identity]) -> bytes:
    stanzas = meta.get("age")
    if not isinstance(stanzas, list) or not stanzas:
        raise SopsError("the file has no age recipients (only age is supported)")
    for s in stanzas[:MAX_RECIPIENTS]:
        if not isinstance(s, Mapping) or not isinstance(s.get("enc"), str):
            continue
        try:
            key = pyrage.decrypt(dearmor(s["enc"]), list(identities))
        except pyrage.DecryptError:
            continue  # not ours: another cluster's stanza
        if len(key) == 32:
            return key
    raise SopsError("none of the file's age recipients is this agent's identity")


# -- documents ------------------------------------------------------------------------------------
def decrypt(doc: Mapping[str, Any], identities: Sequence[pyrage.x25519.Identity]) -> dict[str, Any]:
    """The document with every encrypted value in plaintext and no ``sops`` section, after the
    MAC over its values checks out; ``SopsError`` (naming paths, never values) otherwise."""
    meta = doc.get(SOPS_KEY)
    if not isinstance(meta, Mapping):
        raise SopsError("the document has no sops metadata")
    key = _data_key(meta, identities)
    r = Rules.of(meta)
    digest = hashlib.sha512()
    count = 0

    def visit(value: Any, path: tuple[str, ...]) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise SopsError(f"the document has more than {MAX_VALUES} values")
        encrypted = r.encrypts(path)
        if encrypted:
            value = decrypt_value(value, key, ":".join(path) + ":", ":".join(path))
        if encrypted or not r.mac_only_encrypted:
            digest.update(_to_bytes(value))
        return value

    out: dict[str, Any] = _map(doc, (), visit)
    mac = decrypt_value(meta.get("mac"), key, _mac_additional(meta), "sops.mac")
    if not isinstance(mac, str) or mac.upper() != digest.hexdigest().upper():
        raise SopsError("the MAC does not match the values: the file was changed after it was encrypted")
    return out


def encrypt(
    doc: Mapping[str, Any],
    recipients_: Iterable[str],
    *,
    regex: str = KUBERNETES_REGEX,
    now: datetime | None = None,
) -> dict[str, Any]:
    """``doc`` (plaintext, no ``sops`` section) encrypted to the age recipients, keys sorted at
    every level so the hub's canonical YAML keeps the MAC's walk order."""
    if SOPS_KEY in doc:
        raise SopsError("the document is already encrypted (it has a sops section)")
    keys = sorted(set(check_recipient(r) for r in recipients_))
    if not keys or len(keys) > MAX_RECIPIENTS:
        raise SopsError(f"encrypting needs 1 to {MAX_RECIPIENTS} age recipients, got {len(keys)}")
    data_key = os.urandom(32)
    r = Rules(encrypted_regex=regex)
    digest = hashlib.sha512()

    def visit(value: Any, path: tuple[str, ...]) -> Any:
        digest.update(_to_bytes(value))
        if value is None or value == "" or not r.encrypts(path):
            return value
        return encrypt_value(value, data_key, ":".join(path) + ":")

    out: dict[str, Any] = _map(_sorted(doc), (), visit)
    stamp = _rfc3339(now or datetime.now(UTC))
    stanzas = [
        {"recipient": k, "enc": armor(pyrage.encrypt(data_key, [pyrage.x25519.Recipient.from_str(k)]))}
        for k in keys
    ]
    meta: dict[str, Any] = {"age": stanzas, "lastmodified": stamp}
    meta["mac"] = encrypt_value(digest.hexdigest().upper(), data_key, stamp)
    meta.update(r.metadata())
    meta["version"] = SOPS_VERSION
    out[SOPS_KEY] = meta
    return out


def _sorted(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _sorted(tree[k]) for k in sorted(tree, key=str)}
    if isinstance(tree, list):
        return [_sorted(v) for v in tree]
    return tree


def _map(tree: Any, path: tuple[str, ...], fn: Callable[[Any, tuple[str, ...]], Any]) -> Any:
    """A copy of ``tree`` (without the top-level ``sops``) with ``fn`` applied to every leaf in
    document order."""
    if isinstance(tree, Mapping):
        return {k: _map(v, (*path, str(k)), fn) for k, v in tree.items() if path or k != SOPS_KEY}
    if isinstance(tree, list):
        return [_map(v, path, fn) for v in tree]
    return fn(tree, path)
