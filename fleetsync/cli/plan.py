"""``fleetsync plan``: what a change does to every cluster, for a pull request.

The work (rendering both commits offline, diffing, checks, Markdown/JSON) is
``reconciler.plan.run``; this module only maps flags onto it and prints. The exit code is the
plan's own: 0 no change, 1 changes that pass every check, 2 a check blocks the merge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, PlanOutput, fail, utcnow


def plan_command(
    path: Annotated[Path, typer.Argument(help="Fleet repo (a git work tree or bare repo).")] = Path("."),
    base: Annotated[str, typer.Option("--base", help="The commit the change is based on.")] = "HEAD~1",
    head: Annotated[str, typer.Option("--head", help="The commit that makes the change.")] = "HEAD",
    output: Annotated[
        PlanOutput, typer.Option("--output", "-o", help="Output format.")
    ] = PlanOutput.markdown,
    reports_from: Annotated[
        str | None,
        typer.Option(
            "--reports-from", help="Remote name, URL or path whose report branches and fleet/status to read."
        ),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            help="The platform repo (URL or path): PATH is then a team repo, planned against its head.",
        ),
    ] = None,
    team: Annotated[
        str | None,
        typer.Option("--team", help="With --platform: the Team (default: the one naming this repo)."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="A pull-request label (approves a blast radius); repeatable."),
    ] = None,
) -> None:
    """Show what a change does to every cluster: rendered diffs, scheduling, rollouts, checks.

    Renders both commits offline with the same cluster state; writes nothing. Exit codes: 0 no
    change, 1 changes and every check passes, 2 a check fails (head invalid, a Deny policy
    violation, a refused update, an immutable field changed, a placement that would fail, a
    removal without its Fleetsync-Allow-Prune trailer) or a usage error (a path that is not a git
    repository, a revision or a remote that does not exist), 3 runtime error. See docs/plan.md.

      fleetsync plan . --base origin/main --head HEAD --reports-from origin

      fleetsync plan . --base main --head feature -o json --label fleetsync/approve-blast-radius

      fleetsync plan . --platform https://git.example.com/platform.git --base origin/main --head HEAD
    """
    from reconciler.plan import run as plan_cmd

    if not path.is_dir():
        raise fail(f"{path}: not a directory", EXIT_USAGE)
    if platform is None and team is not None:
        raise fail("--team needs --platform", EXIT_USAGE)
    if platform is not None and reports_from is not None:
        raise fail("--platform reads the platform repo's reports: drop --reports-from", EXIT_USAGE)
    out, err, code = plan_cmd.run(
        path,
        base,
        head,
        output.value,
        utcnow(),
        reports_from=reports_from,
        labels=label or (),
        platform=platform,
        team=team,
    )
    if err:
        typer.echo(err, err=True, nl=False)
    typer.echo(out, nl=False)
    raise typer.Exit(code)
