"""Where a bundle came from: the fleet commit, who signed it, and the merge that brought it in.

Provenance is recorded where it cannot drift from what it describes: each bundle commit the hub
writes names, as git trailers of its (hub-signed) message, the fleet commit it was rendered from
and that commit's signer as git reports it when the bundle is written (``trailers``); and
``bundle.yaml`` names the same commit (``sourceCommit``). The signer comes from git's own
verification (``%G?``/``%GS``/``%GK``) against the allowed-signers file the repo names in
``verify.allowedSignersFile`` as it is in that fleet commit — read the way the hub reads it to
judge commits (reconciler/gitstore/signatures.py ``trust_at``), so the principal named is the one
the repo's own list gives the key — and, when the repo names none, the hub's git configuration
(``gpg.ssh.allowedSignersFile``; the keyring for OpenPGP). An SSH-signed commit with neither is
recorded as signed but not checked (git itself cannot check it then), one by a key the list does
not hold as ``<key> (not an allowed signer)``, an unsigned one as ``unsigned``. ``fleetsync get provenance`` reads these back (``landing``: the commit of the
fleet branch's first-parent line that brought a commit in — the PR merge commit where the Git
host records one). Every commit id reaching git is checked (``_check_sha``); the walks are bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from fleetsync_contract.sshsig import FormatError, signing_key
from reconciler.gitstore.refs import GitFailure, _check_sha
from reconciler.gitstore.signatures import commit_signatures, trust_at

if TYPE_CHECKING:
    from reconciler.gitstore.trees import TreeReader

FLEET_COMMIT = "Fleet-Commit"
FLEET_SIGNER = "Fleet-Commit-Signer"
UNSIGNED = "unsigned"
MAX_FIRST_PARENT = 10_000  # commits of the fleet branch's first-parent line looked at
_STATES = {
    "G": "good",
    "U": "good, unknown validity",
    "B": "bad",
    "X": "good, expired signature",
    "Y": "good, expired key",
    "R": "good, revoked key",
    "E": "cannot be checked",
}


@dataclass(frozen=True, slots=True)
class CommitInfo:
    commit: str
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    time: str  # ISO 8601 (%aI)
    subject: str


def bundle_signature(repo: TreeReader, commit: str) -> str:
    """The key a bundle commit is signed with, as ``signed by SHA256:…`` (not judged: the agent
    judges it against the keys it trusts), or ``unsigned``."""
    try:
        key = signing_key(_raw(repo, commit))
    except FormatError:
        return "signed, not with an SSH key"
    return f"signed by {key}" if key else UNSIGNED


def _raw(repo: TreeReader, commit: str) -> bytes:
    kind, data = repo._object(_check_sha(commit))
    if kind != "commit":
        raise GitFailure(f"{commit[:12]} is not a commit")
    return data


def _configured(repo: TreeReader, name: str) -> bool:
    try:
        return bool(repo._git(["config", "--get", name]).strip())
    except GitFailure:
        return False


def signer_of(repo: TreeReader, commit: str) -> str:
    """``unsigned``; ``signed (ssh), not checked: …``; or ``<signer> <key> (<state>)`` as git checks
    it against the repo's ``verify.allowedSignersFile`` (else the hub's git config) as it was
    BEFORE ``commit`` — in its first parent, as the hub's strict walk judges a commit by the list
    it already trusted, so a commit that adds its own key is not called good; a root commit is
    judged by its own list."""
    head = _raw(repo, commit).partition(b"\n\n")[0]
    if b"\ngpgsig " not in b"\n" + head:
        return UNSIGNED
    try:
        parents = repo.log(commit, "%P").decode(errors="replace").split()
        allowed = trust_at(repo, parents[0] if parents else commit).allowed_signers
        ssh = b"BEGIN SSH SIGNATURE" in head
        if allowed is None and ssh and not _configured(repo, "gpg.ssh.allowedSignersFile"):
            return (
                "signed (ssh), not checked: the repo names no verify.allowedSignersFile and "
                "the hub has no gpg.ssh.allowedSignersFile"
            )
        found = commit_signatures(repo, commit, "", allowed)
    except (GitFailure, ValueError):
        return "signed, not checked: git could not verify it"
    if not found:
        return "signed, not checked: git could not verify it"
    sig = found[0]
    state = _STATES.get(sig.letter, "cannot be checked")
    if sig.letter == "U" and not sig.signer.strip():  # SSH: a key the allowed-signers file lacks
        state = "not an allowed signer"
    who = " ".join(x for x in (sig.signer.strip(), sig.key.strip()) if x) or "unknown signer"
    return " ".join(f"{who} ({state})".split())[:300]


@lru_cache(maxsize=16)
def trailers(repo: TreeReader, commit: str) -> str:
    """The provenance trailers of a bundle commit rendered from fleet commit ``commit``."""
    return f"\n\n{FLEET_COMMIT}: {_check_sha(commit)}\n{FLEET_SIGNER}: {signer_of(repo, commit)}\n"


def trailer(repo: TreeReader, commit: str, key: str) -> str:
    """The value of trailer ``key`` in ``commit``'s message (the last one); "" when it has none."""
    out = repo.log(commit, f"%(trailers:key={key},valueonly)").decode(errors="replace").strip()
    return out.splitlines()[-1].strip() if out else ""


def commit_info(repo: TreeReader, commit: str) -> CommitInfo:
    out = repo.log(commit, "%H%x00%P%x00%an <%ae>%x00%aI%x00%s").decode(errors="replace").strip()
    sha, parents, author, time, subject = (*out.split("\0"), "", "", "", "")[:5]
    return CommitInfo(_check_sha(sha), tuple(parents.split()), author, time, subject[:300])


def landing(repo: TreeReader, commit: str, tip: str) -> CommitInfo | None:
    """The commit of the fleet branch's first-parent line (ending at ``tip``) that brought ``commit``
    in: a merge commit when it came through a merged pull request, ``commit`` itself when it was
    pushed (or squash-merged) straight onto the branch; None when the branch does not contain it."""
    sha, tip = _check_sha(commit), _check_sha(tip)
    if sha == tip:
        return commit_info(repo, sha)
    bound = f"--max-count={MAX_FIRST_PARENT}"
    line = repo._git(["rev-list", "--first-parent", bound, tip]).decode().split()
    after = set(repo._git(["rev-list", "--ancestry-path", bound, f"{sha}..{tip}"]).decode().split())
    prefix = []  # the newest part of the line: the commits that contain ``commit``
    for c in line:
        if c not in after:
            break
        prefix.append(c)
    if len(after) >= MAX_FIRST_PARENT or len(prefix) >= MAX_FIRST_PARENT:
        return None  # past the bound: say nothing rather than something wrong
    if not prefix:  # not in the branch's history
        return None
    oldest = commit_info(repo, prefix[-1])
    if oldest.parents and oldest.parents[0] == sha:  # commit is on the first-parent line itself
        return commit_info(repo, sha)
    return oldest
