"""``fleetsync approve``: approve a stage of a staged update run with a commit.

An approval is a file in the fleet repo, so the command and a merged pull request that adds the
same file are the same approval; the commit itself is made by
``reconciler.rollout.staged.approve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import utcnow


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
    from reconciler.rollout.staged.approve import Approval, approve

    text = approve(
        repo, Approval(run, stage, before, namespace), utcnow(), branch=branch, message=message, sign=sign
    )
    typer.echo(text, nl=False)
