"""Team repos as sources of the hub: each fetched at its head, loaded, confined and kept on its own.

The platform repo's Teams (reconciler/teams/) name one repo and branch each. Every pass fetches
each branch into ``refs/fleetsync/teams/<team>`` of the hub's working repository, with the
hub's own bounded, credentialed and redacted fetch (``HubRepo.fetch_branch``), and loads its
head like the fleet commit: ``load_directory`` with the platform's defaults (a team's
``fleetsync.yaml`` is ignored, with a warning), then ``confine`` to the team's boundaries. Each
team has its OWN last good commit and kept objects (``TeamRecord`` in status.yaml), handled by
the very functions the fleet's own isolation uses (reconciler/load/lastgood.py): a team commit
that does not load, or a team repo that cannot be fetched, keeps that team's last good objects
— nothing that failed to load is treated as deleted — and never holds back the platform or
another team. The teams' specs are then merged into the platform's (``merge``). Team findings
stay in their team's record (their files are paths of the team repo), never in the fleet's
``lastLoad``. Removing a Team file is the only way a team's objects go, and their removal
passes the hub's prune-safety check like any other (reconciler/hub/prunesafety.py).

``TeamSources`` lives in the hub's ``HubSession``; it remembers the loaded team trees (by tree
and sub-directory) and whether any team's head moved, which makes the pass a full one.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from fleetsync_contract import parse_identity
from fleetsync_contract.canonical import dump
from reconciler.api.membercluster import MemberCluster
from reconciler.errors import SCOPE_REPO, Finding, TransientError, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.outcome import Placed
from reconciler.hub.overrides import OverriddenObject
from reconciler.load.fleet import FleetSpec, LoadResult, load_directory
from reconciler.load.lastgood import Isolated, keep_last_good, last_good_spec
from reconciler.load.settings import SETTINGS_FILE, Settings
from reconciler.status.memory import MAX_FINDINGS, BindingRecord, HubMemory, LoadRecord, TeamRecord
from reconciler.teams.boundaries import confine, merge, owner_key, team_of
from reconciler.teams.model import Team, TeamRepo

log = logging.getLogger(__name__)

TEAM_REF_PREFIX = "refs/fleetsync/teams/"
MAX_LOADS = 64  # team trees remembered
MAX_KEPT = 10_000
MAX_ERROR = 500  # characters of a fetch error kept in status
FETCH_WORKERS = 8  # team repos fetched at once (each fetch is mostly waiting on its remote)
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def team_ref(name: str) -> str:
    return TEAM_REF_PREFIX + name


@dataclass(frozen=True, slots=True)
class Teamed:
    """What the teams add to one reconcile: the merged render and each team's record."""

    isolated: Isolated
    records: Mapping[str, TeamRecord]


