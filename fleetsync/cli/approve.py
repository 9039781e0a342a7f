"""``fleetsync approve``: approve a stage of a staged update run with a commit.

An approval is a file in the fleet repo, so the command and a merged pull request that adds the
same file are the same approval; the commit itself is made by
``reconciler.rollout.staged.approve``. First the target is checked against the fleet (the work
tree's objects) and ``fleet/status`` (the strategy the run froze): a run, stage or gate that does
not exist is a usage error (exit 2) that names what does, so no approval is committed that the
hub would never read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, fail, utcnow

if TYPE_CHECKING:
    from reconciler.rollout.staged.approve import Approval


def approve_command(
    run: Annotated[str, typer.Argument(help="The staged update run's name.")],
    stage: Annotated[str, typer.Argument(help="The stage to approve.")],
    before: Annotated[
        bool, typer.Option("--before/--after", help="The stage's before-stage or after-stage approval.")
    ] = False,
    namespace: Annotated[
        str,
        typer.Option(
            "--namespace", "-n", help="A StagedUpdateRun's namespace (empty: ClusterStagedUpdateRun)."
        ),
    ] = "",
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the fleet repo.")] = Path("."),
    branch: Annotated[
        str | None, typer.Option("--branch", help="Commit on this new branch (for a pull request) instead.")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Why; goes into the commit.")] = None,
    sign: Annotated[bool, typer.Option("--sign", help="Sign the commit (git commit -S).")] = False,
) -> None:
    """Approve a stage of a staged update run by committing its approval request with Approved=True.

    Writes approvals/RUN-after-STAGE.yaml (or -before-) and commits only that file; the commit's
    author is the approver. See docs/staged.md.

      fleetsync approve rollout-1 canary

      fleetsync approve rollout-1 production --before --branch approve/rollout-1-production
    """
    from reconciler.errors import UserError
    from reconciler.rollout.staged.approve import Approval, approve

    if not repo.is_dir():
        raise fail(f"{repo}: not a directory", EXIT_USAGE)
    try:
        target = Approval(run, stage, before, namespace)
        _check(repo, target)
    except UserError as e:
        raise fail(str(e), EXIT_USAGE) from e
    text = approve(repo, target, utcnow(), branch=branch, message=message, sign=sign)
    typer.echo(text, nl=False)


def _check(repo: Path, target: Approval) -> None:
    """NoSuchTarget unless the run, its stage and that gate exist (the fleet at the work tree,
    the run's frozen strategy from fleet/status when the repository has it)."""
    from reconciler.gitstore.repo import HubRepo
    from reconciler.gitstore.worktree import WorkTree
    from reconciler.load.fleet import load_directory
    from reconciler.rollout.staged.approve import NoSuchTarget, check_target, frozen_stages

    top = WorkTree.open(repo).top
    loaded = load_directory(top)
    with HubRepo.local(top) as hub:
        frozen = frozen_stages(hub, target)
    try:
        check_target(target, loaded.spec.runs, loaded.spec.strategies, frozen)
    except NoSuchTarget as e:
        if loaded.ok:
            raise
        raise NoSuchTarget(f"{e} (the fleet at {top} has errors: {loaded.errors[0]})") from e
