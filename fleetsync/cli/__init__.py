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
    from reconciler.load import validate as v
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
    from fleetsync.cli import schedule as schedule_cmd
    if not path.is_dir():
        raise _fail(f"{path}: not a directory", EXIT_USAGE)
    if reports is not None and not reports.is_dir():
        raise _fail(f"{reports}: not a directory", EXIT_USAGE)
    out, err, code = schedule_cmd.run(path, reports, utcnow(), output.value, assume_healthy=assume_healthy)
    if err:
        typer.echo(err, err=True, nl=False)
    typer.echo(out, nl=False)
    raise typer.Exit(code)


class PlanOutput(StrEnum):
    markdown = "markdown"
    json = "json"
    text = "text"


@app.command("plan")
def plan_command(
    path: Annotated[Path, typer.Argument(help="Fleet repo (a git work tree or bare repo).")] = Path("."),
    base: Annotated[str, typer.Option("--base", help="The commit the change is based on.")] = "HEAD~1",
    head: Annotated[str, typer.Option("--head", help="The commit that makes the change.")] = "HEAD",
    output: Annotated[PlanOutput, typer.Option("--output", "-o", help="Output format.")] = PlanOutput.markdown,
    reports_from: Annotated[str | None, typer.Option(
        "--reports-from", help="Remote name, URL or path whose report branches and fleet/status to read.")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", help="A pull-request label (approves a blast radius or a prune); repeatable.")] = None,
) -> None:
    """Show what a change does to every cluster: rendered diffs, scheduling, rollouts, checks.

    Renders both commits offline with the same cluster state; writes nothing. Exit codes: 0 no
    change, 1 changes and every check passes, 2 a check fails (head invalid, a Deny policy
    violation, a refused update, a cluster emptied: prune refused), 3 runtime error. See docs/plan.md.

      fleetsync plan . --base origin/main --head HEAD --reports-from origin

      fleetsync plan . --base main --head feature -o json --label fleetsync/approve-blast-radius
    """
    from reconciler.plan import run as plan_cmd
    out, err, code = plan_cmd.run(path, base, head, output.value, utcnow(), reports_from=reports_from,
                                  labels=label or ())
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


hub_app = typer.Typer(help="The hub: fleet repo commit + agent reports → bundle branches and status.",
                      no_args_is_help=True)
app.add_typer(hub_app, name="hub")

RepoOpt = Annotated[str, typer.Option("--repo", help="Fleet repo: a local path (worked on in place) or a URL.")]
BranchOpt = Annotated[str, typer.Option("--branch", help="The fleet branch to render.")]
HubRemoteOpt = Annotated[
    str | None, typer.Option("--hub-remote", help="Write hub refs here instead of the fleet repo (URL or path).")
]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Cache for remote repos (default ~/.cache/fleetsync/hub).")
]


@hub_app.command("reconcile")
def hub_reconcile(repo: RepoOpt, branch: BranchOpt = "main", hub_remote: HubRemoteOpt = None,
                  state_dir: StateDirOpt = None) -> None:
    """Reconcile once: render changed bundles and status, publish them in one atomic update.

    Exit codes: 0 done (or nothing to do), 1 the fleet commit does not load (recorded in status).

      fleetsync hub reconcile --repo .

      fleetsync hub reconcile --repo https://git.example.com/fleet.git --branch main
    """
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_reconcile

    with open_hub_repo(repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir) as r:
        text, code = cli_reconcile(r, utcnow())
    typer.echo(text, nl=False)
    raise typer.Exit(code)


@hub_app.command("run")
def hub_run(
    repo: RepoOpt,
    branch: BranchOpt = "main",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=1, help="Seconds between polls.")] = 30.0,
    webhook_port: Annotated[
        int | None, typer.Option("--webhook-port", help="Serve POST / on this port; a push there polls now.")
    ] = None,
    webhook_host: Annotated[str, typer.Option("--webhook-host", help="Address the webhook binds.")] = "127.0.0.1",
) -> None:
    """Run the hub: poll every --interval seconds, watch a local repo, and poll on webhook pokes.

      fleetsync hub run --repo /srv/fleet --interval 10

      fleetsync hub run --repo https://git.example.com/fleet.git --webhook-port 8080
    """
    from reconciler.gitstore.refs import is_url
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_run

    watch = None
    if not is_url(repo) and hub_remote is None:
        git_dir = Path(repo) / ".git"
        watch = git_dir if git_dir.is_dir() else Path(repo)
    with open_hub_repo(repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir) as r:
        cli_run(r, interval=interval, watch=watch, webhook_port=webhook_port, webhook_host=webhook_host)