class TeamSources:
    """The team repos of one hub process: their heads as last fetched, and their loads."""

    def __init__(self) -> None:
        self.heads: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.known: Mapping[str, Team] = MappingProxyType({})  # the teams of the last composed render
        self._loads: dict[tuple[str, str], LoadResult] = {}
        self._fetch = True
        self._fetched: set[tuple[str, TeamRepo]] = set()  # read in this pass

    def refresh(self, repo: HubRepo, fetch: bool = True) -> bool:
        """Start a pass: fetch the branch of every team the last composed render knew (unless
        ``fetch`` is False); True when a head or a fetch error changed since the last pass (the
        pass must then be a full one). Teams new in the fleet commit are fetched by ``compose``,
        after the hub verified and loaded that commit: an unverified commit never makes the hub
        contact a repository (with its credentials) that only that commit names."""
        before = (self.heads, self.errors)
        self.heads, self.errors, self._fetch, self._fetched = {}, {}, fetch, set()
        self._read_all(repo, sorted(self.known.items()))
        return (self.heads, self.errors) != before

    def _read_all(self, repo: HubRepo, teams: Sequence[tuple[str, Team]]) -> None:
        """Fetch the teams' branches (when this pass fetches) and note their heads. The fetches
        run in a few threads: a pass with many team repos is otherwise a row of round trips
        (bench/bench_teams.py); each fetch is its own ``git`` process writing only its own ref."""
        self._fetched.update((name, team.repo) for name, team in teams)
        if self._fetch and teams:
            with ThreadPoolExecutor(min(FETCH_WORKERS, len(teams)), "team-fetch") as pool:
                failed = list(pool.map(lambda t: _fetch_one(repo, *t), teams))
            for (name, _), error in zip(teams, failed, strict=True):
                if error is not None:
                    self.errors[name] = error
                    log.warning(
                        "a team repo cannot be fetched; it keeps its last good objects", extra={"team": name}
                    )
        for name, _ in teams:
            head = repo.resolve(team_ref(name))
            if head:
                self.heads[name] = head

    def load(self, repo: HubRepo, team: Team, commit: str) -> LoadResult | None:
        """A team commit loaded as it is (not confined); None when it cannot be read."""
        try:
            if not commit or repo.resolve(commit) != commit:
                return None
            key = (repo.tree_id(commit), team.repo.path)
        except (UserError, TransientError, ValueError) as e:
            log.warning("a team commit cannot be read", extra={"team": team.name, "error": str(e)})
            return None
        hit = self._loads.pop(key, None)
        if hit is None:
            hit = _load_tree(repo, commit, team.repo.path)
        self._loads[key] = hit
        while len(self._loads) > MAX_LOADS:
            del self._loads[next(iter(self._loads))]
        return hit

    def compose(self, repo: HubRepo, memory: HubMemory, isolated: Isolated) -> Teamed:
        """The platform's render (``isolated``) with every team's objects merged in."""
        platform = isolated.spec
        self.known = platform.teams
        if not platform.teams:
            return Teamed(isolated, MappingProxyType({}))
        specs: list[tuple[Team, FleetSpec]] = []
        records: dict[str, TeamRecord] = {}
        frozen = dict(isolated.frozen)
        team_frozen: dict[str, Mapping[str, tuple[Finding, ...]]] = {}
        new = [(n, t) for n, t in sorted(platform.teams.items()) if (n, t.repo) not in self._fetched]
        self._read_all(repo, new)  # new in this commit, or their repo changed
        for name, team in sorted(platform.teams.items()):
            spec, record, held = self._team(repo, team, memory.teams.get(name), platform.members)
            records[name] = record
            team_frozen[name] = held
            if spec is not None:
                specs.append((team, spec))
        merged = merge(platform, specs)
        for name, held in team_frozen.items():  # a team's frozen placement, if it is the team's
            owned = merged.spec.owners
            frozen.update({k: v for k, v in held.items() if owned.get(owner_key("placements", k)) == name})
        for name, refused in merged.refused.items():
            if refused:
                r = records[name]
                found = (r.last_load.findings + refused)[:MAX_FINDINGS]
                records[name] = replace(r, last_load=replace(r.last_load, findings=found))
        return Teamed(
            Isolated(merged.spec, isolated.kept, MappingProxyType(frozen)),
            MappingProxyType(records),
        )

    def _team(
        self, repo: HubRepo, team: Team, before: TeamRecord | None, members: Mapping[str, MemberCluster]
    ) -> tuple[FleetSpec | None, TeamRecord, Mapping[str, tuple[Finding, ...]]]:
        """One team → its spec (None: nothing to render), its record, its frozen placements."""
        base = before.commit if before is not None else ""
        kept = _valid_kept(before.kept) if before is not None else {}
        error = self.errors.get(team.name, "")

        def load(commit: str) -> LoadResult | None:
            loaded = self.load(repo, team, commit)
            return confine(team, loaded, members) if loaded is not None else None

        head = self.heads.get(team.name, "")
        loaded = load(head) if head else None
        if loaded is None:  # never fetched, or unreadable: the last good state stays
            why = error or f"the team repo's branch {team.repo.branch!r} has not been fetched"
            last = LoadRecord(head, False, (Finding("", 0, 0, "", why, scope=SCOPE_REPO),))
            spec = last_good_spec(base, kept, load) if base else None
            return spec, TeamRecord(base, last, MappingProxyType(kept), error), {}
        isolated = keep_last_good(loaded, base, kept, load)
        if isolated.held:  # the head does not load: the team keeps its last good render
            last = LoadRecord(head, False, isolated.held[:MAX_FINDINGS])
            spec = last_good_spec(base, kept, load) if base else None
            return spec, TeamRecord(base, last, MappingProxyType(kept), error), {}
        # every finding, warnings too: this record is where the team reads them
        last = LoadRecord(head, True, loaded.findings[:MAX_FINDINGS])
        return isolated.spec, TeamRecord(head, last, isolated.kept, error), isolated.frozen


