"""Installing a built fleetsync wheel into a scratch prefix, as a user's ``pip install`` would.

Shared by the shipped-template test and the image test. ``--ignore-installed`` matters: without
it pip uninstalls the running environment's own (editable) fleetsync before installing into the
prefix, and the ``fleetsync`` command of the test environment is gone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]


def install_into_prefix(wheel: Path, prefix: Path) -> Path:
    """``wheel`` installed (without its dependencies: this environment's serve) under ``prefix``;
    its site-packages directory."""
    subprocess.run(
        [
            *PIP,
            "install",
            "--no-deps",
            "--no-index",
            "--no-warn-script-location",
            "--ignore-installed",
            "--prefix",
            str(prefix),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    [site] = prefix.glob("lib/python*/site-packages")
    return site
