"""``fleetsync get``: status, staged runs and drift, read from the hub refs like ``kubectl get``.

One command with a KIND argument (as kubectl has) rather than a group: each kind is rendered by
the reconciler package that owns it (status, status.runs, drift.reports); this module only
opens the repo and picks the renderer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleetsync.cli.conventions import HubRemoteOpt, RepoOpt, StateDirOpt, TableOutput
from fleetsync.cli.gitauth import KnownHostsOpt, SshKeyOpt, TokenFileOpt, UsernameOpt, git_credentials


def get(
    kind: Annotated[str, typer.Argument(help="placements, clusters, runs or drift.")],
    name: Annotated[
        str | None, typer.Argument(help="One object (CRP name, or namespace/name for an RP).")
    ] = None,
    repo: RepoOpt = ".",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
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

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(repo, hub_remote=hub_remote, cache_root=state_dir, credentials=auth) as r:
        if kind == "runs":
            from reconciler.status.runs import cli_get_runs

            typer.echo(cli_get_runs(r, name, output.value), nl=False)
            return
        if kind == "drift":  # NAME is a cluster; see docs/drift.md
            from reconciler.drift.reports import cli_get_drift

            typer.echo(cli_get_drift(r, name, output.value), nl=False)
            return
        typer.echo(cli_get(r, kind, name, output.value), nl=False)
