"""Which fleet commits the hub may render: every new commit signed by an allowed key.

With ``verify: {commits: strict}`` in ``fleetsync.yaml`` the hub renders a fleet commit only when
every commit between the last rendered one (the trust anchor) and it carries a good signature, as
git itself judges it (``%G?`` from ``git log``: ``G``, or ``U`` with a known signer — for SSH git
says ``U`` and no signer for a key that is not in the allowed-signers file). SSH signatures are
checked against the allowed-signers file named by ``verify.allowedSignersFile`` *as it is in the
anchor commit* (written to a private temporary file and handed to git as
``gpg.ssh.allowedSignersFile``), or against the hub's own git configuration when the setting is
absent (a mounted file); OpenPGP signatures against the hub's own keyring (``GNUPGHOME``). The
design choice is a chain of trust: the settings and the allowed-signers file that judge a commit
come from the last commit already trusted, so a commit that adds a key, or turns verification
off, must itself be signed by a key that was allowed before it. The walk follows first parents
from the anchor to the head; each first-parent commit is judged with every commit it brings in
(a merge's other side), so a signed commit on top never launders an unsigned one below it —
except a merge commit whose signer is one of ``verify.hostSigners`` (the Git host's web-merge
key): the host vouches for the side it merged, and only the merge itself is checked. The first
bad commit holds the hub at the anchor; ``Verdict.finding`` says which commit, whose, why, and
the fix. Commit ids are checked to be hex before they reach git; nothing else from the repo
reaches a command line, and the walk is bounded (``MAX_VERIFIED_COMMITS``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import Finding
from reconciler.gitstore.refs import GitFailure, _check_sha, _git_env
from reconciler.load.settings import SETTINGS_FILE, CommitVerification, read_settings

if TYPE_CHECKING:
    from reconciler.gitstore.trees import TreeReader

MAX_VERIFIED_COMMITS = 500  # commits judged in one pass; more is held (verify them in smaller pushes)
MAX_ALLOWED_SIGNERS_BYTES = 256 * 1024
_FORMAT = "%H%x00%P%x00%G?%x00%GS%x00%GK%x00%an%x00%ae"
_REWRITTEN = (
    "the last rendered commit {anchor} is no longer in the fleet repo (its history was rewritten), "
    "so the hub cannot tell which commits are new and verify.commits is strict. Fix: restore a "
    "branch history that contains {anchor}, or (a hub operator's decision) clear sourceCommit on "
    "fleet/status so that only the head commit is judged"
)
_WHY = {
    "N": ("UnsignedCommit", "not signed"),
    "U": ("UnknownSigner", "signed by a key that is not an allowed signer"),
    "B": ("BadSignature", "signed with a bad signature"),
    "E": ("UnverifiableSignature", "signed, but the signature cannot be checked (key unknown or missing)"),
    "X": ("ExpiredSignature", "signed with a signature that has expired"),
    "Y": ("ExpiredKey", "signed by an expired key"),
    "R": ("RevokedKey", "signed by a revoked key"),
}


def good_signature(letter: str, signer: str) -> bool:
    """The one rule for a good signature, as git's ``%G?`` and ``%GS`` say: ``G``, or ``U`` with a
    known signer — for SSH git says ``U`` with no signer for any key that is not an allowed signer,
    which must not count. Fleet commits (here) and staged-run approvals
    (reconciler/rollout/staged/approver.py) are judged by it alike."""
    return letter == "G" or (letter == "U" and bool(signer))


@dataclass(frozen=True, slots=True)
class CommitSignature:
    """One commit as git judged its signature (``%G?``, ``%GS``, ``%GK``) and who wrote it."""

    commit: str
    parents: tuple[str, ...]
    letter: str
    signer: str
    key: str
    author_name: str
    author_email: str

    @property
    def good(self) -> bool:
        return good_signature(self.letter, self.signer)

    @property
    def reason(self) -> str:
        return "GoodSignature" if self.good else _WHY.get(self.letter, ("UnverifiableSignature", ""))[0]

    def describe(self) -> str:
        """``signed by X`` or why not, in words."""
        if self.good:
            return f"signed by {self.signer or self.key}"
        return _WHY.get(self.letter, ("", f"not verifiably signed (git says {self.letter!r})"))[1]


@dataclass(frozen=True, slots=True)
class Trust:
    """What judges the commits after an anchor: its settings and its allowed-signers file
    (None: the hub's own git configuration decides)."""

    verification: CommitVerification
    allowed_signers: bytes | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The walk's outcome: ``held`` is the first commit that may not render (None: all may)."""

    head: str
    anchor: str
    held: CommitSignature | None = None
    note: str = ""  # why, when held without a commit to blame (too many commits)

    @property
    def ok(self) -> bool:
        return self.held is None and not self.note

    def finding(self) -> Finding | None:
        """The ``lastLoad`` finding of a held head: the commit, its author, why, and the fix."""
        if self.ok:
            return None
        anchor = self.anchor[:12] or "the root"
        if self.held is None:
            message = self.note
        else:
            c = self.held
            message = (
                f"commit {c.commit[:12]} by {c.author_name} <{c.author_email}> is {c.describe()} "
                f"({c.reason}); verify.commits is strict, so the hub renders nothing after {anchor} "
                f"and a later signed commit does not vouch for it. Fix: re-sign it with an allowed key "
                f"(git rebase --exec 'git commit --amend --no-edit -S' {anchor}) and force-push, or "
                f"drop it from the branch"
            )
        return Finding(SETTINGS_FILE, 0, 0, "verify.commits", message)


def _run_log(repo: TreeReader, revs: Sequence[str], allowed: bytes | None, max_count: int) -> bytes:
    """``git log`` over checked commit ids, with ``allowed`` as the allowed-signers file."""
    args = ["log", f"-n{max_count}", f"--format={_FORMAT}", *revs, "--"]
    env = {**os.environ, **_git_env(), "GIT_DIR": str(repo.path)}
    with tempfile.TemporaryDirectory(prefix="fleetsync-signers-") as tmp:
        if allowed is not None:
            path = Path(tmp) / "allowed_signers"
            path.write_bytes(allowed)
            args = ["-c", f"gpg.ssh.allowedSignersFile={path}", *args]
        try:
            done = subprocess.run(["git", *args], env=env, capture_output=True, check=False, timeout=300)
        except subprocess.TimeoutExpired as e:
            raise GitFailure("git log (signatures) took longer than 300s") from e
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitFailure(
            "git log (signatures) failed: " + (lines[-1] if lines else f"exit {done.returncode}")
        )
    return done.stdout


def _has_commit(repo: TreeReader, commit: str) -> bool:
    env = {**os.environ, **_git_env(), "GIT_DIR": str(repo.path)}
    args = ["git", "cat-file", "-e", f"{_check_sha(commit)}^{{commit}}"]
    try:
        return subprocess.run(args, env=env, capture_output=True, check=False, timeout=60).returncode == 0
    except subprocess.TimeoutExpired as e:
        raise GitFailure("git cat-file took longer than 60s") from e


def commit_signatures(
    repo: TreeReader, head: str, anchor: str, allowed: bytes | None, max_count: int = MAX_VERIFIED_COMMITS
) -> list[CommitSignature]:
    """Every commit reachable from ``head`` and not from ``anchor`` ("": only ``head``), newest
    first, each with git's judgement of its signature."""
    revs = [_check_sha(head), f"^{_check_sha(anchor)}"] if anchor else [_check_sha(head)]
    out: list[CommitSignature] = []
    for line in (
        _run_log(repo, revs, allowed, max_count if anchor else 1).decode(errors="replace").splitlines()
    ):
        parts = line.split("\0")
        if len(parts) != 7:
            continue
        parents = tuple(_check_sha(p) for p in parts[1].split())
        out.append(CommitSignature(_check_sha(parts[0]), parents, parts[2] or "N", *parts[3:7]))
    return out


def trust_at(repo: TreeReader, commit: str) -> Trust:
    """The verification settings and allowed-signers file as they are in ``commit``."""
    raw = repo.read_file(commit, SETTINGS_FILE)
    verification = read_settings(raw)[0].verify if raw is not None else CommitVerification()
    path = verification.allowed_signers_file
    if not path:
        return Trust(verification, None)
    data = repo.read_file(commit, path, max_bytes=MAX_ALLOWED_SIGNERS_BYTES)
    return Trust(verification, data if data is not None else b"")  # missing: nobody is allowed


def _brought(commit: str, by_id: Mapping[str, CommitSignature], covered: set[str]) -> list[CommitSignature]:
    """The commits of the walk that ``commit`` brings in: reachable from it, not yet covered."""
    out: list[CommitSignature] = []
    todo = [commit]
    while todo:
        c = todo.pop()
        if c in covered or c not in by_id:
            continue
        covered.add(c)
        out.append(by_id[c])
        todo.extend(by_id[c].parents)
    return out


def _first_parents(head: str, by_id: Mapping[str, CommitSignature]) -> list[str]:
    chain: list[str] = []
    c: str | None = head
    while c is not None and c in by_id:
        chain.append(c)
        c = by_id[c].parents[0] if by_id[c].parents else None
    return chain[::-1]


def verify_commits(
    repo: TreeReader, anchor: str, head: str, trust: Callable[[str], Trust] | None = None
) -> Verdict:
    """Judge the commits from ``anchor`` (the last rendered commit; "" none yet: only ``head``
    is judged, with its own settings) to ``head``; see the module docstring."""
    if anchor == head:
        return Verdict(head, anchor)
    trust_of = trust or (lambda c: trust_at(repo, c))
    if anchor and not _has_commit(repo, anchor):  # history rewritten past the last render
        if trust_of(head).verification.commits != "strict":
            return Verdict(head, anchor)
        return Verdict(head, anchor, note=_REWRITTEN.format(anchor=anchor[:12]))
    current, start = trust_of(anchor or head), anchor
    while anchor != head:
        if current.verification.commits != "strict":
            return Verdict(head, anchor)
        found = commit_signatures(repo, head, anchor, current.allowed_signers, MAX_VERIFIED_COMMITS + 1)
        if len(found) > MAX_VERIFIED_COMMITS:
            note = (
                f"more than {MAX_VERIFIED_COMMITS} new commits since {anchor[:12]}: too many to verify "
                "in one pass. Fix (a hub operator's decision): clear sourceCommit on fleet/status so "
                "that only the head commit is judged"
            )
            return Verdict(head, start, note=note)
        by_id = {c.commit: c for c in found}
        covered: set[str] = set()
        for commit in _first_parents(head, by_id):
            held = _judge(by_id[commit], _brought(commit, by_id, covered), current.verification)
            if held is not None:
                return Verdict(head, start, held)
            after = trust_of(commit)
            if after != current or commit == head:  # a new key or setting judges what follows
                anchor, current = commit, after
                break
        else:
            return Verdict(head, anchor)
    return Verdict(head, anchor)


def _judge(
    commit: CommitSignature, brought: Sequence[CommitSignature], verification: CommitVerification
) -> CommitSignature | None:
    """The first bad commit among a first-parent commit and what it brings in (None: all good)."""
    if not commit.good:
        return commit
    if len(commit.parents) > 1 and commit.signer in verification.host_signers:
        return None  # a web merge signed by the Git host vouches for the side it merged
    return next((c for c in brought if not c.good), None)


def head_signature(repo: TreeReader, head: str) -> tuple[CommitSignature, CommitVerification]:
    """The head commit's signature as the hub would judge it with the head's own settings."""
    current = trust_at(repo, head)
    return commit_signatures(repo, head, "", current.allowed_signers)[0], current.verification
