"""``fleetsync drift``: list, show and adopt the drift that agents observed.

Reading (``list``, ``show``) goes through the hub's git door like ``get``; ``adopt`` turns a
drift into a commit on a branch for review (``reconciler.drift.commit``). ``adopt`` runs in a
person's checkout, usually an ordinary clone, while the hub writes the report branches to the
shared remote: so the reports are read from the checkout itself only when it holds report
branches (a hub's own repository), else from its default remote; ``--reports`` takes a URL, a
path or a remote's name, as ``plan --reports-from`` does. A refusal (Secret
data, /status, a kustomize-rendered source, a source change that would reach other clusters)
is a usage error: the user must choose differently, nothing failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, RepoOpt, StateDirOpt, TableOutput, fail
from fleetsync.cli.gitauth import KnownHostsOpt, SshKeyOpt, TokenFileOpt, UsernameOpt, git_credentials

app = typer.Typer(help="Drift observed by agents: adopt it as a reviewable commit.", no_args_is_help=True)


@app.command("list")
def drift_list_command(
    cluster: Annotated[str | None, typer.Argument(help="Only this cluster.")] = None,
    repo: RepoOpt = ".",
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
) -> None:
    """Every drifted or diffed object, from the report branches (the same as `fleetsync get drift`).

    fleetsync drift list prod-eu-1 --repo .
    """
    from reconciler.drift.reports import cli_get_drift
    from reconciler.gitstore.repo import open_hub_repo

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(repo, cache_root=state_dir, credentials=auth) as r:
        typer.echo(cli_get_drift(r, cluster, output.value), nl=False)


@app.command("show")
def drift_show_command(
    cluster: Annotated[str, typer.Argument(help="The member cluster.")],
    obj: Annotated[
        str, typer.Argument(help="The object: group/Kind/namespace/name, Kind/namespace/name or Kind/name.")
    ],
    placement: Annotated[str | None, typer.Option("--placement", help="Placement key when several.")] = None,
    repo: RepoOpt = ".",
    state_dir: StateDirOpt = None,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.yaml,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
) -> None:
    """One object's drift on one cluster, every path with the hub's and the member's value.

    fleetsync drift show prod-eu-1 Deployment/web/frontend --repo .
    """
    from reconciler.drift.reports import UsageError, cli_show_drift
    from reconciler.gitstore.repo import open_hub_repo

    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(repo, cache_root=state_dir, credentials=auth) as r:
        try:
            typer.echo(cli_show_drift(r, cluster, obj, placement, output.value), nl=False)
        except UsageError as e:
            raise fail(str(e), EXIT_USAGE) from e


@app.command("adopt")
def drift_adopt_command(
    cluster: Annotated[str, typer.Argument(help="The member cluster that drifted.")],
    obj: Annotated[
        str, typer.Argument(help="The object: group/Kind/namespace/name, Kind/namespace/name or Kind/name.")
    ],
    placement: Annotated[
        str | None,
        typer.Option("--placement", help="Placement key (ClusterResourcePlacement/web) when several."),
    ] = None,
    adopt_as: Annotated[
        str | None,
        typer.Option("--as", help="override (this cluster only, the default) or source (edit the manifest)."),
    ] = None,
    as_override: Annotated[bool, typer.Option("--as-override", help="The same as --as override.")] = False,
    into_source: Annotated[bool, typer.Option("--into-source", help="The same as --as source.")] = False,
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Adopt only this drifted JSON pointer (repeatable).")
    ] = None,
    repo: Annotated[Path, typer.Option("--repo", help="A checkout of the fleet repo.")] = Path("."),
    reports: Annotated[
        str | None,
        typer.Option(
            "--reports",
            help="Where the report branches are: a URL, a path or a remote's name (default: --repo if "
            "it has report branches, else its remote).",
        ),
    ] = None,
    state_dir: StateDirOpt = None,
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="Commit on this branch (default: new branch drift/CLUSTER/NAME)."),
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
        raise fail(str(e), EXIT_USAGE) from e
    if not repo.is_dir():
        raise fail(f"{repo}: not a directory", EXIT_USAGE)
    try:
        source = _reports_source(repo, reports)
    except UsageError as e:
        raise fail(str(e), EXIT_USAGE) from e
    options = AdoptOptions(
        cluster, obj, placement, mode, tuple(path or ()), branch, message, source, state_dir
    )
    try:
        text = adopt(repo, options)
    except (Refused, UsageError) as e:
        raise fail(str(e), EXIT_USAGE) from e
    typer.echo(text, nl=False)


def _reports_source(repo: Path, reports: str | None) -> str | None:
    """Where ``adopt`` reads the report branches: ``reports`` as a URL or path, or the URL of
    the remote it names; without it, the checkout itself when it has report branches, else its
    default remote (None: the checkout)."""
    from fleetsync_contract import REPORT_REF_PREFIX
    from reconciler.drift.reports import UsageError
    from reconciler.gitstore.refs import is_url
    from reconciler.gitstore.repo import HubRepo
    from reconciler.gitstore.worktree import WorkTree

    if reports is not None and (is_url(reports) or Path(reports).exists()):
        return reports
    work = WorkTree.open(repo)
    with HubRepo.local(work.top) as local:
        if reports is None:
            if any(r.startswith(f"refs/heads/{REPORT_REF_PREFIX}") for r in local.hub_refs()):
                return None
            return local.remote_url(work.default_remote())
        url = local.remote_url(reports)
    if url is None:
        raise UsageError(f"--reports {reports!r}: not a URL, a path or a remote of {work.top}")
    return url
