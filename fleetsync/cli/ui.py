"""``fleetsync ui``: the fleet view of one fleet repo, served read-only until Ctrl-C (docs/ui.md).

The command only turns flags into the view's parts (the hub repo opened as ``fleetsync get``
opens it, the address, the commit-URL pattern) and waits; the pages are fleetsync/ui/. It binds
the loopback by default: the view has no login of its own, so exposing it is a decision the
operator makes with ``--address`` (behind the platform's authenticating ingress, docs/ui.md).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, HubRemoteOpt, RepoOpt, StateDirOpt, fail, utcnow
from fleetsync.cli.gitauth import KnownHostsOpt, SshKeyOpt, TokenFileOpt, UsernameOpt, git_credentials

if TYPE_CHECKING:
    from fleetsync.ui.model import CommitLinks

DEFAULT_ADDRESS = "127.0.0.1:8090"

CommitUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--commit-url",
        envvar="FLEETSYNC_COMMIT_URL",
        help="Where the Git host shows a commit, with {sha}: https://github.com/org/fleet/commit/{sha}. "
        "Without it the view shows short shas.",
    ),
]


def view_links(ui: bool, http: bool, commit_url: str | None) -> CommitLinks | None:
    """``hub run --ui [--commit-url P]`` → the view's commit links (None: no view); ValueError
    when the view has no port to be served on or the pattern is unusable."""
    from fleetsync.ui.model import CommitLinks

    if not ui:
        return None
    if not http:
        raise ValueError("--ui serves the fleet view on the HTTP port: give --http-address too")
    return CommitLinks(commit_url)


def ui_command(
    repo: RepoOpt = ".",
    hub_remote: HubRemoteOpt = None,
    state_dir: StateDirOpt = None,
    address: Annotated[
        str, typer.Option("--address", help="[HOST]:PORT to serve on (127.0.0.1 only by default).")
    ] = DEFAULT_ADDRESS,
    port: Annotated[
        int | None, typer.Option("--port", help="Shorthand for --address 127.0.0.1:PORT.")
    ] = None,
    commit_url: CommitUrlOpt = None,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
) -> None:
    """Serve the fleet view (placements x clusters, placements, clusters, staged runs) read-only.

    fleetsync ui --repo .                       (then open http://127.0.0.1:8090/)

    fleetsync ui --repo https://git.example.com/fleet.git --commit-url 'https://git.example.com/fleet/-/commit/{sha}'

    Every page has a JSON form: /api/... or ?format=json. The pages re-read the branches when they move.
    """
    from fleetsync.serve.server import parse_address
    from fleetsync.ui.model import CommitLinks
    from fleetsync.ui.serve import serving_ui
    from reconciler.gitstore.repo import open_hub_repo

    try:
        links = CommitLinks(commit_url)
        where = ("127.0.0.1", port) if port is not None else parse_address(address)
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from e
    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    with open_hub_repo(repo, hub_remote=hub_remote, cache_root=state_dir, credentials=auth) as r:
        try:
            served = serving_ui(where, r, repo, links, now=utcnow)
            server = served.__enter__()
        except ValueError as e:  # the port is taken or the address cannot be bound
            raise fail(str(e), EXIT_USAGE) from e
        try:
            typer.echo(f"fleet view on http://{where[0]}:{server.port}/ (Ctrl-C stops it)")
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            served.__exit__(None, None, None)
