"""The fleet view of a kept demo: ``fleetsync ui`` on the demo's remote, while the caller waits.

``fleetsync demo --keep`` ends with something to look at, not only a directory: the same
read-only view ``fleetsync ui`` serves (fleetsync/ui/), on a free port of 127.0.0.1 so that two
demos never collide and nothing is reachable from elsewhere. How long it stays up is the
caller's choice (the CLI waits for Enter; tests fetch a page and return), and the server is
stopped when that wait returns or raises. Its clock is the demo's, which skipped the staged
run's soak times, so the view's ages agree with the times the hub and agents wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fleetsync.demo.view import Output
from fleetsync.ui.model import CommitLinks
from fleetsync.ui.serve import serving_ui
from reconciler.errors import FleetsyncError
from reconciler.gitstore.repo import HubRepo


def serve_view(remote: Path, out: Output, view: Callable[[str], None], *, now: Callable[[], datetime]) -> str:
    """Serve the view of ``remote`` while ``view(url)`` runs; the URL ("" when it could not be
    served: no view is no reason to fail the demo, the line says why)."""
    try:
        with (
            HubRepo.local(remote) as repo,
            serving_ui(("127.0.0.1", 0), repo, str(remote), CommitLinks(None), now=now) as server,
        ):
            url = f"http://127.0.0.1:{server.port}/"
            out.line(f"fleet view of the demo fleet: {url}", style="bold")
            view(url)
            return url
    except (FleetsyncError, ValueError, OSError) as e:
        out.line(f"no fleet view: {e}", style="bold red")
        return ""
