"""``fleetsync hub``: the hub as a one-shot reconcile or a long-running service.

Both commands open the fleet repo through the hub's git door (``reconciler.gitstore``) and hand
it to ``reconciler.hub.run``; the only decision made here is what ``hub run`` watches: a local
repository's ``.git`` when the hub writes to the same repository, nothing for a URL. ``hub run``'s
HTTP port (health, metrics, the webhook) is fleetsync/serve/, attached to the runner. A stop
(SIGTERM, Ctrl-C) while the repo is still being opened unwinds at once and exits 0; after that
``cli_run`` owns the signals (docs/operations.md, "Stopping and starting").
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, BranchOpt, HubRemoteOpt, RepoOpt, StateDirOpt, fail, utcnow
from fleetsync.cli.gitauth import KnownHostsOpt, SshKeyOpt, TokenFileOpt, UsernameOpt, git_credentials
from fleetsync.serve.options import (
    HttpAddressOpt,
    HttpPortOpt,
    ReadinessOpt,
    WebhookInsecureOpt,
    WebhookSecretFileOpt,
)


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
    repo: RepoOpt,
    branch: BranchOpt = "main",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
) -> None:
    """Reconcile once: render changed bundles and status, publish them in one atomic update.

    Exit codes: 0 done (or nothing to do), 1 the fleet commit does not load (recorded in status).

      fleetsync hub reconcile --repo .

      fleetsync hub reconcile --repo https://git.example.com/fleet.git --branch main
    """
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_reconcile

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(
        repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir, credentials=auth
    ) as r:
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
    http_address: HttpAddressOpt = None,
    http_port: HttpPortOpt = None,
    readiness_intervals: ReadinessOpt = 3,
    webhook_secret_file: WebhookSecretFileOpt = None,
    webhook_insecure: WebhookInsecureOpt = False,
    webhook_port: Annotated[
        int | None,
        typer.Option("--webhook-port", help="Old name of --http-address HOST:PORT (HOST: --webhook-host)."),
    ] = None,
    webhook_host: Annotated[
        str, typer.Option("--webhook-host", help="The HOST of --webhook-port.")
    ] = "127.0.0.1",
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
) -> None:
    """Run the hub: poll every --interval seconds, watch a local repo, and poll on webhook pokes.

    fleetsync hub run --repo /srv/fleet --interval 10

    fleetsync hub run --repo https://git.example.com/fleet.git --http-address :8080 --webhook-secret-file /etc/fleetsync/webhook-secret
    """
    from fleetsync.serve.webhook import load_secret
    from fleetsync.serve.wiring import hub_address, serving_hub
    from reconciler.gitstore.refs import is_url
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_run

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    watch = None
    if not is_url(repo) and hub_remote is None:
        git_dir = Path(repo) / ".git"
        watch = git_dir if git_dir.is_dir() else Path(repo)
    with ExitStack() as stack:
        try:  # the port is taken before any git work: a bad flag fails at once
            secret = load_secret(webhook_secret_file)
            address = hub_address(
                http_address, http_port, webhook_port, webhook_host, secret=secret, insecure=webhook_insecure
            )
            service = stack.enter_context(
                serving_hub(
                    address,
                    interval=interval,
                    intervals=readiness_intervals,
                    secret=secret,
                    insecure=webhook_insecure,
                )
            )
        except ValueError as e:
            raise fail(str(e), EXIT_USAGE) from e
        try:
            stack.enter_context(interrupt_on_sigterm())
            r = stack.enter_context(
                open_hub_repo(
                    repo, branch=branch, hub_remote=hub_remote, cache_root=state_dir, credentials=auth
                )
            )
            cli_run(r, interval=interval, watch=watch, attach=service.attach if service else None)
        except KeyboardInterrupt:  # stopped while opening the repo (nothing written yet) or on the way out
            typer.echo("stopped", err=True)
