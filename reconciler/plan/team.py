"""``fleetsync plan --platform``: a team repo's pull request planned as the hub would render it.

A team's change only means something together with the platform repo: its clusters, its Team
entry (the boundaries), its policies and the hub's memory and agents' reports on its hub refs.
So the platform's head is fetched, read-only, into a throw-away bare cache (the bounded,
redacted fetch of reconciler/gitstore), and each commit of the team repo is *loaded* as the
hub composes it (reconciler/hub/teams.py): the team commit loaded with the platform's defaults,
``confine``-d to the team's boundaries and ``merge``-d into the platform head's spec. That
composed load is handed to the ordinary plan machinery through the session's load cache
(``TeamLoads``), so everything else — isolation, the hub's stages, diffs, checks, output — is
the platform plan's, unchanged. A boundary refusal is an object-scope error of the composed
load: refused in head but not in base, it is a new error and blocks the merge (exit 2), its
message naming the team and the rule. Other teams' objects are left out (their repos are not
read: a team's CI has no access to them); the boundaries keep namespaces and cluster-scoped
names apart, so they change nothing of this team's render but a collision, which the hub
still refuses — the plan says so in its notes, as it notes a cluster where head exceeds the
team's ``spec.limits`` (the hub then keeps the team's objects there as they are).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from fleetsync_contract.canonical import dump
from reconciler.errors import SCOPE_REPO, Finding, UserError
from reconciler.gitstore.refs import is_url
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.inputs import LoadCache, Loaded
from reconciler.hub.session import HubSession
from reconciler.hub.teams import TeamSources
from reconciler.load.fleet import LoadResult
from reconciler.load.lastgood import slot
from reconciler.plan.build import FleetPlan, make_plan
from reconciler.plan.side import read_cluster_state
from reconciler.teams.boundaries import FLEET_BUCKETS, confine, merge, owner_key, team_of
from reconciler.teams.model import Team

MAX_LOCATION = 2048  # characters of --platform
MAX_NAMES = 20  # team names listed in an error


def compose(platform: LoadResult, team: Team, loaded: LoadResult) -> LoadResult:
    """A team commit's load as the hub renders it: confined to ``team``'s boundaries and merged
    into the platform's spec. Every object the boundaries or a collision refuse is a failed
    object (its findings name the rule); the findings are the team's (their files are the team
    repo's), the documents the team's and the platform's (references resolve across both)."""
    confined = confine(team, loaded, platform.spec.members)
    if confined.held:  # the team commit does not load at all: the plan says "head does not load"
        return confined
    merged = merge(platform.spec, [(team, confined.spec)])
    refused = merged.refused.get(team.name, ())
    failed = dict(confined.failed)
    for ident in confined.documents:
        bucket, key = slot(ident)
        if ident in failed or bucket not in FLEET_BUCKETS or key not in getattr(confined.spec, bucket):
            continue
        if merged.spec.owners.get(owner_key(bucket, key)) != team.name:  # a collision: refused
            failed[ident] = tuple(f for f in refused if f.object == key) or refused
    return LoadResult(
        merged.spec,
        confined.findings + refused,
        MappingProxyType({**confined.documents, **platform.documents}),  # the platform wins
        MappingProxyType({k: failed[k] for k in sorted(failed)}),
        confined.broken,
    )


class TeamLoads(LoadCache):
    """The load cache of a team plan's session: a commit of the team repo loads as ``compose``
    makes it, gated by the platform's policies (a team repo has no settings of its own)."""

    def __init__(self, platform: Loaded, team: Team):
        super().__init__(0)
        self._platform, self._team = platform, team
        self._sources = TeamSources()  # the hub's own loader of team commits
        self._composed: dict[str, Loaded] = {}

    def load(self, repo: HubRepo, commit: str) -> Loaded:
        hit = self._composed.get(commit)
        if hit is None:
            loaded = self._sources.load(repo, self._team, commit)
            if loaded is None:
                why = f"commit {commit[:12]} of the team repo cannot be read"
                loaded = LoadResult(
                    self._platform.result.spec, (Finding("", 0, 0, "", why, scope=SCOPE_REPO),)
                )
            else:
                loaded = compose(self._platform.result, self._team, loaded)
            hit = Loaded(loaded, (), self._platform.policies)
            self._composed[commit] = hit
        return hit


def _normal(location: str) -> str:
    return location.rstrip("/").removesuffix(".git").rstrip("/")


