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
dev_app = typer.Typer(help="Development tools: the Kubernetes API test server.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")

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


@dev_app.command("kube-server")
def kube_server(
    kubeconfig: Annotated[Path, typer.Option(help="Where to write a kubeconfig for the server.")],
    controllers: Annotated[
        str, typer.Option(help="Workload controllers: instant, never, or delay:SECONDS.")
    ] = "instant",
) -> None:
    """Serve a simulated Kubernetes API (kubesim) on 127.0.0.1 until interrupted.

    It is a test double for the agent's tests and the demo, not a cluster: see docs/kubesim.md
    for what it reproduces and its known limits.

      fleetsync dev kube-server --kubeconfig /tmp/sim.kubeconfig &
      kubectl --kubeconfig /tmp/sim.kubeconfig get namespaces
    """
    from kubesim.__main__ import main as kubesim_main

    raise typer.Exit(kubesim_main(["--kubeconfig", str(kubeconfig), "--controllers", controllers]))



RepoOpt = Annotated[str, typer.Option("--repo", help="Fleet repo: a local path (worked on in place) or a URL.")]
BranchOpt = Annotated[str, typer.Option("--branch", help="The fleet branch to render.")]
HubRemoteOpt = Annotated[
    str | None, typer.Option("--hub-remote", help="Write hub refs here instead of the fleet repo (URL or path).")
]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Cache for remote repos (default ~/.cache/fleetsync/hub).")
]


agent_app = typer.Typer(help="The member agent: pull this cluster's bundle, apply it, report back.",
                        no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("run")
def agent_run(
    repo: Annotated[str, typer.Option("--repo", help="Fleet repo URL or path (only its own branches are read).")],
    cluster: Annotated[str, typer.Option("--cluster", help="This member's name (its MemberCluster).")],
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig of the member (default: in-cluster, then ~/.kube).")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between syncs.")] = 15.0,
    heartbeat: Annotated[
        float, typer.Option("--heartbeat-period", min=1, help="The MemberCluster's heartbeatPeriodSeconds.")
    ] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="Sync and beat once, then exit (3 on errors).")] = False,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="The agent's git cache (default ~/.cache/fleetsync/agent).")
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", help="The agent's namespace on the member (holds its inventory).")
    ] = "fleetsync-system",
    property_provider: Annotated[
        list[str] | None,
        typer.Option("--property-provider", help="default, or price-table:PATH (repeatable; see docs/agent.md)."),
    ] = None,
) -> None:
    """Run the member agent: fetch fleet/bundles/CLUSTER, apply it, prune, report to fleet/reports/CLUSTER.

      fleetsync agent run --repo https://git.example.com/fleet.git --cluster prod-eu-1

      fleetsync agent run --repo /srv/fleet.git --cluster dev --kubeconfig dev.kubeconfig --once
    """
    from agent.loop import run_agent

    try:
        code = run_agent(
            repo=repo, cluster=cluster,
            state_dir=(state_dir or Path.home() / ".cache" / "fleetsync" / "agent") / cluster, kubeconfig=kubeconfig, context=context,
            interval=interval, heartbeat=heartbeat, once=once, namespace=namespace,
            providers=property_provider or ["default"],
        )
    except ValueError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    raise typer.Exit(code)


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
