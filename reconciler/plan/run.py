"""``fleetsync plan`` wired to the outside: the repo, the remote with reports, the clock, output.

Reports are read from the repo's own hub refs, or with ``--reports-from`` from another remote
(a URL, a path, or the name of one of the repo's remotes) fetched into a throw-away bare cache,
so planning never moves a ref of the repo it plans.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from reconciler.errors import FleetsyncError, UserError
from reconciler.gitstore.refs import is_url
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.session import HubSession
from reconciler.plan.build import ExitCode, FleetPlan, make_plan
from reconciler.plan.markdown import render
from reconciler.plan.side import read_cluster_state
from reconciler.plan.team import team_plan

MAX_LABELS = 100


def _plan(
    path: Path, base: str, head: str, now: datetime, reports_from: str | None, labels: Sequence[str]
) -> FleetPlan:
    session = HubSession()  # this plan's caches: both commits' loads, policy results, older snapshots
    with HubRepo.local(path) as repo:
        if reports_from is None:
            return make_plan(repo, base, head, now, read_cluster_state(repo, "this repo"), labels, session)
        remote = (
            reports_from
            if is_url(reports_from) or Path(reports_from).exists()
            else repo.remote_url(reports_from)
        )
        if remote is None:
            raise UserError(f"--reports-from {reports_from!r}: not a URL, a path or a remote of {path}")
        if not is_url(remote):
            remote = str(Path(remote).resolve())
        with (
            tempfile.TemporaryDirectory(prefix="fleetsync-plan-") as tmp,
            HubRepo.cached(Path(tmp), str(path.resolve()), remote) as hub,
        ):
            hub.refresh(source=False)
            return make_plan(repo, base, head, now, read_cluster_state(hub, reports_from), labels, session)


def run(
    path: Path,
    base: str,
    head: str,
    output: str,
    now: datetime,
    *,
    reports_from: str | None = None,
    labels: Sequence[str] = (),
    platform: str | None = None,
    team: str | None = None,
) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) — see ``ExitCode``."""
    if len(labels) > MAX_LABELS or any(len(x) > 256 for x in labels):
        return (
            "",
            f"error: at most {MAX_LABELS} labels of at most 256 characters\n",
            int(ExitCode.RUNTIME_ERROR),
        )
    try:
        if platform is not None:  # a team repo's change, against the platform repo's head
            plan = team_plan(path, base, head, now, platform, team, labels)
        else:
            plan = _plan(path, base, head, now, reports_from, labels)
    except UserError as e:  # a path, a revision or a remote that is not there: a usage error
        return "", f"error: {e}\n", int(ExitCode.CHECKS_FAILED)
    except FleetsyncError as e:
        return "", f"error: {e}\n", int(ExitCode.RUNTIME_ERROR)
    if output == "json":
        text = json.dumps(plan.to_dict(), indent=2, sort_keys=False) + "\n"
    else:
        text = render(plan, md=output == "markdown")
    return text, "", int(plan.exit_code)
