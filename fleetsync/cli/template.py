"""``fleetsync template update``: the template's changes since a fork's version, as a branch to review.

docs/forking.md describes the update by hand: split ``fleet-repo-template/`` out of fleetsync at
the new release tag, merge it into a branch of the fork, settle the conflicts by its table, open a
pull request. This command is those steps, with the table's answers applied where the table gives
one (``decide``, a pure function of a path and the sides that changed it) and every other conflict
left in the work tree for a person, the merge still in progress. The fork's version is recorded in
``.fleetsync/template-version``, written by the first commit after forking and by every update,
because nothing else says which release a fork is at (the split history tells where the merge
starts, but not by which name); it also refuses a downgrade and tells an update that has nothing
to do. The git steps are reconciler/gitstore/subtree.py's. Exit 0 the branch is committed, 1
conflicts are left for a person, 2 a bad version, branch or checkout, 3+ git failed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleetsync.cli.conventions import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, fail
from fleetsync_contract.gitauth import mask_url_credentials

if TYPE_CHECKING:
    from reconciler.gitstore.subtree import ForkTree

app = typer.Typer(
    help="Keep a fork of fleet-repo-template up to date (docs/forking.md).", no_args_is_help=True
)

PREFIX = "fleet-repo-template"
VERSION_FILE = ".fleetsync/template-version"
UPSTREAM = "upstream"
YOURS = ("clusters/", "placements/", "apps/", "overrides/", "rollouts/", "platform/")
CI_FILES = (".github/workflows/fleetsync.yaml", ".gitlab-ci.yml")
_PIN = re.compile(rb"^(\s*(FLEETSYNC_VERSION|FLEETSYNC_SOURCE)\s*:)[^\n]*$", re.MULTILINE)
MAX_FILE_BYTES = 1 << 20  # a CI file read to put pins back


class Resolution(StrEnum):
    """What docs/forking.md's table says about one conflicted path."""

    keep_deletion = "kept your deletion"
    ours = "kept yours"
    theirs_with_pins = "took upstream's, with your pins"
    person = "left for you"


def decide(path: str, stages: frozenset[int]) -> Resolution:
    """The table's answer for a conflict on ``path`` whose index has ``stages`` (1 base, 2 yours,
    3 upstream's): your directories stay yours (a deleted example stays deleted), CI files are
    upstream's with your pins, the rest (fleetsync.yaml, README.md, anything else) is a person's."""
    if path.startswith(YOURS):
        return Resolution.keep_deletion if stages == {1, 3} else Resolution.ours
    if path in CI_FILES and stages == {1, 2, 3}:
        return Resolution.theirs_with_pins
    return Resolution.person


def _pins(data: bytes) -> dict[bytes, bytes]:
    return {m[2]: m[0] for m in _PIN.finditer(data)}


def _unpinned(data: bytes) -> bytes:
    return _PIN.sub(rb"\1", data)


