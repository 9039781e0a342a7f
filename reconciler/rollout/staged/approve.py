"""``fleetsync approve RUN STAGE``: approve a stage of a staged update run with a Git commit.

On a KubeFleet hub a person approves by patching an approval request's status to
``Approved=True``; in fleetsync the fleet repo is the hub, so the approval is that object,
committed: ``approvals/<run>-<before|after>-<stage>.yaml`` (``approvals/<namespace>/...`` for a
StagedUpdateRun's ApprovalRequest) with KubeFleet's spec and labels and an ``Approved``
condition naming the approver. The hub accepts it once it is on the fleet branch, so the audit
trail is ``git log approvals/``: the commit's author (and signature with ``--sign``) is who
approved. A merged pull request that adds the same file is the same approval.

Two ways to commit: on the checked-out branch (only the approval file is committed, whatever
else is staged), or with ``--branch NAME`` onto a new branch made from HEAD without touching
the work tree or index, for repositories whose main branch takes changes only by pull request.

Before anything is committed the command checks the target (``check_target``): the run exists
in the fleet, the stage is one of its strategy's stages (the strategy the run froze at
initialization when ``fleet/status`` has it, else the strategy in the repo), and the stage has
that gate, a before- or after-stage ``Approval`` task. An approval of anything else would be a
commit the hub never reads, so it is refused with the names that do exist.

The commits go through reconciler/gitstore/worktree.py (``WorkTree``), the hub side's one door
to a person's work tree: fixed argument lists, names checked before they reach a command line,
the file content and the message on stdin, and the user's own identity and signing setup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetsync_contract.canonical import CanonicalError, dump, load
from reconciler.api.staged import (
    CSUR_KIND,
    CSUS_KIND,
    SUR_KIND,
    SUS_KIND,
    StageConfig,
    StagedUpdateRun,
    StagedUpdateStrategy,
    StageTaskType,
)
from reconciler.errors import UserError
from reconciler.gitstore.refs import check_branch
from reconciler.gitstore.worktree import WorkTree
from reconciler.rollout.staged.documents import (
    approval_kind,
    approval_request_doc,
    parse_run_status,
    run_path,
)
from reconciler.rollout.staged.model import APPROVED, RunCondition, approval_name
from reconciler.status.conditions import Status

if TYPE_CHECKING:
    from reconciler.gitstore.repo import HubRepo

APPROVALS_DIR = "approvals"
APPROVED_REASON = "ApprovedByCommit"
MAX_MESSAGE = 4096
_RUN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")  # a run's name is under 64 characters
_STAGE = re.compile(r"^[a-z0-9]{1,63}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Approval:
    """Which task of which run: ``before`` is the before-stage approval, else the after-stage one."""

    run: str
    stage: str
    before: bool = False
    namespace: str = ""  # a StagedUpdateRun's namespace; "" for a ClusterStagedUpdateRun

    def __post_init__(self) -> None:
        if not _RUN_NAME.match(self.run):
            raise UserError(
                f"{self.run!r} is not a staged update run name (lowercase DNS name, under 64 characters)"
            )
        if not _STAGE.match(self.stage):
            raise UserError(f"{self.stage!r} is not a stage name (lowercase letters and digits, ^[a-z0-9]+$)")
        if self.namespace and not _NAMESPACE.match(self.namespace):
            raise UserError(f"{self.namespace!r} is not a namespace name")

    @property
    def run_kind(self) -> str:
        return SUR_KIND if self.namespace else CSUR_KIND

    @property
    def kind(self) -> str:
        return approval_kind(self.run_kind)

    @property
    def name(self) -> str:
        return approval_name(self.run, self.stage, self.before)

    @property
    def path(self) -> str:
        """Where the approval lives in the fleet repo (relative to its root)."""
        folder = f"{APPROVALS_DIR}/{self.namespace}" if self.namespace else APPROVALS_DIR
        return f"{folder}/{self.name}.yaml"


class NoSuchTarget(UserError):
    """The run, the stage or the stage's gate an approval names does not exist (a usage error)."""