def find_team(teams: Mapping[str, Team], repo: HubRepo, checkout: Path, name: str | None) -> Team:
    """The platform's Team this checkout is: ``name`` (``--team``), else the one whose
    ``spec.repo.url`` is the checkout's ``origin`` remote or its path."""
    if name is not None:
        team = teams.get(name)
        if team is None:
            raise UserError(f"--team {name[:100]!r}: the platform repo has no such Team ({_names(teams)})")
        return team
    mine = {_normal(str(checkout.resolve()))}
    origin = repo.remote_url("origin")
    if origin is not None:
        mine.add(_normal(origin))
    found = [t for t in teams.values() if _normal(t.repo.url) in mine]
    if len(found) != 1:
        which = "no Team" if not found else "more than one Team"
        raise UserError(
            f"{which} of the platform repo names this repo as spec.repo.url; "
            f"pass --team NAME ({_names(teams)})"
        )
    return found[0]


def _names(teams: Mapping[str, Team]) -> str:
    names = sorted(teams)
    shown = ", ".join(names[:MAX_NAMES]) + (", ..." if len(names) > MAX_NAMES else "")
    return f"its teams: {shown}" if names else "it declares none"


def team_plan(
    checkout: Path,
    base: str,
    head: str,
    now: datetime,
    platform: str,
    team_name: str | None = None,
    labels: Sequence[str] = (),
) -> FleetPlan:
    """Plan ``base``..``head`` of the team repo at ``checkout`` against the head of the platform
    repo at ``platform`` (a URL or a path; only read). See the module docstring."""
    if not platform or len(platform) > MAX_LOCATION or platform.startswith("-"):
        raise UserError(f"--platform: a URL or a path of at most {MAX_LOCATION} characters")
    if not is_url(platform) and not Path(platform).is_dir():
        raise UserError(f"--platform {platform[:200]!r}: not a URL or a directory")
    remote = platform if is_url(platform) else str(Path(platform).resolve())
    with (
        tempfile.TemporaryDirectory(prefix="fleetsync-plan-platform-") as tmp,
        HubRepo.cached(Path(tmp), remote) as hub,
        HubRepo.local(checkout) as repo,
    ):
        hub.refresh()  # the platform branch and its hub refs (status, reports, heartbeats)
        commit = hub.source_commit()
        if commit is None:
            raise UserError(f"the platform repo has no branch {hub.branch!r}")
        loaded = HubSession(0).load(hub, commit)
        if loaded.result.held:
            raise UserError(f"the platform repo's head {commit[:12]} does not load: {loaded.result.held[0]}")
        team = find_team(loaded.result.spec.teams, repo, checkout, team_name)
        session = HubSession()
        session.loads = TeamLoads(loaded, team)
        state = read_cluster_state(hub, "the platform repo")
        plan = make_plan(repo, base, head, now, state, labels, session)
    note = (
        f"team {team.name!r}: planned against the platform repo's head {commit[:12]} "
        f"(its clusters, the Team's boundaries, its policies); other teams' objects are left out "
        "(their repos are not read), so a collision with another team shows only once the hub renders"
    )
    return replace(plan, notes=(note, *plan.notes, *limit_notes(plan, team)))


def limit_notes(plan: FleetPlan, team: Team) -> tuple[str, ...]:
    """A line per cluster where head puts more of the team's objects (or bytes) than its
    ``spec.limits`` allow: the hub keeps the team's objects there as they are
    (reconciler/hub/teams.py ``TeamLimits``), so the change would not reach that cluster."""
    limits = team.limits
    if not (limits.objects_per_cluster or limits.bundle_bytes) or not plan.head.ok:
        return ()
    out: list[str] = []
    for cluster, objects in sorted(plan.head.objects.items()):
        mine = [m for (key, _), m in objects.items() if team_of(plan.head.spec, key) is not None]
        size = sum(len(dump(dict(m))) for m in mine)
        if limits.objects_per_cluster is not None and len(mine) > limits.objects_per_cluster:
            why = (
                f"{len(mine)} objects, more than spec.limits.objectsPerCluster ({limits.objects_per_cluster})"
            )
        elif limits.bundle_bytes is not None and size > limits.bundle_bytes:
            why = f"{size} bytes, more than spec.limits.bundleBytes ({limits.bundle_bytes})"
        else:
            continue
        out.append(
            f"team {team.name!r} on {cluster}: {why}: the hub keeps the team's objects there as they are"
        )
    return tuple(out)
