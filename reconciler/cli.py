"""The ``fleetsync`` command: the composition root.

This is the only place that wires the stages to the outside world (paths, clocks, git, output
formats). Every command follows kubectl/flux conventions: ``-o yaml|json|table`` (or ``text``),
errors on stderr, and exit codes a CI job can branch on:

  0  success / nothing to report
  1  findings (validation errors, a plan with changes)
  2  usage error (bad flags or arguments), or checks that block a merge (``plan``)
  3+ runtime failure (git unreachable, a bug)

Command modules are imported lazily so ``fleetsync --help`` stays fast.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reconciler.errors import FleetsyncError, UserError

app = typer.Typer(
    name="fleetsync",
    help=(
        "KubeFleet's multi-cluster model as GitOps: a Git repository is the hub.\n\n"
        "A fleet repo holds KubeFleet v1beta1 objects (MemberCluster, ClusterResourcePlacement, "
        "overrides, staged update strategies and runs, ...) beside the Kubernetes resources they "
        "place. The hub renders per-cluster bundles onto Git branches; member agents pull their own "
        "bundle and report back."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class TextOutput(StrEnum):
    text = "text"
    json = "json"


class TableOutput(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print fleetsync's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        typer.echo(dist_version("fleetsync"))
    except PackageNotFoundError:
        typer.echo("unknown (not installed)")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Fleet repo directory.")] = Path("."),
    output: Annotated[TextOutput, typer.Option("--output", "-o", help="Output format.")] = TextOutput.text,
) -> None:
    """Load a fleet repo and print every error with file:line:column and field path.

    Exit codes: 0 the repo is valid, 1 it has findings, 2 usage error.

    Examples:

      fleetsync validate fleet-repo-template

      fleetsync validate . -o json | jq '.findings[]'
    """
    from reconciler import validate as v

    if not path.is_dir():
        raise _fail(f"{path}: not a directory", EXIT_USAGE)
    result = v.validate_path(path)
    typer.echo(v.render(result, output.value), nl=False)
    raise typer.Exit(v.exit_code(result))


@app.command("schedule")
def schedule_command(
    path: Annotated[Path, typer.Argument(help="Fleet repo directory.")] = Path("."),
    reports: Annotated[
        Path | None, typer.Option("--reports", help="Directory of cluster report.yaml / heartbeat.yaml files.")
    ] = None,
    assume_healthy: Annotated[
        bool, typer.Option("--assume-healthy", help="Treat clusters without a report as healthy now.")
    ] = False,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
) -> None:
    """Schedule every placement of a repo from scratch and explain each decision; writes nothing.

    Exit codes: 0 scheduled, 1 the repo does not load, 2 usage error. See docs/scheduler.md.

      fleetsync schedule . --reports ./reports

      fleetsync schedule fleet-repo-template --assume-healthy -o yaml
    """
    from reconciler import schedule_cmd

    if not path.is_dir():
        raise _fail(f"{path}: not a directory", EXIT_USAGE)
    if reports is not None and not reports.is_dir():
        raise _fail(f"{reports}: not a directory", EXIT_USAGE)
    out, err, code = schedule_cmd.run(path, reports, utcnow(), output.value, assume_healthy=assume_healthy)
    if err:
        typer.echo(err, err=True, nl=False)
    typer.echo(out, nl=False)
    raise typer.Exit(code)



RepoOpt = Annotated[str, typer.Option("--repo", help="Fleet repo: a local path (worked on in place) or a URL.")]
BranchOpt = Annotated[str, typer.Option("--branch", help="The fleet branch to render.")]
HubRemoteOpt = Annotated[
    str | None, typer.Option("--hub-remote", help="Write hub refs here instead of the fleet repo (URL or path).")
]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Cache for remote repos (default ~/.cache/fleetsync/hub).")
]




def utcnow() -> datetime:
    """The one wall clock of the CLI; everything below takes ``now`` as a parameter."""
    return datetime.now(UTC)


def main() -> None:
    try:
        app()
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(EXIT_FINDINGS)
    except FleetsyncError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(EXIT_RUNTIME)
