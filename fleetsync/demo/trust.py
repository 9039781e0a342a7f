"""``fleetsync demo --secure``: the demo fleet with trust on from commit to cluster, behind one flag.

Every door docs/security.md describes is opened with the real parts, not simulated: the fleet
repo's commits are SSH-signed by git itself with a maintainers' key, and ``fleetsync.yaml`` turns
on ``verify: {commits: strict}`` with the allowed-signers file committed beside it, so the hub
renders only signed commits (reconciler/gitstore/signatures.py); the hub signs every commit it
writes with its own key (reconciler/gitstore/signing.py) and every agent is given the hub's public
key, as ``agent run --verify-key-file`` does (agent/signatures.py); and one Secret is committed
SOPS-encrypted for some clusters' age recipients, declared by their MemberClusters, whose agents
hold the identities (agent/apply/decrypt.py), while the hub passes ciphertext through and
withholds the Secret from every other cluster (reconciler/policy/encrypted.py). All keys are made
here, in the demo's temporary directory (``keys/``, never in the fleet repo): the SSH keys with
``ssh-keygen``, which git needs to sign and verify anyway, the age identities with pyrage; the
Secret's value is random per run and is never printed — ``check`` proves where it is (the live
Secret on each recipient) and where it is not (any file of any hub ref) by comparing, and shows
only a digest.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from fleetsync_contract import sops
from fleetsync_contract.canonical import dump
from fleetsync_contract.sshsig import fingerprint
from reconciler.api.membercluster import MemberCluster
from reconciler.errors import UserError
from reconciler.gitstore.worktree import Identity
from reconciler.load.yamldoc import YamlError, parse_documents
from reconciler.policy.encrypted import AGE_RECIPIENT_ANNOTATION

ALLOWED_SIGNERS = ".fleetsync/allowed_signers"
SETTINGS = "fleetsync.yaml"
NAMESPACE = "fleetsync-demo"
SECRET = "demo-credentials"
PLACEMENT = "demo-credentials"
SECRET_FILE = f"secure/{SECRET}.yaml"
PLACEMENT_FILE = "secure/placement.yaml"
SECRET_KEY = "password"
PRODUCTION = ("environment", "production")  # the recipients, when the template labels any cluster so
MAX_FILE_BYTES = 1 << 20
KEYGEN_TIMEOUT = 30


class TrustSetupError(UserError):
    """The demo's keys could not be made (``ssh-keygen`` missing or failing)."""


