"""What every ``fleetsync`` command has in common: exit codes, output formats, options, the clock.

Commands follow kubectl/flux conventions so a CI job or a script can branch on them without
reading text: ``-o yaml|json|table`` (or ``text``), errors on stderr, and one exit-code rule:

  0  success / nothing to report
  1  findings: validation errors, a plan with changes, failed or drifted objects, a status that
     is not rendered, an object or drift that does not exist (``NotFound``)
  2  usage or configuration error: bad flags or arguments, a path that is not a fleet repo, an
     unknown kind, run or stage, a remote that does not exist; and checks that block a merge
     (``plan``)
  3+ runtime failure (git unreachable, a bug)

``exit_code_for`` applies the rule to an error no command caught (``fleetsync.cli.main``), so a
missing path gives 2 whichever command was given it; tests/fleetsync/cli/test_exit_codes.py
proves the rule over every command.

They live in a leaf module, apart from the app that assembles the commands, so each command
module can import them without importing its siblings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class TextOutput(StrEnum):
    text = "text"
    json = "json"


class TableOutput(StrEnum):
    table = "table"
    yaml = "yaml"
    json = "json"


class PlanOutput(StrEnum):
    markdown = "markdown"
    json = "json"
    text = "text"


RepoOpt = Annotated[
    str, typer.Option("--repo", help="Fleet repo: a local path (worked on in place) or a URL.")
]
BranchOpt = Annotated[str, typer.Option("--branch", help="The fleet branch to render.")]
HubRemoteOpt = Annotated[
    str | None,
    typer.Option("--hub-remote", help="Write hub refs here instead of the fleet repo (URL or path)."),
]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Cache for remote repos (default ~/.cache/fleetsync/hub).")
]


def exit_code_for(error: BaseException) -> int:
    """The exit code of an error no command caught: 1 for something that does not exist, 2 for
    anything the user must fix (a path, a flag, a name), 3 for the rest."""
    from reconciler.errors import NotFound, UserError

    if isinstance(error, NotFound):
        return EXIT_FINDINGS
    if isinstance(error, UserError):
        return EXIT_USAGE
    return EXIT_RUNTIME


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: MESSAGE`` on stderr; the caller raises the returned exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def utcnow() -> datetime:
    """The one wall clock of the CLI; everything below takes ``now`` as a parameter."""
    return datetime.now(UTC)