def with_pins(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Upstream's CI file with your ``FLEETSYNC_VERSION``/``FLEETSYNC_SOURCE`` put back where you
    changed them (a pin you left as the template had it takes upstream's new value), or None when
    you changed more than the pins (what you added is a person's to merge)."""
    if _unpinned(base) != _unpinned(ours):
        return None
    before, mine = _pins(base), _pins(ours)
    changed = {k: v for k, v in mine.items() if before.get(k) != v}
    return _PIN.sub(lambda m: changed.get(m[2], m[0]), theirs)


def _settle(fork: ForkTree, path: str, resolution: Resolution) -> bool:
    """Apply ``resolution`` to ``path``; False when it is left for a person after all."""
    if resolution is Resolution.keep_deletion:
        fork.keep_deleted(path)
    elif resolution is Resolution.ours:
        fork.take_ours(path)
    elif resolution is Resolution.theirs_with_pins:
        sides = [fork.show_file(f":{n}", path) for n in (1, 2, 3)]
        if any(s is None or len(s) > MAX_FILE_BYTES for s in sides):
            return False
        merged = with_pins(*(s or b"" for s in sides))
        if merged is None:
            return False
        fork.write({path: merged})
    else:
        return False
    return True


def recorded_version(fork: ForkTree) -> str | None:
    """The release tag in the fork's ``.fleetsync/template-version`` at HEAD, None if absent."""
    from reconciler.errors import UserError
    from reconciler.gitstore.subtree import check_release

    data = fork.show_file(fork.head(), VERSION_FILE)
    if data is None:
        return None
    tag = data[:64].decode(errors="replace").strip()
    try:
        check_release(tag)
    except UserError as e:
        raise UserError(f"{VERSION_FILE}: {e}") from e
    return tag


def _base(fork: ForkTree, url: str, recorded: str | None, target_split: str) -> str:
    """The split commit the fork's history holds: the recorded release's, or the merge base."""
    head = fork.head()
    if recorded is None:
        base = fork.merge_base(head, target_split)
        if base is None:
            raise fail(
                f"this fork shares no history with the template and records no version: make it as "
                f"docs/forking.md says, or write the release it started from into {VERSION_FILE}",
                EXIT_USAGE,
            )
        return base
    base = fork.split(PREFIX, fork.fetch_tag(url, recorded))
    if not fork.is_ancestor(base, head):
        raise fail(
            f"{VERSION_FILE} says {recorded}, but this branch's history does not hold the template "
            f"split at {recorded} (docs/forking.md, 'The upstream remote')",
            EXIT_USAGE,
        )
    return base


def _message(recorded: str | None, to: str, settled: dict[str, Resolution]) -> bytes:
    lines = [f"Update fleet-repo-template {recorded or 'to'} {'-> ' if recorded else ''}{to}", ""]
    lines.append(f"Merges the template split at {to} (fleetsync template update; docs/forking.md).")
    if settled:
        lines += ["", "Conflicts settled by docs/forking.md's table:"]
        lines += [f"  {path}: {how.value}" for path, how in sorted(settled.items())]
    return ("\n".join(lines) + "\n").encode()


def _report(settled: dict[str, Resolution], left: list[str]) -> None:
    for path, how in sorted(settled.items()):
        typer.echo(f"  {how.value}: {path}")
    for path in left:
        typer.echo(f"  CONFLICT, {Resolution.person.value}: {path}")


def _prepare(directory: Path, to: str, branch: str | None) -> tuple[ForkTree, str, str | None]:
    from reconciler.gitstore.refs import check_branch
    from reconciler.gitstore.subtree import check_release, open_fork

    wanted = check_release(to)
    fork = open_fork(directory)
    name = check_branch(branch or f"template-update-{to}")
    if not fork.clean():
        raise fail(
            "the fork has uncommitted changes or a merge in progress: commit or stash them first", EXIT_USAGE
        )
    if fork.has_branch(name):
        raise fail(f"branch {name} exists: delete it or give --branch", EXIT_USAGE)
    recorded = recorded_version(fork)
    if recorded is not None and check_release(recorded) > wanted:
        raise fail(f"the fork is at {recorded}: {to} would be a downgrade", EXIT_USAGE)
    return fork, name, recorded


def _update(fork: ForkTree, name: str, url: str, recorded: str | None, to: str) -> int:
    if recorded == to:
        typer.echo(f"{VERSION_FILE} says {to}: nothing to update")
        return EXIT_OK
    target = fork.split(PREFIX, fork.fetch_tag(url, to))
    base = _base(fork, url, recorded, target)
    if fork.is_ancestor(target, fork.head()):
        typer.echo(f"the fork already holds the template at {to}: nothing to update")
        return EXIT_OK
    changed = fork.changed_paths(base, target)
    typer.echo(f"template {recorded or '(unrecorded)'} -> {to}: {len(changed)} file(s) changed upstream")
    fork.start_merge(name, target)
    fork.write({VERSION_FILE: f"{to}\n".encode()})
    settled: dict[str, Resolution] = {}
    left: list[str] = []
    for path, stages in fork.unmerged().items():
        how = decide(path, stages)
        if _settle(fork, path, how):
            settled[path] = how
        else:
            left.append(path)
    _report(settled, left)
    if left:
        fork.set_merge_message(_message(recorded, to, settled))
        typer.echo(
            f"\nbranch {name}: the merge is in progress with {len(left)} conflict(s) for you. Resolve them "
            "by docs/forking.md's table, then:\n"
            "  git add FILE...\n  fleetsync validate .\n  git commit --no-edit\n"
            f"(or give up: git merge --abort && git switch - && git branch -D {name})"
        )
        return EXIT_FINDINGS
    commit = fork.conclude(_message(recorded, to, settled))
    typer.echo(
        f"\nbranch {name} at {fork.short(commit)}: the template at {to}, {VERSION_FILE} updated.\n"
        "Push it and open a pull request; its plan shows what the update does to your clusters:\n"
        f"  git push -u origin {name}\n"
        "  fleetsync plan --base main --head HEAD"
    )
    return EXIT_OK


@app.command("update")
def update_command(
    to: Annotated[str, typer.Option("--to", help="The release to update to, a tag vX.Y.Z.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="A checkout of the fork (default: the current directory).")
    ] = Path("."),
    template_repo: Annotated[
        str | None,
        typer.Option(
            "--template-repo",
            help=f"fleetsync's repository, whose {PREFIX}/ is the template (default: the fork's '{UPSTREAM}' remote).",
        ),
    ] = None,
    branch: Annotated[
        str | None, typer.Option("--branch", help="The new branch (default template-update-VERSION).")
    ] = None,
) -> None:
    """Merge the template's changes since the fork's version up to release VERSION into a new branch.

    Conflicts the forking table answers are settled (your clusters/, placements/, apps/, ...
    stay yours; a deleted example stays deleted; CI files are upstream's with your pins); the rest
    is left for you with the merge in progress. The fork records its version in
    .fleetsync/template-version.

      fleetsync template update --to v0.2.0

      fleetsync template update --to v0.2.0 --template-repo https://github.com/example/fleetsync --dir ~/src/my-fleet

    Exit 0 the branch is committed, 1 conflicts left for you (listed), 2 a bad version, branch or checkout.
    """
    from reconciler.errors import UserError

    try:
        fork, name, recorded = _prepare(directory, to, branch)
        url = template_repo or fork.remote_url(UPSTREAM)
        if not url:
            raise fail(
                f"no --template-repo and no '{UPSTREAM}' remote: name fleetsync's repository", EXIT_USAGE
            )
        typer.echo(f"template source: {mask_url_credentials(url)}")
        code = _update(fork, name, url, recorded, to)
    except UserError as e:
        raise fail(mask_url_credentials(str(e)), EXIT_USAGE) from e
    raise typer.Exit(code)
