"""The ``fleetsync`` command: the composition root, assembled here from one module per command group.

This is the only place that wires the stages to the outside world (paths, clocks, git, output
formats, logging). The app below is the whole shape of the CLI in one screen: the root callback
sets logging up once for every command (``--log-level``, ``--log-format``; fleetsync/cli/logs.py),
then each command or group comes from its own module (validate, schedule, plan, diff, get, approve,
demo, version, and the groups dev, hub, agent, drift), registered in the order ``--help`` lists
them. What every command shares (exit codes, output formats, the clock) is
fleetsync/cli/conventions.py; ``main`` applies the exit-code rule to errors no command caught
(``exit_code_for``: something that does not exist is 1, a user's mistake 2, anything else 3).
Command modules import the hub, the agent or kubesim only when their command runs, so
``fleetsync --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fleetsync.cli import (
    agent,
    approve,
    demo,
    dev,
    diff,
    drift,
    get,
    hub,
    plan,
    schedule,
    secret,
    team,
    template,
    ui,
    validate,
    version,
)
from fleetsync.cli.conventions import exit_code_for
from fleetsync.cli.logs import LogFormat, LogLevel, setup_logging
from reconciler.errors import FleetsyncError

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
    add_completion=True,  # fleetsync --install-completion [bash|zsh|fish|powershell]
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        version.version()
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            "--log-level", envvar="FLEETSYNC_LOG_LEVEL", help="Least severe log record written to stderr."
        ),
    ] = LogLevel.info,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="FLEETSYNC_LOG_FORMAT",
            help="text (time level logger: message key=value) or json (one object per line).",
        ),
    ] = LogFormat.text,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            expose_value=False,
            callback=_print_version,
            help="Print fleetsync's version and exit.",
        ),
    ] = False,
) -> None:
    ctx.call_on_close(setup_logging(log_level, log_format))


app.command()(version.version)
app.command()(validate.validate)
app.command("schedule")(schedule.schedule_command)
app.command("plan")(plan.plan_command)
app.command("diff")(diff.diff_command)
app.command("get")(get.get)
app.command("approve")(approve.approve_command)
app.command("demo")(demo.demo_command)
app.command("ui")(ui.ui_command)
app.add_typer(dev.app, name="dev")
app.add_typer(hub.app, name="hub")
app.add_typer(agent.app, name="agent")
app.add_typer(drift.app, name="drift")
app.add_typer(secret.app, name="secret")
app.add_typer(team.app, name="team")
app.add_typer(template.app, name="template")


def main() -> None:
    try:
        app()
    except FleetsyncError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(exit_code_for(e))
