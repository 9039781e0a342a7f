"""Where fleetsync's shipped non-Python files are: in a checkout, or where a wheel installed them.

A few top-level directories of the repository (``policies/``, ``fleet-repo-template/``) are
part of the product. In a source checkout (and an editable install) they sit beside the
packages; a wheel cannot put them there, so pyproject.toml ships them as data-files into
``<prefix>/share/fleetsync/<name>`` (``sys.prefix`` for a venv or system install, the user base
for ``pip install --user``). The lookup tries the checkout first, so a developer always runs
what they are editing, then the install prefixes. Pure: the roots are parameters with the real
ones as defaults, so tests can point them at a fake prefix.
"""

from __future__ import annotations

import site
import sys
from collections.abc import Sequence
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout, when running from one
SHARE = Path("share") / "fleetsync"  # under an install prefix; matches [tool.setuptools.data-files]


def install_prefixes() -> list[Path]:
    """Where an installed wheel's data-files are: ``sys.prefix``, then the user base when the
    user site is enabled (a ``pip install --user`` outside a venv)."""
    prefixes = [Path(sys.prefix)]
    if site.ENABLE_USER_SITE:
        prefixes.append(Path(site.getuserbase()))
    return prefixes


def candidates(
    name: str, *, source_root: Path = SOURCE_ROOT, prefixes: Sequence[Path] | None = None
) -> list[Path]:
    """Every place the shipped directory ``name`` may be, in the order they are tried."""
    roots = install_prefixes() if prefixes is None else list(prefixes)
    return [source_root / name, *(prefix / SHARE / name for prefix in roots)]


def find_shipped(
    name: str, *, source_root: Path = SOURCE_ROOT, prefixes: Sequence[Path] | None = None
) -> Path | None:
    """The shipped directory ``name``: beside the source tree, else under an install prefix;
    None when neither holds it (a wheel built without its data-files, or a broken install)."""
    return next((p for p in candidates(name, source_root=source_root, prefixes=prefixes) if p.is_dir()), None)
