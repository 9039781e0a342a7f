"""Each team's own status, pushed to ``fleet/status`` in the team's repo after the platform publish.

A team must read its placements' status with only its own repo's access (docs/teams.md, "A
team's status"), so the hub writes it where the team already reads: a branch it owns in the
team repo, ``fleet/status``, the branch name ``fleetsync get`` already reads. The view is cut
from the platform's status files and the agents' reports by reconciler/status/teamview.py (the
team's placements, their bindings and per-cluster conditions, its staged runs and approval
requests, its objects' drift files, the team's record; nothing of other teams or of the
platform). The design choice is that team status is a best-effort copy, never part of the
hub's atomic publish: the loop ``stage``s every team's view while it writes the platform's
status, and ``publish`` pushes them only after the platform's refs moved, each team on its own —
an unreachable or read-only team repo is recorded in that team's record (``statusError``) and
retried on the next pass (a failing push makes every pass a full one), and it never holds back
the platform or another team. A view is pushed only when its tree differs from the branch's,
read from the team repo (``HubRepo.team_status_tip``) whenever this process has not pushed it
yet, so a restarted hub writes nothing when nothing changed. The push takes a lease on the tip
it read: a branch someone else moved is never overwritten (the error is recorded; the next pass
reads the new tip and builds on it). The hub's only git door, reconciler/gitstore/repo.py, does
the fetching and pushing, bounded, credentialed and redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from reconciler.errors import TransientError, UserError
from reconciler.gitstore.refs import RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import STATUS_HEAD
from reconciler.load.fleet import FleetSpec
from reconciler.status.memory import STATUS_FILE, HubMemory, TeamRecord, dump_memory, parse_memory
from reconciler.status.teamview import Drifts, team_view

log = logging.getLogger(__name__)

MAX_ERROR = 500  # characters of a push error kept in status


def carry_status_errors(records: Mapping[str, TeamRecord], previous: HubMemory) -> Mapping[str, TeamRecord]:
    """``records`` with each team's last push error as the platform status holds it: only
    ``TeamStatus.publish`` changes it, after the pass that wrote the status it is about."""
    return MappingProxyType(
        {
            name: replace(r, status_error=before.status_error)
            if (before := previous.teams.get(name)) is not None
            else r
            for name, r in records.items()
        }
    )


class TeamStatus:
    """The team status branches of one hub process: the views staged by the pass, and what was
    pushed (tree id by team) and failed (error by team)."""

    def __init__(self) -> None:
        self._staged: dict[str, tuple[str, Mapping[str, bytes]]] = {}  # team -> (repo url, files)
        self._pushed: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._unrecorded = False  # the last pass could not record its push errors in status

    @property
    def failing(self) -> bool:
        """Whether a team's last push failed (or its outcome is not recorded yet): the next pass
        must be a full one, to retry it."""
        return self._unrecorded or any(self.errors.values())

    def stage(self, spec: FleetSpec, memory: HubMemory, files: Mapping[str, bytes], drifts: Drifts) -> None:
        """Every team's view of the status this pass is about to publish (``files``, whose
        ``status.yaml`` is ``memory``) and of the agents' ``drifts`` it read; pushed by
        ``publish`` once the platform's refs moved."""
        self._staged = {
            name: (team.repo.url, team_view(name, memory, files, spec.owners, drifts))
            for name, team in sorted(spec.teams.items())
        }
        for gone in set(self._pushed) - set(self._staged):  # a removed team: its branch stays as it is
            del self._pushed[gone]
        for gone in set(self.errors) - set(self._staged):
            del self.errors[gone]

    def publish(self, repo: HubRepo, now: datetime) -> None:
        """Push every staged view that differs from its branch; record in the platform status
        each team whose push error changed (one more status commit, only then)."""
        errors = dict(self.errors)
        for name, (url, files) in sorted(self._staged.items()):
            tree = repo.write_tree(files)
            if self._pushed.get(name) == tree and not errors.get(name):
                errors[name] = ""  # the branch holds this view: no error (one recorded is stale)
                continue
            try:
                self._push(repo, name, url, tree, now)
            except (TransientError, UserError, ValueError) as e:  # already redacted by gitstore
                errors[name] = str(e)[:MAX_ERROR]
                self._pushed.pop(name, None)  # read the tip again next time
                log.warning("a team's status branch cannot be pushed; retried", extra={"team": name})
                continue
            errors[name] = ""
        self.errors = {n: e for n, e in errors.items() if e}
        self._unrecorded = False
        try:
            self._record(repo, errors, now)
        except (TransientError, UserError) as e:  # the platform's publish stands: retried next pass
            self._unrecorded = True
            log.warning(
                "a team status push error cannot be recorded yet", extra={"error": str(e)[:MAX_ERROR]}
            )

    def _push(self, repo: HubRepo, name: str, url: str, tree: str, now: datetime) -> None:
        tip = repo.team_status_tip(url, name)
        if tip is None or repo.tree_id(tip) != tree:
            message = f"status: team {name}"
            new = repo.write_commit(tree, [tip] if tip else [], message, now)
            repo.push_team_status(url, name, new, tip)
            log.info("team status pushed", extra={"team": name})
        self._pushed[name] = tree

    def _record(self, repo: HubRepo, errors: Mapping[str, str], now: datetime) -> None:
        """Write each team's push error into ``status.yaml`` where it differs from what is there."""
        tip = repo.hub_refs().get(STATUS_HEAD) if self._staged else None
        data = repo.read_file(tip, STATUS_FILE) if tip else None
        if tip is None or data is None:
            return
        memory = parse_memory(data)
        teams = {
            name: replace(r, status_error=errors.get(name, r.status_error))
            for name, r in memory.teams.items()
        }
        if teams == dict(memory.teams):
            return
        files = {
            **repo.read_files(tip),
            STATUS_FILE: dump_memory(replace(memory, teams=MappingProxyType(teams))),
        }
        failed = sorted(n for n in teams if teams[n].status_error)
        message = "status: team status pushed"
        if failed:
            message = f"status: team status cannot be pushed for {', '.join(failed)}"
        new = repo.write_commit(repo.write_tree(files), [tip], message, now)
        repo.publish([RefUpdate(STATUS_HEAD, new, tip)])  # RefRace: another hub moved it first
