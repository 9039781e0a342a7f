"""``fleetsync version`` (and ``fleetsync --version``): the installed distribution's version.

Read from the package metadata rather than a constant in the code, so the number a user reports
is the one pip installed; a source tree that was never installed says so instead of guessing.
"""

from __future__ import annotations

import typer


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("fleetsync")
    except PackageNotFoundError:
        return "unknown (not installed)"


def version() -> None:
    """Print fleetsync's version."""
    typer.echo(installed_version())