def _shown(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _gates(stage: StageConfig) -> list[str]:
    out = []
    if any(t.type == StageTaskType.APPROVAL for t in stage.before_stage_tasks):
        out.append("a before-stage approval (--before)")
    if any(t.type == StageTaskType.APPROVAL for t in stage.after_stage_tasks):
        out.append("an after-stage approval (--after)")
    return out


def check_target(
    a: Approval,
    runs: Mapping[str, StagedUpdateRun],
    strategies: Mapping[str, StagedUpdateStrategy],
    frozen: Sequence[StageConfig] = (),
) -> None:
    """NoSuchTarget unless ``a`` names a run of ``runs``, a stage of its strategy (``frozen``: the
    stages the run froze at initialization, which win over the strategy in ``strategies``) and
    a gate that stage has."""
    run = runs.get(f"{a.run_kind}/{a.namespace}/{a.run}")
    if run is None:
        names = sorted(_shown(r.namespace, r.name) for r in runs.values())
        raise NoSuchTarget(
            f"no staged update run {_shown(a.namespace, a.run)!r}; runs: {', '.join(names) or 'none'}"
        )
    stages: Sequence[StageConfig] = frozen
    if not stages:
        kind = SUS_KIND if run.kind == SUR_KIND else CSUS_KIND
        strategy = strategies.get(f"{kind}/{run.namespace}/{run.strategy_name}")
        if strategy is None:
            raise NoSuchTarget(f"run {a.run!r} names strategy {run.strategy_name!r}, which does not exist")
        stages = strategy.stages
    stage = next((s for s in stages if s.name == a.stage), None)
    if stage is None:
        raise NoSuchTarget(
            f"run {a.run!r} has no stage {a.stage!r}; stages: {', '.join(s.name for s in stages) or 'none'}"
        )
    gates = _gates(stage)
    wanted = "a before-stage approval" if a.before else "an after-stage approval"
    if not any(g.startswith(wanted) for g in gates):
        raise NoSuchTarget(
            f"stage {a.stage} has no {'before' if a.before else 'after'}-stage approval; "
            f"it has {' and '.join(gates) or 'none'}"
        )


STATUS_REFS = ("refs/heads/fleet/status", "refs/remotes/origin/fleet/status")


def frozen_stages(repo: HubRepo, a: Approval) -> tuple[StageConfig, ...]:
    """The stages run ``a.run`` froze at initialization, from ``fleet/status`` in ``repo`` (a hub
    repository, or a clone of one); () when there is no status or the run has not initialized."""
    for ref in STATUS_REFS:
        commit = repo.resolve(ref)
        if commit is None:
            continue
        data = repo.read_file(commit, run_path(a.run_kind, a.namespace, a.run))
        if data is None:
            return ()
        try:
            doc = load(data)
            status = doc.get("status") if isinstance(doc, Mapping) else None
            return parse_run_status(status).strategy if isinstance(status, Mapping) else ()
        except (UserError, CanonicalError):
            return ()
    return ()


def approval_document(a: Approval, approver: str, now: datetime) -> dict[str, Any]:
    """The approval request with ``Approved=True``, as KubeFleet's controller would have created it."""
    when = now.replace(microsecond=0)
    cond = RunCondition(
        APPROVED, Status.TRUE, APPROVED_REASON, f"approved by {approver} with fleetsync approve", when
    )
    return approval_request_doc(a.run_kind, a.namespace, a.run, a.stage, a.before, [cond])


def approver(repo: Path) -> str:
    """``Name <email>`` of whoever git will record as the commit's author."""
    return WorkTree.open(repo).author()


def _message(a: Approval, who: str, text: str | None) -> bytes:
    subject = f"approve {a.kind} {a.name}: {'before' if a.before else 'after'} stage {a.stage} of run {a.run}"
    body = (text or "").strip()
    if len(body) > MAX_MESSAGE:
        raise UserError(f"--message is longer than {MAX_MESSAGE} characters")
    return (f"{subject}\n\n{body + chr(10) + chr(10) if body else ''}Approved-by: {who}\n").encode()


def approve(
    repo: Path,
    a: Approval,
    now: datetime,
    *,
    branch: str | None = None,
    message: str | None = None,
    sign: bool = False,
) -> str:
    """Commit the approval; returns what to tell the user (including how to open a pull request)."""
    work = WorkTree.open(repo)
    who = work.author()
    content = dump(approval_document(a, who, now))
    commit_message = _message(a, who, message)
    if branch is None:
        target = work.top / a.path
        if target.is_file() and target.read_bytes() == content:
            return f"{a.path} already approves {a.name}; nothing to commit\n"
        commit = work.short(work.commit({a.path: content}, commit_message, sign=sign))
        current = work.current_branch()
        return (
            f"approved {a.kind} {a.name} by {who}: committed {a.path} on {current} ({commit})\n"
            f"push it (git push) so the hub sees it\n"
        )
    check_branch(branch)
    if work.has_branch(branch):
        raise UserError(f"branch {branch!r} already exists: choose another --branch")
    base = work.head()
    current = work.current_branch()
    commit = work.commit_to_new_branch(branch, base, {a.path: content}, commit_message, sign=sign)
    remote = work.default_remote()
    return (
        f"approved {a.kind} {a.name} by {who}: committed {a.path} on new branch {branch} ({commit[:12]})\n"
        f"open a pull request from {branch} into {current}:\n"
        f"  git push -u {remote} {branch}\n"
        f'  gh pr create --head {branch} --base {current} --title "approve {a.name}"   (or your forge\'s UI)\n'
        "the run proceeds once the pull request is merged\n"
    )
