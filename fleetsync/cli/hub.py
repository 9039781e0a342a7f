"""``fleetsync hub``: the hub as a one-shot reconcile or a long-running service.

Both commands open the fleet repo through the hub's git door (``reconciler.gitstore``) and hand
it to ``reconciler.hub.run``; the only decision made here is what ``hub run`` watches: a local
repository's ``.git`` when the hub writes to the same repository, nothing for a URL; and, with
``--leader-elect``, which Lease in the hub's own cluster gates the reconciles (the election itself
is reconciler/hub/lease.py, the hub's one module that talks to a Kubernetes API).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetsync.cli.conventions import BranchOpt, HubRemoteOpt, RepoOpt, StateDirOpt, utcnow

if TYPE_CHECKING:
    from reconciler.hub.lease import Elector

app = typer.Typer(
    help="The hub: fleet repo commit + agent reports → bundle branches and status.", no_args_is_help=True
)


@app.command("reconcile")
def hub_reconcile(
    repo: RepoOpt, branch: BranchOpt = "main", hub_remote: HubRemoteOpt = None, state_dir: StateDirOpt = None
) -> None:
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


@app.command("run")
def hub_run(
    repo: RepoOpt,
    branch: BranchOpt = "main",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=1, help="Seconds between polls.")] = 30.0,
    webhook_port: Annotated[
        int | None, typer.Option("--webhook-port", help="Serve POST / on this port; a push there polls now.")
    ] = None,
    webhook_host: Annotated[
        str, typer.Option("--webhook-host", help="Address the webhook binds.")
    ] = "127.0.0.1",
    leader_elect: Annotated[
        bool,
        typer.Option(
            "--leader-elect",
            help="Reconcile only while holding a coordination.k8s.io Lease in the hub's own cluster"
            " (several replicas: one leads). Without it the hub runs alone.",
        ),
    ] = False,
    leader_elect_namespace: Annotated[
        str | None,
        typer.Option(
            "--leader-elect-namespace", help="The Lease's namespace [default: the pod's, else default]."
        ),
    ] = None,
    leader_elect_name: Annotated[
        str, typer.Option("--leader-elect-name", help="The Lease's name.")
    ] = "fleetsync-hub",
    lease_duration: Annotated[
        float, typer.Option("--leader-elect-lease-duration", min=1, help="Seconds a lease holds unrenewed.")
    ] = 15.0,
    renew_deadline: Annotated[
        float,
        typer.Option("--leader-elect-renew-deadline", min=1, help="Seconds a leader may fail to renew."),
    ] = 10.0,
    retry_period: Annotated[
        float, typer.Option("--leader-elect-retry-period", min=0.1, help="Seconds between election rounds.")
    ] = 2.0,
) -> None:
    """Run the hub: poll every --interval seconds, watch a local repo, and poll on webhook pokes.

    fleetsync hub run --repo /srv/fleet --interval 10

    fleetsync hub run --repo https://git.example.com/fleet.git --webhook-port 8080

    fleetsync hub run --repo https://git.example.com/fleet.git --leader-elect
    """
    from reconciler.gitstore.refs import is_url
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_run

    watch = None
    if not is_url(repo) and hub_remote is None:
        git_dir = Path(repo) / ".git"
        watch = git_dir if git_dir.is_dir() else Path(repo)
    elector = None
    if leader_elect:
        elector = _elector(
            leader_elect_namespace, leader_elect_name, (lease_duration, renew_deadline, retry_period)
        )
    with open_hub_repo(repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir) as r:
        cli_run(
            r,
            interval=interval,
            watch=watch,
            webhook_port=webhook_port,
            webhook_host=webhook_host,
            elector=elector,
        )


def _elector(namespace: str | None, name: str, seconds: tuple[float, float, float]) -> Elector:
    """The Lease candidate of ``hub run --leader-elect`` (reconciler/hub/lease.py)."""
    from reconciler.hub.lease import (
        ElectionConfig,
        Elector,
        KubeLeaseApi,
        LeaseUnavailable,
        default_identity,
        default_namespace,
    )

    duration, deadline, retry = (timedelta(seconds=s) for s in seconds)
    try:
        config = ElectionConfig(
            default_identity(),
            name=name,
            namespace=namespace or default_namespace(),
            lease_duration=duration,
            renew_deadline=deadline,
            retry_period=retry,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--leader-elect-*") from e
    try:
        api = KubeLeaseApi.from_environment(config.name, config.namespace)
    except LeaseUnavailable as e:
        raise typer.BadParameter(str(e), param_hint="--leader-elect") from e
    return Elector(api, config)