class TeamLimits:
    """``spec.limits`` on one reconcile's placements: a team whose objects on a cluster would
    exceed ``objectsPerCluster`` or ``bundleBytes`` keeps there the bindings it had (so the
    bundle keeps exactly what it holds for the team, and nothing new is bound); the other teams
    and the platform move on. Which clusters were held is recorded in the team's status record
    (``limited``)."""

    def __init__(self, spec: FleetSpec):
        self._spec = spec
        self.held: dict[str, dict[str, str]] = {}  # team -> cluster -> why

    def hold(self, placed: Sequence[Placed], previous: HubMemory) -> list[Placed]:
        """``placed`` with every binding of a team over its limits on a cluster as it was."""
        shares: dict[tuple[str, str], list[OverriddenObject]] = {}
        for p in placed:
            team = team_of(self._spec, p.memory.key)
            if team is None or not (team.limits.objects_per_cluster or team.limits.bundle_bytes):
                continue
            for b in p.memory.bindings:
                result = p.results.get(b.cluster)
                if b.version and result is not None:
                    shares.setdefault((team.name, b.cluster), []).extend(result.objects)
        over: set[tuple[str, str]] = set()
        for (name, cluster), objects in sorted(shares.items()):
            why = _over(self._spec.teams[name], objects)
            if why is not None:
                log.warning(
                    "a team is over its limits on a cluster; its objects there stay", extra={"team": name}
                )
                self.held.setdefault(name, {})[cluster] = why
                over.add((name, cluster))
        if not over:
            return list(placed)
        return [self._as_before(p, previous, over) for p in placed]

    def _as_before(self, p: Placed, previous: HubMemory, over: set[tuple[str, str]]) -> Placed:
        team = team_of(self._spec, p.memory.key)
        if team is None:
            return p
        before = previous.placements.get(p.memory.key)
        bindings: list[BindingRecord] = []
        for b in p.memory.bindings:
            if (team.name, b.cluster) not in over:
                bindings.append(b)
            elif before is not None and (old := before.binding(b.cluster)) is not None:
                bindings.append(old)
        return replace(p, memory=replace(p.memory, bindings=tuple(bindings)))

    def records(self, records: Mapping[str, TeamRecord]) -> Mapping[str, TeamRecord]:
        return MappingProxyType(
            {
                name: replace(r, limited=MappingProxyType(dict(sorted(self.held.get(name, {}).items()))))
                for name, r in records.items()
            }
        )


def _fetch_one(repo: HubRepo, name: str, team: Team) -> str | None:
    """Fetch one team's branch into its ref; why it failed (None: it did not)."""
    try:
        repo.fetch_branch(team.repo.url, team.repo.branch, team_ref(name))
    except (TransientError, UserError, ValueError) as e:  # already redacted by gitstore
        return str(e)[:MAX_ERROR]
    return None


def _over(team: Team, objects: Sequence[OverriddenObject]) -> str | None:
    limit = team.limits.objects_per_cluster
    if limit is not None and len(objects) > limit:
        return f"{len(objects)} objects, more than spec.limits.objectsPerCluster ({limit}): the team's objects there stay as they are"
    limit = team.limits.bundle_bytes
    if limit is not None:
        size = sum(len(dump(dict(o.manifest))) for o in objects)
        if size > limit:
            return f"{size} bytes, more than spec.limits.bundleBytes ({limit}): the team's objects there stay as they are"
    return None


def _load_tree(repo: HubRepo, commit: str, path: str) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="fleetsync-team-") as tmp:
        repo.export(commit, Path(tmp))
        root = Path(tmp, path) if path else Path(tmp)
        if not root.is_dir():
            why = f"the team repo has no directory {path!r} (spec.repo.path)"
            return LoadResult(FleetSpec(), (Finding(path, 0, 0, "", why, scope=SCOPE_REPO),))
        loaded = load_directory(root, Settings())  # settings are the platform's: the team's are ignored
        if (root / SETTINGS_FILE).is_file():
            note = Finding(
                SETTINGS_FILE,
                0,
                0,
                "",
                "ignored: a team repo has no settings of its own (they are the platform repo's)",
                severity="warning",
            )
            loaded = replace(loaded, findings=(*loaded.findings, note))
        return loaded


def _valid_kept(kept: Mapping[str, str]) -> dict[str, str]:
    """The kept entries of a team record that are well formed (status is read as untrusted)."""
    out: dict[str, str] = {}
    for ident, commit in list(kept.items())[:MAX_KEPT]:
        try:
            parse_identity(ident)
        except ValueError:
            continue
        if _COMMIT.match(commit):
            out[ident] = commit
    return out
