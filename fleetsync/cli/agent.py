"""``fleetsync agent run``: the member agent as a service (or one sync with ``--once``).

Flags become the arguments of ``agent.runner.run_agent``, the agent's own composition root
(real clock, git and cluster); a ValueError it raises for a bad flag value is a usage error
(exit 2), and the exit code it returns is passed through: 2 when a start-up check failed (the
cluster is not a MemberCluster of the fleet, or the member is claimed by another owner); with
``--once`` 0 ok, 1 findings (objects failed or left drifted), 3 Git or the cluster unreachable
(docs/agent.md, "Exit codes").
``--http-address`` serves health and metrics (fleetsync/serve/), attached to the runner.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, fail
from fleetsync.cli.gitauth import (
    KnownHostsOpt,
    SshKeyOpt,
    TimeoutOpt,
    TokenFileOpt,
    UsernameOpt,
    git_credentials,
)
from fleetsync.serve.options import HttpAddressOpt, HttpPortOpt, ReadinessOpt
from fleetsync_contract.gitauth import GIT_TIMEOUT_SECONDS

app = typer.Typer(
    help="The member agent: pull this cluster's bundle, apply it, report back.", no_args_is_help=True
)


@app.command("run")
def agent_run(
    repo: Annotated[
        str, typer.Option("--repo", help="Fleet repo URL or path (only its own branches are read).")
    ],
    cluster: Annotated[
        str, typer.Option("--cluster", help="This member's MemberCluster name (checked against the fleet).")
    ],
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", help="Kubeconfig of the member (default: in-cluster, then ~/.kube)."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between syncs.")] = 15.0,
    heartbeat: Annotated[
        float | None,
        typer.Option(
            "--heartbeat-period",
            min=1,
            help="Seconds between heartbeats (default: the MemberCluster's, from the bundle).",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Sync and beat once, then exit: 0 ok, 1 objects failed or drifted (not corrected), "
            "2 usage, 3 Git or the cluster unreachable.",
        ),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="The agent's git cache (default ~/.cache/fleetsync/agent)."),
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", help="The agent's namespace on the member (holds its inventory).")
    ] = "fleetsync-system",
    property_provider: Annotated[
        list[str] | None,
        typer.Option(
            "--property-provider", help="default, or price-table:PATH (repeatable; see docs/agent.md)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Objects applied at once in a wave.")
    ] = None,
    max_prune_share: Annotated[
        float,
        typer.Option(
            "--max-prune-share", min=0.01, max=1.0, help="Most of the inventory one sync may prune."
        ),
    ] = 0.5,
    allow_prune: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-prune", help="Namespace, CustomResourceDefinition or PersistentVolumeClaim (repeatable)."
        ),
    ] = None,
    http_address: HttpAddressOpt = None,
    http_port: HttpPortOpt = None,
    readiness_intervals: ReadinessOpt = 3,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
    git_timeout: TimeoutOpt = GIT_TIMEOUT_SECONDS,
    take_over_from: Annotated[
        str | None,
        typer.Option(
            "--take-over-from",
            help="Take this member over from the owner the refusal names (docs/agent.md, 'Ownership and hand-over').",
        ),
    ] = None,
    age_identity_file: Annotated[
        Path | None,
        typer.Option(
            "--age-identity-file",
            envvar="FLEETSYNC_AGE_IDENTITY_FILE",
            help="This cluster's age identity for SOPS-encrypted Secrets (default: the Secret "
            "fleetsync-age-identity in --namespace; docs/security.md).",
        ),
    ] = None,
    verify_key_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--verify-key-file",
            envvar="FLEETSYNC_VERIFY_KEY_FILES",
            help="The hub's SSH public key(s) or an allowed-signers file (repeatable: several keys "
            "during a rotation); bundle commits not signed by one are refused (docs/agent.md).",
        ),
    ] = None,
) -> None:
    """Run the member agent: fetch fleet/bundles/CLUSTER, apply it, prune, report to fleet/reports/CLUSTER.

    fleetsync agent run --repo https://git.example.com/fleet.git --cluster prod-eu-1

    fleetsync agent run --repo /srv/fleet.git --cluster dev --kubeconfig dev.kubeconfig --once
    """
    from agent.loop import WORKERS
    from agent.runner import run_agent
    from fleetsync.serve.wiring import http_address as parse_http
    from fleetsync.serve.wiring import serving_agent

    serving = ExitStack()  # the HTTP port, closed when the agent stops
    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    try:
        service = serving.enter_context(
            serving_agent(
                None if once else parse_http(http_address, http_port),
                cluster=cluster,
                interval=interval,
                intervals=readiness_intervals,
            )
        )
        local = Path(repo)  # a path relative to here, not to the state directory git runs in
        code = run_agent(
            repo=str(local.resolve()) if "://" not in repo and local.exists() else repo,
            cluster=cluster,
            state_dir=(state_dir or Path.home() / ".cache" / "fleetsync" / "agent") / cluster,
            kubeconfig=kubeconfig,
            context=context,
            interval=interval,
            heartbeat=heartbeat,
            once=once,
            namespace=namespace,
            providers=property_provider or ["default"],
            workers=workers or WORKERS,
            max_prune_share=max_prune_share,
            allow_prune=allow_prune or [],
            attach=service.attach if service else None,
            credentials=auth,
            git_timeout=git_timeout,
            take_over_from=take_over_from or "",
            age_identity_file=str(age_identity_file or ""),
            verify_key_files=verify_key_file or [],
        )
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from e
    finally:
        serving.close()
    raise typer.Exit(code)
