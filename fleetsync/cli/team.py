"""``fleetsync team add|list|remove``: a team's entry in the platform repo, written as a file to review.

Onboarding a team is a pull request to the platform repo, not an API call: the command only
writes (or deletes) ``teams/NAME.yaml`` in a checkout and says what to commit, so the change is
reviewed, ``fleetsync plan`` shows its effect, and the hub acts on it only once it is merged.
``add`` refuses what the hub would refuse, and nothing else: the new file and the checkout's
other team files go through the hub's own loader (fleetsync/teamfile.py), so a reserved or
shared namespace, credentials in the URL or a bad selector is the hub's located finding; the
rules that need the team's objects are the hub's, at render (docs/teams.md). Removing a team prunes its
objects through the hub's prune safety, so ``remove`` says how the removal is confirmed.
Usage errors exit 2, a team that does not exist 1 (conventions.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetsync.cli.conventions import EXIT_FINDINGS, EXIT_USAGE, TableOutput, fail
from fleetsync_contract.gitauth import mask_url_credentials

if TYPE_CHECKING:
    from reconciler.teams.model import Team

app = typer.Typer(
    help="Teams of a platform repo: one teams/NAME.yaml each, added by pull request (docs/teams.md).",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path, typer.Option("--dir", help="A checkout of the platform repo (default: the current directory).")
]


def _checkout(directory: Path) -> Path:
    if not directory.is_dir():
        raise fail(
            f"{directory}: not a directory (give a checkout of the platform repo with --dir)", EXIT_USAGE
        )
    return directory


def _document(
    name: str,
    repo: str,
    branch: str,
    path: str,
    namespaces: str,
    clusters: str | None,
    kinds: str,
    cluster_scoped_kinds: str,
    limits: dict[str, int | None],
) -> dict[str, Any]:
    """The flags as a Team document; the hub's loader judges it (``check_new_team``)."""
    from fleetsync import teamfile as tf
    from fleetsync.labelselector import parse_selector

    owned = tf.split_list(namespaces)
    if not owned:  # the flag's rule: a team with no namespace of its own is a typo here
        raise tf.TeamFileError("a team owns at least one namespace (--namespaces a,b)")
    return tf.flags_document(
        name,
        {"url": repo, "branch": branch, "path": path.rstrip("/")},
        owned,
        None if clusters is None else parse_selector(clusters),
        tf.kind_refs(kinds),
        tf.kind_refs(cluster_scoped_kinds),
        {k: v for k, v in limits.items() if v is not None},
    )


@app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The team's name (a DNS label): teams/NAME.yaml.")],
    repo: Annotated[
        str,
        typer.Option(
            "--repo", help="The team repo: git://, https://, ssh:// or an absolute path; no credentials."
        ),
    ],
    namespaces: Annotated[
        str, typer.Option("--namespaces", help="Namespaces the team owns, comma-separated (a,b).")
    ],
    branch: Annotated[str, typer.Option("--branch", help="The team repo's branch the hub reads.")] = "main",
    path: Annotated[str, typer.Option("--path", help="A sub-directory of the team repo.")] = "",
    clusters: Annotated[
        str | None,
        typer.Option(
            "--clusters",
            help="Clusters the team may target, a kubectl label selector (default: every cluster).",
        ),
    ] = None,
    kinds: Annotated[
        str,
        typer.Option(
            "--kinds",
            help="Namespaced kinds it may place, group/Kind,... (a core kind: Kind or /Kind; default: all).",
        ),
    ] = "",
    cluster_scoped_kinds: Annotated[
        str,
        typer.Option("--cluster-scoped-kinds", help="Cluster-scoped kinds allowed beyond its Namespaces."),
    ] = "",
    objects_per_cluster: Annotated[
        int | None, typer.Option("--objects-per-cluster", min=1, help="Most objects per cluster.")
    ] = None,
    bundle_bytes: Annotated[
        int | None, typer.Option("--bundle-bytes", min=1, help="Most bytes of its objects per bundle.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the team's existing entry.")] = False,
    directory: DirOpt = Path("."),
) -> None:
    """Write teams/NAME.yaml in a checkout of the platform repo: a team, its repo, what it owns.

    Commit the file on a branch and open a pull request: the hub reads the team repo once it is
    merged. The URL must carry no credentials (the hub's own Git credentials reach the team repo).

      fleetsync team add team-a --repo git://git.example.com/team-a.git --namespaces team-a,team-a-staging

      fleetsync team add team-b --repo https://git.example.com/team-b.git --namespaces team-b \\
          --clusters 'environment=staging,region in (eu,us)' --kinds apps/Deployment,Service,ConfigMap

    Exit 0 written, 2 refused: what the hub would refuse (its finding is printed: a bad name, URL,
    namespace, kind, branch or path; a namespace another team owns; a team file of the checkout
    that does not load), a selector kubectl would refuse, an existing team without --force.
    """
    from fleetsync.teamfile import check_new_team, team_path
    from reconciler.errors import UserError

    checkout = _checkout(directory)
    limits = {"objectsPerCluster": objects_per_cluster, "bundleBytes": bundle_bytes}
    try:
        target = team_path(checkout, name)
        if target.exists() and not force:
            raise fail(f"teams/{name}.yaml exists: give --force to replace it", EXIT_USAGE)
        doc = _document(name, repo, branch, path, namespaces, clusters, kinds, cluster_scoped_kinds, limits)
        team, data = check_new_team(checkout, doc)  # what the hub would refuse, refused here
    except UserError as e:  # TeamFileError (the hub's findings), or a selector kubectl would refuse
        raise fail(mask_url_credentials(str(e)), EXIT_USAGE) from e
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    typer.echo(f"wrote teams/{team.name}.yaml:\n")
    typer.echo(mask_url_credentials(data.decode()))
    typer.echo(
        "next: commit it on a branch and open a pull request to the platform repo; its plan shows the effect:\n"
        f"  git switch -c onboard-{team.name}\n"
        f"  git add teams/{team.name}.yaml && git commit -m 'Onboard team {team.name}'\n"
        "  fleetsync plan --base main --head HEAD\n"
        "once merged, the hub reads the team repo (give the hub read access to it; docs/teams.md)"
    )