@app.command("get")
def get(
    kind: Annotated[str, typer.Argument(help="placements, clusters, runs or drift.")],
    name: Annotated[str | None, typer.Argument(help="One object (CRP name, or namespace/name for an RP).")] = None,
    repo: RepoOpt = ".",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
) -> None:
    """Show placement, cluster or staged-run status from fleet/status, like `kubectl get crp -o yaml`.

      fleetsync get placements --repo .

      fleetsync get placements web -o yaml --repo https://git.example.com/fleet.git

      fleetsync get clusters -o json --repo . | jq '.items[].status.agentStatus'

      fleetsync get runs rollout-1 --repo .     (staged update runs, stage by stage; see docs/staged.md)

      fleetsync get drift prod-eu-1 --repo .    (drifted objects from the report branches; see docs/drift.md)
    """
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.status.read import cli_get

    with open_hub_repo(repo, hub_remote=hub_remote, cache_root=state_dir) as r:
        if kind == "runs":
            from reconciler.status.runs import cli_get_runs

            typer.echo(cli_get_runs(r, name, output.value), nl=False)
            return
        if kind == "drift":  # NAME is a cluster; see docs/drift.md
            from reconciler.drift.reports import cli_get_drift

            typer.echo(cli_get_drift(r, name, output.value), nl=False)
            return
        typer.echo(cli_get(r, kind, name, output.value), nl=False)


@app.command("approve")
def approve_command(
    run: Annotated[str, typer.Argument(help="The staged update run's name.")],
    stage: Annotated[str, typer.Argument(help="The stage to approve.")],
    before: Annotated[
        bool, typer.Option("--before/--after", help="The stage's before-stage or after-stage approval.")
    ] = False,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="A StagedUpdateRun's namespace (empty: ClusterStagedUpdateRun).")
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

    text = approve(repo, Approval(run, stage, before, namespace), utcnow(), branch=branch, message=message, sign=sign)
    typer.echo(text, nl=False)


@app.command("demo")
def demo_command(
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig holding the contexts of --context/--map.")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="Run the next template cluster (in name order) on this real context. Repeatable."),
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="CLUSTER=CONTEXT: run that template cluster on a real context.")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary directory and print its path.")] = False,
    template: Annotated[
        Path | None, typer.Option("--template", help="Fleet repo to start from (default: the shipped fleet-repo-template/).")
    ] = None,
) -> None:
    """The whole loop on this machine: the template as a fleet repo, the hub, and one agent per cluster.

    Each template MemberCluster runs as a simulated Kubernetes API (or a real context you map it
    to); the hub renders bundles, agents apply them and report, the hub folds the reports into
    placement status; then a Deployment is scaled behind its agent's back and the drift report
    commit is shown. Exit code 0 when every stage passed, 3 otherwise. See docs/demo.md.

      fleetsync demo

      fleetsync demo --keep

      fleetsync demo --kubeconfig ~/.kube/config --map prod-eu-1=kind-fleet
    """
    import time

    from fleetsync.demo.story import DemoOptions, default_template, run_demo
    from fleetsync.demo.view import Output, PlainOutput, RichOutput

    pairs: list[tuple[str, str]] = []
    for item in mapping or []:
        cluster, sep, ctx = item.partition("=")
        if not sep or not cluster or not ctx:
            raise _fail(f"--map {item!r}: expected CLUSTER=CONTEXT", EXIT_USAGE)
        pairs.append((cluster, ctx))
    try:
        source = template or default_template()
    except UserError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    if not source.is_dir():
        raise _fail(f"{source}: not a directory (give the fleet repo template with --template)", EXIT_USAGE)
    out: Output = RichOutput() if sys.stdout.isatty() else PlainOutput(typer.echo)
    options = DemoOptions(template=source, keep=keep, kubeconfig=kubeconfig, contexts=tuple(context or ()),
                          mapping=tuple(pairs))
    result = run_demo(options, out, clock=utcnow, sleep=time.sleep)
    raise typer.Exit(0 if result.ok else EXIT_RUNTIME)


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
        float | None,
        typer.Option("--heartbeat-period", min=1, help="Seconds between heartbeats (default: the MemberCluster's, from the bundle)."),
    ] = None,
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
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Objects applied at once in a wave.")] = None,
    max_prune_share: Annotated[
        float, typer.Option("--max-prune-share", min=0.01, max=1.0, help="Most of the inventory one sync may prune.")
    ] = 0.5,
    allow_prune: Annotated[
        list[str] | None,
        typer.Option("--allow-prune", help="Namespace, CustomResourceDefinition or PersistentVolumeClaim (repeatable)."),
    ] = None,
) -> None:
    """Run the member agent: fetch fleet/bundles/CLUSTER, apply it, prune, report to fleet/reports/CLUSTER.

      fleetsync agent run --repo https://git.example.com/fleet.git --cluster prod-eu-1

      fleetsync agent run --repo /srv/fleet.git --cluster dev --kubeconfig dev.kubeconfig --once
    """
    from agent.loop import WORKERS
    from agent.runner import run_agent

    try:
        code = run_agent(
            repo=repo, cluster=cluster,
            state_dir=(state_dir or Path.home() / ".cache" / "fleetsync" / "agent") / cluster, kubeconfig=kubeconfig, context=context,
            interval=interval, heartbeat=heartbeat, once=once, namespace=namespace,
            providers=property_provider or ["default"], workers=workers or WORKERS,
            max_prune_share=max_prune_share, allow_prune=allow_prune or [],
        )
    except ValueError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    raise typer.Exit(code)


