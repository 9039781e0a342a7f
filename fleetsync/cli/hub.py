"""``fleetsync hub``: the hub as a one-shot reconcile or a long-running service.

Both commands open the fleet repo through the hub's git door (``reconciler.gitstore``) and hand
it to ``reconciler.hub.run``; the only decision made here is what ``hub run`` watches: a local
repository's ``.git`` when the hub writes to the same repository, nothing for a URL. ``hub run``'s
HTTP port (health, metrics, the webhook) is fleetsync/serve/, attached to the runner. A stop
(SIGTERM, Ctrl-C) while the repo is still being opened unwinds at once and exits 0; after that
``cli_run`` owns the signals (docs/operations.md, "Stopping and starting"). With
``--leader-elect``, a Lease in the hub's own cluster gates the reconciles (the election itself is
reconciler/hub/lease.py, the hub's one module that talks to a Kubernetes API).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetsync.cli.conventions import (
    EXIT_FINDINGS,
    EXIT_USAGE,
    BranchOpt,
    HubRemoteOpt,
    RepoOpt,
    StateDirOpt,
    fail,
    utcnow,
)
from fleetsync.cli.gitauth import (
    KnownHostsOpt,
    SshKeyOpt,
    TimeoutOpt,
    TokenFileOpt,
    UsernameOpt,
    git_credentials,
)
from fleetsync.cli.ui import CommitUrlOpt, view_links
from fleetsync.serve.options import (
    HttpAddressOpt,
    HttpPortOpt,
    ReadinessOpt,
    WebhookInsecureOpt,
    WebhookSecretFileOpt,
)
from fleetsync_contract.gitauth import GIT_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from reconciler.gitstore.signing import CommitSigner
    from reconciler.hub.lease import Elector

SigningKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--signing-key-file",
        envvar="FLEETSYNC_SIGNING_KEY_FILE",
        help="The hub's Ed25519 SSH private key: every hub commit is signed with it, and agents given "
        "its public key (agent run --verify-key-file) refuse unsigned bundles (docs/security.md).",
    ),
]


def _signer(path: Path | None) -> CommitSigner | None:
    """The hub's commit signer (reconciler/gitstore/signing.py); None without a key."""
    from reconciler.gitstore.signing import load_signer

    return load_signer(path) if path is not None else None


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
    git_timeout: TimeoutOpt = GIT_TIMEOUT_SECONDS,
    signing_key_file: SigningKeyOpt = None,
) -> None:
    """Reconcile once: render changed bundles and status, publish them in one atomic update.

    Exit codes: 0 done (or nothing to do), 1 the fleet commit does not load (recorded in status),
    some of its objects failed, or a team repo does not load, cannot be fetched or had objects
    refused (each team's errors are printed from its record in status.yaml, docs/teams.md).

      fleetsync hub reconcile --repo .

      fleetsync hub reconcile --repo https://git.example.com/fleet.git --branch main
    """
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_reconcile
    from reconciler.status.teams import local_records
    from reconciler.status.teams import report as team_report

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    signer = _signer(signing_key_file)
    with open_hub_repo(
        repo,
        branch=branch,
        hub_remote=hub_remote,
        cache_root=state_dir,
        credentials=auth,
        timeout=git_timeout,
    ) as r:
        r.sign_commits(signer)
        text, code = cli_reconcile(r, utcnow())
        teams, failing = team_report(local_records(r))  # team findings stay out of the fleet's
    typer.echo(text + teams, nl=False)
    raise typer.Exit(max(code, EXIT_FINDINGS) if failing else code)


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
    git_timeout: TimeoutOpt = GIT_TIMEOUT_SECONDS,
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
    ui: Annotated[
        bool, typer.Option("--ui", help="Serve the fleet view (docs/ui.md) on the HTTP port.")
    ] = False,
    commit_url: CommitUrlOpt = None,
    signing_key_file: SigningKeyOpt = None,
) -> None:
    """Run the hub: poll every --interval seconds, watch a local repo, and poll on webhook pokes.

    fleetsync hub run --repo /srv/fleet --interval 10

    fleetsync hub run --repo https://git.example.com/fleet.git --http-address :8080 --webhook-secret-file /etc/fleetsync/webhook-secret

    fleetsync hub run --repo https://git.example.com/fleet.git --leader-elect
    """
    from fleetsync.serve.webhook import load_secret
    from fleetsync.serve.wiring import hub_address, serving_hub
    from reconciler.gitstore.refs import is_url
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.hub.run import cli_run

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    signer = _signer(signing_key_file)
    watch = None
    if not is_url(repo) and hub_remote is None:
        git_dir = Path(repo) / ".git"
        watch = git_dir if git_dir.is_dir() else Path(repo)
    elector = None
    if leader_elect:
        elector = _elector(
            leader_elect_namespace, leader_elect_name, (lease_duration, renew_deadline, retry_period)
        )
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
            links = view_links(ui, service is not None, commit_url)
        except ValueError as e:
            raise fail(str(e), EXIT_USAGE) from e
        try:
            stack.enter_context(interrupt_on_sigterm())
            r = stack.enter_context(
                open_hub_repo(
                    repo,
                    branch=branch,
                    hub_remote=hub_remote,
                    cache_root=state_dir,
                    credentials=auth,
                    timeout=git_timeout,
                )
            )
            r.sign_commits(signer)
            if links is not None and service is not None:
                from fleetsync.ui.serve import hub_view

                view = hub_view(
                    service.server,
                    repo,
                    hub_remote=hub_remote,
                    state_dir=state_dir,
                    credentials=auth,
                    timeout=git_timeout,
                    links=links,
                )
                stack.enter_context(view)
            cli_run(
                r, interval=interval, watch=watch, attach=service.attach if service else None, elector=elector
            )
        except KeyboardInterrupt:  # stopped while opening the repo (nothing written yet) or on the way out
            typer.echo("stopped", err=True)


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