def _row(team: Team) -> list[str]:
    from fleetsync.labelselector import selector_text

    return [
        team.name,
        mask_url_credentials(team.repo.url) + (f"//{team.repo.path}" if team.repo.path else ""),
        team.repo.branch,
        ",".join(team.namespaces),
        selector_text(team.cluster_selector.to_dict() if team.cluster_selector is not None else None),
        ",".join(team.kinds) or "*",
    ]


def _table(teams: list[Team]) -> str:
    rows = [["NAME", "REPO", "BRANCH", "NAMESPACES", "CLUSTERS", "KINDS"], *(_row(t) for t in teams)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


@app.command("list")
def list_command(
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
    directory: DirOpt = Path("."),
) -> None:
    """List the teams of a checkout of the platform repo (its teams/*.yaml).

      fleetsync team list

      fleetsync team list -o json --dir ~/src/platform | jq '.items[].spec.namespaces'

    A team file that does not parse is named on stderr and the exit code is 1.
    """
    from fleetsync.teamfile import TeamFileError, document, load_teams
    from fleetsync_contract.canonical import dump

    try:
        loaded = load_teams(_checkout(directory))  # read as the hub reads them
    except TeamFileError as e:
        raise fail(str(e), EXIT_USAGE) from e
    teams = list(loaded.teams)
    if output is TableOutput.table:
        text = _table(teams)
    else:
        listing = {"apiVersion": "v1", "kind": "List", "items": [document(t) for t in teams]}
        text = (
            json.dumps(listing, indent=2, sort_keys=True) + "\n"
            if output is TableOutput.json
            else dump(listing).decode()
        )
    typer.echo(mask_url_credentials(text), nl=False)
    for finding in loaded.findings:
        typer.echo(f"{finding.severity}: {mask_url_credentials(str(finding))}", err=True)
    if loaded.errors:
        raise typer.Exit(EXIT_FINDINGS)


@app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="The team to remove.")],
    directory: DirOpt = Path("."),
) -> None:
    """Delete teams/NAME.yaml from a checkout of the platform repo, and say what the hub will do.

    Once the removal is merged, the hub prunes the team's objects from every cluster, under its
    prune safety: a cluster that would lose all its objects, or more than pruneMaxShare of them,
    keeps its bundle until a commit of the change carries the trailer Fleetsync-Allow-Prune.

      fleetsync team remove team-a

    Exit 0 removed, 1 no such team, 2 a bad name or directory.
    """
    from fleetsync.teamfile import TeamFileError, team_path

    checkout = _checkout(directory)
    try:
        target = team_path(checkout, name)
    except TeamFileError as e:
        raise fail(str(e), EXIT_USAGE) from e
    if not target.is_file():
        raise fail(f"no team {name!r}: teams/{name}.yaml does not exist (fleetsync team list)", EXIT_FINDINGS)
    target.unlink()
    typer.echo(
        f"removed teams/{name}.yaml\n"
        f"once this is merged the hub stops reading team {name}'s repo and prunes its objects from every\n"
        "cluster. Prune safety applies (docs/hub.md): a cluster that would lose all of its objects, or\n"
        "more than pruneMaxShare (default 0.5) of them, keeps its bundle until a commit of the change\n"
        "carries the confirmation trailer. Commit, check, and confirm where the plan asks for it:\n"
        f"  git switch -c offboard-{name}\n"
        f"  git commit -m 'Remove team {name}' -- teams/{name}.yaml\n"
        "  fleetsync plan --base main --head HEAD     (lists the clusters that need the confirmation)\n"
        f"  git commit --amend --trailer 'Fleetsync-Allow-Prune: CLUSTER[,CLUSTER...]|all'"
    )