drift_app = typer.Typer(help="Drift observed by agents: adopt it as a reviewable commit.", no_args_is_help=True)
app.add_typer(drift_app, name="drift")


@drift_app.command("list")
def drift_list_command(
    cluster: Annotated[str | None, typer.Argument(help="Only this cluster.")] = None,
    repo: RepoOpt = ".",
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
) -> None:
    """Every drifted or diffed object, from the report branches (the same as `fleetsync get drift`).

      fleetsync drift list prod-eu-1 --repo .
    """
    from reconciler.drift.reports import cli_get_drift
    from reconciler.gitstore.repo import open_hub_repo

    with open_hub_repo(repo, cache_root=state_dir) as r:
        typer.echo(cli_get_drift(r, cluster, output.value), nl=False)


@drift_app.command("show")
def drift_show_command(
    cluster: Annotated[str, typer.Argument(help="The member cluster.")],
    obj: Annotated[str, typer.Argument(help="The object: group/Kind/namespace/name, Kind/namespace/name or Kind/name.")],
    placement: Annotated[str | None, typer.Option("--placement", help="Placement key when several.")] = None,
    repo: RepoOpt = ".",
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.yaml,
) -> None:
    """One object's drift on one cluster, every path with the hub's and the member's value.

      fleetsync drift show prod-eu-1 Deployment/web/frontend --repo .
    """
    from reconciler.drift.reports import UsageError, cli_show_drift
    from reconciler.gitstore.repo import open_hub_repo

    with open_hub_repo(repo, cache_root=state_dir) as r:
        try:
            typer.echo(cli_show_drift(r, cluster, obj, placement, output.value), nl=False)
        except UsageError as e:
            raise _fail(str(e), EXIT_USAGE) from e


@drift_app.command("adopt")
def drift_adopt_command(
    cluster: Annotated[str, typer.Argument(help="The member cluster that drifted.")],
    obj: Annotated[str, typer.Argument(help="The object: group/Kind/namespace/name, Kind/namespace/name or Kind/name.")],
    placement: Annotated[
        str | None, typer.Option("--placement", help="Placement key (ClusterResourcePlacement/web) when several.")
    ] = None,
    adopt_as: Annotated[
        str | None, typer.Option("--as", help="override (this cluster only, the default) or source (edit the manifest).")
    ] = None,
    as_override: Annotated[bool, typer.Option("--as-override", help="The same as --as override.")] = False,
    into_source: Annotated[bool, typer.Option("--into-source", help="The same as --as source.")] = False,
    path: Annotated[list[str] | None, typer.Option("--path", help="Adopt only this drifted JSON pointer (repeatable).")]
    = None,
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the fleet repo.")] = Path("."),
    reports: Annotated[
        str | None, typer.Option("--reports", help="Where the report branches are (URL or path; default --repo).")
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", help="Commit on this branch (default: new branch drift/CLUSTER/NAME).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Why; goes into the commit.")] = None,
) -> None:
    """Make an observed drift the desired state, as a commit on a new branch for a pull request.

    Exit codes: 0 committed, 1 nothing to adopt (no such drift or cluster), 2 usage error or a
    refusal (Secret data, /status, kustomize-rendered source, a source change that would reach
    other clusters). See docs/drift.md.

      fleetsync drift adopt prod-eu-1 apps/Deployment/web/frontend

      fleetsync drift adopt prod-eu-1 Deployment/web/frontend --as source --path /spec/replicas

    --as-override and --into-source are the same as --as override and --as source.
    """
    from reconciler.drift.adopt import Mode, Refused
    from reconciler.drift.commit import AdoptOptions, adopt
    from reconciler.drift.reports import UsageError, adopt_mode

    try:
        mode = Mode(adopt_mode(adopt_as, as_override, into_source))
    except UsageError as e:
        raise _fail(str(e), EXIT_USAGE) from e
    options = AdoptOptions(cluster, obj, placement, mode, tuple(path or ()), branch, message, reports)
    try:
        text = adopt(repo, options)
    except (Refused, UsageError) as e:
        raise _fail(str(e), EXIT_USAGE) from e
    typer.echo(text, nl=False)


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