@dataclass(frozen=True, slots=True)
class SigningIdentity(Identity):
    """The demo identity, signing every commit with an SSH key (git's own ``commit -S``)."""

    key: str = ""

    def env(self) -> dict[str, str]:
        config = {"gpg.format": "ssh", "user.signingkey": self.key, "commit.gpgsign": "true"}
        out = Identity.env(self)
        out["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (name, value) in enumerate(config.items()):
            out[f"GIT_CONFIG_KEY_{i}"] = name
            out[f"GIT_CONFIG_VALUE_{i}"] = value
        return out


@dataclass(frozen=True, slots=True)
class SshKey:
    private: Path
    public: Path
    line: str  # "ssh-ed25519 AAAA… comment"
    fingerprint: str  # SHA256:…


@dataclass(frozen=True, slots=True, repr=False)
class Trust:
    """The demo's keys and the Secret's value (``repr`` names no key and no value)."""

    keys: Path
    fleet: SshKey  # the maintainers' key: signs the fleet repo's commits
    hub: SshKey  # the hub's key: signs bundle and status commits; the agents trust its public half
    identities: Mapping[str, Path]  # recipient cluster -> its agent's age identity file
    recipients: Mapping[str, str]  # recipient cluster -> its age recipient (age1…)
    plaintext: str = field(default="")

    def __repr__(self) -> str:
        return f"Trust(keys={self.keys}, recipients={sorted(self.recipients)})"

    @property
    def digest(self) -> str:
        """What the demo shows of the value: a digest prefix, never the value."""
        return "sha256:" + hashlib.sha256(self.plaintext.encode()).hexdigest()[:12]

    def needles(self) -> tuple[bytes, ...]:
        """The value as it would appear in a file: plain, and base64 (``data``)."""
        raw = self.plaintext.encode()
        return raw, base64.b64encode(raw)


def _keygen(path: Path, comment: str) -> SshKey:
    args = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
    try:
        done = subprocess.run(args, capture_output=True, check=False, timeout=KEYGEN_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TrustSetupError(f"--secure needs ssh-keygen (OpenSSH) to make the demo's keys: {e}") from e
    if done.returncode != 0:
        raise TrustSetupError(f"ssh-keygen failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    public = path.with_name(path.name + ".pub")
    line = public.read_text().strip()
    return SshKey(path, public, line, fingerprint(base64.b64decode(line.split()[1])))


def recipients_of(declared: Mapping[str, MemberCluster]) -> list[str]:
    """The clusters the Secret is encrypted for: the production-labelled ones when the template has
    any, else every cluster but the last by name (so at least one cluster is left without it)."""
    key, value = PRODUCTION
    chosen = sorted(n for n, m in declared.items() if m.meta.labels.get(key) == value)
    names = sorted(declared)
    return chosen or names[: max(len(names) - 1, 1)]


def make_trust(root: Path, declared: Mapping[str, MemberCluster]) -> Trust:
    """Fresh keys under ``root/keys`` (mode 0700) and a fresh random value for the Secret."""
    keys = root / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    fleet = _keygen(keys / "fleet-signing", "fleet maintainers (fleetsync demo)")
    hub = _keygen(keys / "hub-signing", "fleetsync-hub (demo)")
    identities: dict[str, Path] = {}
    recipients: dict[str, str] = {}
    for cluster in recipients_of(declared):
        identity = pyrage.x25519.Identity.generate()
        path = keys / f"{cluster}.agekey"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"# the age identity of {cluster}'s agent (fleetsync demo)\n{identity}\n")
        identities[cluster] = path
        recipients[cluster] = sops.public_recipient(identity)
    return Trust(keys, fleet, hub, identities, recipients, secrets.token_urlsafe(24))


def signing_identity(trust: Trust, base: Identity) -> SigningIdentity:
    """``base`` signing with the maintainers' key."""
    return SigningIdentity(base.name, base.email, str(trust.fleet.private))


# -- the fleet repo's files -----------------------------------------------------------------------
def repo_files(
    template: Path, declared: Mapping[str, MemberCluster], trust: Trust, signer: str
) -> dict[str, str]:
    """What --secure adds to (or changes in) the template before the first commit: the
    allowed-signers file, ``verify`` in the settings, each recipient's annotation, and the
    encrypted Secret with a namespace and a placement of its own."""
    key_type, blob = trust.fleet.line.split()[:2]
    files = {
        ALLOWED_SIGNERS: f'{signer} namespaces="git" {key_type} {blob}\n',
        SETTINGS: _settings(template / SETTINGS),
        PLACEMENT_FILE: _placement(),
        SECRET_FILE: _secret(trust),
    }
    for cluster, recipient in sorted(trust.recipients.items()):
        rel = declared[cluster].origin.file
        files[rel] = _annotated(template / rel, rel, cluster, recipient)
    return files


def _read(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise UserError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    return path.read_text()


def _settings(path: Path) -> str:
    """The template's settings with ``verify`` (strict, the committed allowed signers) set."""
    verify = {"commits": "strict", "allowedSignersFile": ALLOWED_SIGNERS}
    if not path.is_file():
        doc: dict[str, Any] = {"apiVersion": "fleetsync.io/v1alpha1", "kind": "FleetSettings"}
        return dump({**doc, "verify": verify}).decode()
    text = _read(path)
    docs = _documents(text, SETTINGS)
    if len(docs) == 1 and "verify" not in docs[0]:  # keep the template's comments
        lines = "".join(f"  {k}: {v}\n" for k, v in verify.items())
        return f"{text.rstrip()}\n# fleetsync demo --secure: render only signed commits\nverify:\n{lines}"
    return dump({**(docs[0] if docs else {}), "verify": verify}).decode()


def _documents(text: str, where: str) -> list[dict[str, Any]]:
    try:
        docs = parse_documents(text.encode(), where, max_bytes=MAX_FILE_BYTES)
    except YamlError as e:
        raise UserError(f"{where}: {e}") from e
    return [d.data for d in docs if isinstance(d.data, dict)]


def _annotated(path: Path, rel: str, cluster: str, recipient: str) -> str:
    """The cluster's file with its MemberCluster declaring the age recipient its agent holds."""
    docs = _documents(_read(path), rel)
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == "MemberCluster" and meta.get("name") == cluster:
            doc["metadata"] = {**meta, "annotations": {**(meta.get("annotations") or {})}}
            doc["metadata"]["annotations"][AGE_RECIPIENT_ANNOTATION] = recipient
    header = f"# fleetsync demo --secure: {AGE_RECIPIENT_ANNOTATION} added for {cluster}\n"
    return header + "---\n".join(dump(d).decode() for d in docs)


def _placement() -> str:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"owner": "platform-team"}},
        },
        {
            "apiVersion": "placement.kubernetes-fleet.io/v1beta1",
            "kind": "ClusterResourcePlacement",
            "metadata": {"name": PLACEMENT},
            "spec": {
                "resourceSelectors": [
                    {
                        "group": "",
                        "version": "v1",
                        "kind": "Namespace",
                        "name": NAMESPACE,
                        "selectionScope": "NamespaceWithResources",
                    }
                ],
                "policy": {"placementType": "PickAll", "tolerations": [{"operator": "Exists"}]},
            },
        },
    ]
    header = (
        "# fleetsync demo --secure: the encrypted Secret's namespace, placed on every cluster (any\n"
        "# taint tolerated); the hub keeps the Secret itself off every cluster not among its recipients.\n"
    )
    return header + "---\n".join(dump(d).decode() for d in docs)


def _secret(trust: Trust) -> str:
    plain = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {SECRET_KEY: base64.b64encode(trust.plaintext.encode()).decode()},
    }
    return dump(sops.encrypt(plain, trust.recipients.values())).decode()


# -- what the demo says about it -----------------------------------------------------------------
def summary_lines(trust: Trust, signer: str, clusters: Sequence[str]) -> list[str]:
    """What --secure set up, for the repo stage."""
    others = [c for c in clusters if c not in trust.recipients]
    return [
        f"secure: fleet commits signed by {signer} {trust.fleet.fingerprint}; fleetsync.yaml "
        f"verify.commits: strict with {ALLOWED_SIGNERS}",
        f"secure: the hub signs with {trust.hub.fingerprint}; every agent trusts only that key "
        f"(--verify-key-file {trust.hub.public.name})",
        f"secure: Secret {NAMESPACE}/{SECRET} ({trust.digest}) SOPS-encrypted for the age recipients of "
        f"{', '.join(sorted(trust.recipients))}; withheld from {', '.join(others) or 'no cluster'}",
        f"secure: keys in {trust.keys} (never committed)",
    ]
