"""``fleetsync hub``: the hub as a one-shot reconcile or a long-running service.

Both commands open the fleet repo through the hub's git door (``reconciler.gitstore``) and hand
it to ``reconciler.hub.run``; the only decision made here is what ``hub run`` watches: a local
repository's ``.git`` when the hub writes to the same repository, nothing for a URL. A stop
(SIGTERM, Ctrl-C) while the repo is still being opened unwinds at once and exits 0; after that
``cli_run`` owns the signals (docs/operations.md, "Stopping and starting").
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import BranchOpt, HubRemoteOpt, RepoOpt, StateDirOpt, utcnow


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """While the hub opens its repo (a clone may take long), SIGTERM acts like Ctrl-C: nothing is
    written yet, so unwinding at once is safe. ``cli_run`` then installs handlers that only set a
    stop event, and this one comes back when it returns."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    try:
        with (
            interrupt_on_sigterm(),
            open_hub_repo(repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir) as r,
        ):
            cli_run(r, interval=interval, watch=watch, webhook_port=webhook_port, webhook_host=webhook_host)
    except KeyboardInterrupt:  # stopped while opening the repo (nothing written yet) or on the way out
        typer.echo("stopped", err=True)
