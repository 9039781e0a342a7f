"""``fleetsync get``: status, staged runs and drift, read from the hub refs like ``kubectl get``.

One command with a KIND argument (as kubectl has) rather than a group: each kind is rendered by
the reconciler package that owns it (status, status.runs, drift.reports); this module only
opens the repo and picks the renderer. For the kinds read from ``fleet/status`` it first prints
the load state on stderr (which commit is rendered; the newest one that failed to load, and
why) and exits 1 when the newest commit the hub read is not rendered (conventions.py: a
finding); stdout stays the table or the document, so ``-o json`` remains parseable.
"""

from __future__ import annotations

from typing import Annotated

import typer

from fleetsync.cli.conventions import (
    EXIT_FINDINGS,
    EXIT_USAGE,
    HubRemoteOpt,
    RepoOpt,
    StateDirOpt,
    TableOutput,
    fail,
)
from fleetsync.cli.gitauth import KnownHostsOpt, SshKeyOpt, TokenFileOpt, UsernameOpt, git_credentials

STATUS_KINDS = ("placements", "clusters", "runs", "bindings", "policysnapshots", "teams")
KINDS = (*STATUS_KINDS, "drift", "provenance")
# KubeFleet's names for the policy snapshots (kubectl get csps / sps), one kind each
SNAPSHOT_ALIASES = ("clusterschedulingpolicysnapshots", "csps", "schedulingpolicysnapshots", "sps")


def get(
    kind: Annotated[
        str,
        typer.Argument(
            help="placements, clusters, runs, bindings, policysnapshots (csps, sps), teams, drift or provenance."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Argument(
            help="One object (CRP name, or namespace/name for an RP; for bindings and policysnapshots, "
            "the placement)."
        ),
    ] = None,
    obj: Annotated[
        str | None, typer.Argument(help="provenance only: the object, KIND/NAMESPACE/NAME.")
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

    fleetsync get bindings web -o yaml --repo .  (ClusterResourceBindings; see docs/bindings.md)

    fleetsync get policysnapshots web -o yaml --repo .  (why each cluster was or was not picked; docs/scheduler.md)
    fleetsync get teams --repo .              (each team repo: commit rendered, errors, kept, limits; docs/teams.md)

    fleetsync get drift prod-eu-1 --repo .    (drifted objects from the report branches; see docs/drift.md)

    fleetsync get provenance prod-eu-1 Deployment/web/frontend --repo .   (bundle, fleet commit, signer, merge)
    """
    from reconciler.gitstore.repo import open_hub_repo
    from reconciler.status.read import cli_get, load_state

    if kind not in KINDS and kind not in SNAPSHOT_ALIASES:
        raise fail(f"cannot get {kind!r}: use one of {', '.join(KINDS)}", EXIT_USAGE)
    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(repo, hub_remote=hub_remote, cache_root=state_dir, credentials=auth) as r:
        if kind == "drift":  # NAME is a cluster; see docs/drift.md
            from reconciler.drift.reports import cli_get_drift

            typer.echo(cli_get_drift(r, name, output.value), nl=False)
            return
        if kind == "provenance":  # NAME is a cluster, OBJ the object (fleetsync/cli/provenance.py)
            from fleetsync.cli.provenance import cli_get_provenance

            typer.echo(cli_get_provenance(r, name, obj, output.value), nl=False)
            return
        if kind == "policysnapshots" or kind in SNAPSHOT_ALIASES:  # reconciler/status/policysnapshots.py
            from reconciler.status.policysnapshots import cli_get_policysnapshots

            text = cli_get_policysnapshots(r, kind, name, output.value)
        else:
            text = cli_get(r, kind, name, output.value)  # fetches the hub refs (runs included)
        state = load_state(r)
    typer.echo(state.line, err=True)
    typer.echo(text, nl=False)
    if not state.rendered:
        raise typer.Exit(EXIT_FINDINGS)
