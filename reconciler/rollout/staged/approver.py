"""Who approved a stage: the commit that made an approval request say ``Approved=True``.

An approval is a commit (``fleetsync approve``, or a hand-written file merged in a pull
request), so the approver is that commit's author — found by walking the file's history in the
fleet commit (reconciler/gitstore/history.py ``introducing_commit``). With the repo setting
``verifyApprovals: true`` that commit must also carry a good signature (git's ``%G?`` is ``G``
or ``U`` with a known signer, checked with the hub repository's own gpg /
``gpg.ssh.allowedSignersFile`` config — for SSH, git says ``U`` with no signer for any key that is
not an allowed signer, which must not count);
an unsigned or badly signed approval does not count: the run keeps waiting and the approval
request on ``fleet/status`` says why (condition ``ApprovalVerified=False``). What counts as a good
signature is the rule fleet commits are judged by (reconciler/gitstore/signatures.py
``good_signature``), so an approval and a commit never disagree on one key. The hub records
the approver under ``status.approvedBy`` of the approval request it writes to ``fleet/status``.

Everything but ``git_approvers`` is pure; the lookup is injected as ``StagedInputs.approvers``
and applied by reconciler/rollout/staged/step.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetsync_contract.canonical import dump, load
from reconciler.api.staged import ApprovalRequest
from reconciler.gitstore.history import PathCommit, introducing_commit
from reconciler.gitstore.refs import GitFailure
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import good_signature
from reconciler.load.yamldoc import YamlError, parse_documents

VERIFIED = "ApprovalVerified"
_WHY = {
    "N": ("UnsignedApproval", "the approval commit {c} is not signed"),
    "U": ("UnknownSigner", "the approval commit {c} is signed by a key that is not an allowed signer"),
    "B": ("BadSignature", "the approval commit {c} has a bad signature"),
    "E": (
        "UnverifiableSignature",
        "the approval commit {c}'s signature cannot be checked (key not allowed or missing)",
    ),
    "X": ("ExpiredSignature", "the approval commit {c} has a good signature that has expired"),
    "Y": ("ExpiredKey", "the approval commit {c} is signed by an expired key"),
    "R": ("RevokedKey", "the approval commit {c} is signed by a revoked key"),
}
MAX_APPROVAL_FILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ApprovalVerdict:
    """Whether an ``Approved=True`` approval counts, and who gave it (from the approval commit)."""

    accepted: bool
    commit: PathCommit | None
    verified: bool  # verification was required (verifyApprovals)
    reason: str = ""  # CamelCase reason when not accepted
    message: str = ""

    def approved_by(self) -> dict[str, str]:
        """The ``status.approvedBy`` block of the recorded approval request."""
        c = self.commit
        if c is None:
            return {}
        out = {"name": c.author_name, "email": c.author_email, "time": c.author_time, "commit": c.commit}
        if self.verified and self.accepted:
            out |= {"signer": c.signer, "signingKey": c.key, "signature": c.signature}
        return out


ApproverLookup = Callable[[ApprovalRequest], "ApprovalVerdict | None"]


def judge(commit: PathCommit | None, verify: bool) -> ApprovalVerdict:
    """The verdict on an approval whose file was introduced by ``commit`` (None: not found)."""
    if commit is None:
        if verify:
            return ApprovalVerdict(
                False,
                None,
                True,
                "ApprovalCommitNotFound",
                "no commit in the fleet repo's history introduced this approval",
            )
        return ApprovalVerdict(True, None, False)
    if not verify:
        return ApprovalVerdict(True, commit, False)
    if good_signature(commit.signature, commit.signer):
        return ApprovalVerdict(
            True,
            commit,
            True,
            "GoodSignature",
            f"the approval commit {commit.commit[:12]} is signed by {commit.signer or commit.key}",
        )
    reason, text = _WHY.get(
        commit.signature,
        (
            "UnverifiableSignature",
            f"the approval commit {{c}}'s signature is not good (git says {commit.signature!r})",
        ),
    )
    return ApprovalVerdict(False, commit, True, reason, text.format(c=commit.commit[:12]))


def says_approved(req: ApprovalRequest) -> Callable[[bytes], bool]:
    """Whether a version of the request's file still holds this request with ``Approved=True``."""

    def holds(data: bytes) -> bool:
        try:
            docs = parse_documents(data, req.origin.file, max_bytes=MAX_APPROVAL_FILE_BYTES)
        except YamlError:
            return False
        for doc in docs:
            d: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
            meta: dict[str, Any] = d["metadata"] if isinstance(d.get("metadata"), dict) else {}
            if (
                d.get("kind") != req.kind
                or meta.get("name") != req.name
                or (meta.get("namespace") or "") != req.namespace
            ):
                continue
            status: dict[str, Any] = d["status"] if isinstance(d.get("status"), dict) else {}
            for c in status.get("conditions") or []:
                if isinstance(c, dict) and c.get("type") == "Approved" and str(c.get("status")) == "True":
                    return True
        return False

    return holds


def git_approvers(repo: HubRepo, commit: str, verify: bool) -> ApproverLookup:
    """The hub's lookup: the verdict on each approved request of the fleet commit ``commit``."""
    memo: dict[tuple[str, str, str, str], ApprovalVerdict | None] = {}

    def lookup(req: ApprovalRequest) -> ApprovalVerdict | None:
        if not req.approved:
            return None
        key = (req.kind, req.namespace, req.name, req.origin.file)
        if key not in memo:
            try:
                found = introducing_commit(repo, commit, req.origin.file, says_approved(req), verify)
            except (GitFailure, ValueError):
                found = None
            memo[key] = judge(found, verify)
        return memo[key]

    return lookup


def request_key(kind: str, namespace: str, name: str) -> tuple[str, str, str]:
    return kind, namespace, name


def annotate(
    files: Mapping[str, bytes], verdicts: Mapping[tuple[str, str, str], ApprovalVerdict]
) -> dict[str, bytes]:
    """The run's status files with each recorded approval request's ``approvedBy`` (accepted)
    or ``ApprovalVerified=False`` condition (not accepted) added."""
    out = dict(files)
    for path, data in files.items():
        if not path.startswith("approvalrequests/"):
            continue
        doc: Any = load(data)
        meta = doc.get("metadata") or {}
        verdict = verdicts.get(
            request_key(str(doc.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))
        )
        if verdict is None:
            continue
        status = doc.setdefault("status", {})
        conditions = status.setdefault("conditions", [])
        when = verdict.commit.author_time if verdict.commit is not None else None
        if verdict.accepted:
            if verdict.commit is not None:
                status["approvedBy"] = verdict.approved_by()
            if verdict.verified:
                conditions.append(_condition("True", verdict, when))
        else:
            conditions.append(_condition("False", verdict, when))
        out[path] = dump(doc)
    return out


def _condition(status: str, verdict: ApprovalVerdict, when: str | None) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": VERIFIED,
        "status": status,
        "reason": verdict.reason,
        "message": verdict.message,
    }
    if when:
        cond["lastTransitionTime"] = when
    return cond
