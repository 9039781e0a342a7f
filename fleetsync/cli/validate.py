"""``fleetsync validate``: load a fleet repo and print every finding.

The command is a thin shell over ``reconciler.load.validate`` (which renders text or JSON and
decides the exit code), imported when the command runs so that ``fleetsync --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, TextOutput, fail


def validate(
    path: Annotated[Path, typer.Argument(help="Fleet repo directory.")] = Path("."),
    output: Annotated[TextOutput, typer.Option("--output", "-o", help="Output format.")] = TextOutput.text,
) -> None:
    """Load a fleet repo and print every error with file:line:column and field path.

    Exit codes: 0 the repo is valid, 1 it has findings, 2 usage error.

    Examples:

      fleetsync validate fleet-repo-template

      fleetsync validate . -o json | jq '.findings[]'
    """
    from reconciler.load import validate as v

    if not path.is_dir():
        raise fail(f"{path}: not a directory", EXIT_USAGE)
    result = v.validate_path(path)
    typer.echo(v.render(result, output.value), nl=False)
    raise typer.Exit(v.exit_code(result))
