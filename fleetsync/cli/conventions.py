"""What every ``fleetsync`` command has in common: exit codes, output formats, options, the clock.

Commands follow kubectl/flux conventions so a CI job or a script can branch on them without
reading text: ``-o yaml|json|table`` (or ``text``), errors on stderr, and one exit-code rule:

  0  success / nothing to report
  1  findings (validation errors, a plan with changes)
  2  usage error (bad flags or arguments), or checks that block a merge (``plan``)
  3+ runtime failure (git unreachable, a bug)

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


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: MESSAGE`` on stderr; the caller raises the returned exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def utcnow() -> datetime:
    """The one wall clock of the CLI; everything below takes ``now`` as a parameter."""
    return datetime.now(UTC)
