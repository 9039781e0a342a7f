"""A team's load confined to its boundaries, and the platform's spec merged with the teams'.

Both are pure functions over plain data, so the hub (reconciler/hub/teams.py) and a plan share
them. ``confine`` turns every object of a team repo that reaches outside the team's namespaces,
names, kinds or clusters into a *failed* object with a finding that names the rule and the team:
the refusal then takes the path every failed object takes (reconciler/load/lastgood.py), so an
object refused now keeps its last good state and a placement refused is frozen, with its
Scheduled condition saying why. ``merge`` adds each team's spec to the platform's: an identity
the platform declares too is refused for the team (the platform wins), one two teams declare is
refused for both, and every object that comes from a team is recorded in ``FleetSpec.owners``,
so the scheduler stage can keep a team's placements on the team's clusters (``team_states``).
The rules themselves are listed in reconciler/teams/__init__.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from fleetsync_contract import identity, parse_identity
from reconciler.api import registry
from reconciler.api.envelope import envelope_manifests
from reconciler.api.eviction import DisruptionBudget, Eviction
from reconciler.api.membercluster import MEMBER_NAME_LABEL, MemberCluster
from reconciler.api.override import Override, PlacementScope
from reconciler.api.placement import Placement, PlacementType
from reconciler.api.resource import Resource
from reconciler.api.staged import ApprovalRequest, StagedUpdateRun
from reconciler.errors import SCOPE_OBJECT, Finding
from reconciler.load.fleet import BUCKETS, FleetSpec, LoadResult
from reconciler.load.lastgood import slot
from reconciler.load.yamldoc import Document, dotted
from reconciler.teams.model import TEAM_GROUP, TEAM_KIND, Team

FLEET_BUCKETS = tuple(sorted(set(BUCKETS.values()) - {"members"}))  # "resources" among them
ENVELOPE_KIND = "ClusterResourceEnvelope"
S = TypeVar("S")

Why = tuple[tuple[str | int, ...], str]  # the field path and the rule broken


def owner_key(bucket: str, key: str) -> str:
    """The key of ``FleetSpec.owners`` for the object at ``key`` of the field ``bucket``."""
    return f"{bucket}/{key}"


# -- one team's load ------------------------------------------------------------------------------
def confine(team: Team, loaded: LoadResult, members: Mapping[str, MemberCluster]) -> LoadResult:
    """``loaded`` (a team repo's commit) with every object outside ``team``'s boundaries moved
    from the spec to ``failed``, each with a finding naming the rule; ``members`` are the
    platform's MemberClusters (a PickFixed placement must name clusters the team may use)."""
    refused: dict[str, tuple[Finding, ...]] = {}
    for ident, doc in loaded.documents.items():
        if ident in loaded.failed:
            continue
        bucket, key = slot(ident)
        model = getattr(loaded.spec, bucket, {}).get(key)
        if model is None:
            continue
        why = _why(team, ident, model, members)
        if why is not None:
            refused[ident] = (_finding(doc, ident, why, team),)
    if not refused:
        return loaded
    return _without(loaded, refused)


def _finding(doc: Document, ident: str, why: Why, team: Team) -> Finding:
    path, message = why
    line, column = doc.locate(path)
    _, kind, _, name = parse_identity(ident)
    return Finding(
        doc.file,
        line,
        column,
        dotted(path),
        f"team {team.name!r}: {message}",
        f"{kind}/{name}",
        scope=SCOPE_OBJECT,
    )


def _without(loaded: LoadResult, refused: Mapping[str, tuple[Finding, ...]]) -> LoadResult:
    buckets: dict[str, dict[str, Any]] = {}
    for ident in refused:
        bucket, key = slot(ident)
        items = buckets.setdefault(bucket, dict(getattr(loaded.spec, bucket)))
        items.pop(key, None)
    fields: dict[str, Any] = {b: _frozen(items) for b, items in buckets.items()}
    spec = replace(loaded.spec, **fields)
    failed = {**loaded.failed, **refused}
    found = tuple(f for fs in refused.values() for f in fs)
    return replace(
        loaded,
        spec=spec,
        findings=loaded.findings + found,
        failed=MappingProxyType({k: failed[k] for k in sorted(failed)}),
    )


def _frozen(items: Mapping[str, S]) -> Mapping[str, S]:
    return MappingProxyType({k: items[k] for k in sorted(items)})


def _why(team: Team, ident: str, model: Any, members: Mapping[str, MemberCluster]) -> Why | None:
    """The first rule ``model`` (of identity ``ident``) breaks for ``team``; None: inside."""
    group, kind, namespace, name = parse_identity(ident)
    if group == TEAM_GROUP and kind == TEAM_KIND:
        return ("kind",), "a team repo may not declare Team objects (teams are the platform repo's)"
    fleet = registry.is_fleet_group(group)
    if fleet and kind == "MemberCluster":
        return ("kind",), "a team repo may not declare MemberClusters (clusters are the platform repo's)"
    if namespace:
        if namespace not in team.namespaces:
            owned = ", ".join(team.namespaces) or "none"
            return ("metadata", "namespace"), f"namespace {namespace!r} is not the team's (it owns: {owned})"
        if not fleet and team.kinds and f"{group}/{kind}" not in team.kinds:
            return (
                "kind",
            ), f"kind {group}/{kind} is not among the team's spec.kinds ({', '.join(team.kinds)})"
    elif fleet:
        if not name.startswith(team.prefix):
            return ("metadata", "name"), f"a team's cluster-scoped {kind} must be named '{team.prefix}...'"
        if kind == ENVELOPE_KIND:
            return _envelope(team, group, kind, model)
    elif group == "" and kind == "Namespace":
        if name not in team.namespaces:
            return ("metadata", "name"), f"Namespace {name!r} is not one of the team's spec.namespaces"
    elif f"{group}/{kind}" not in team.cluster_scoped_kinds:
        return (
            "kind",
        ), f"cluster-scoped kind {group}/{kind} is not among the team's spec.clusterScopedKinds"
    return _references(team, model, members)


def _envelope(team: Team, group: str, kind: str, model: Any) -> Why | None:
    """A ClusterResourceEnvelope: allowed by name in clusterScopedKinds, and every object it
    wraps is one the team could declare itself (the envelope must not be a way around)."""
    if f"{group}/{kind}" not in team.cluster_scoped_kinds:
        return ("kind",), f"{kind} is not among the team's spec.clusterScopedKinds"
    body = model.body if isinstance(model, Resource) else {}
    for key, inner in envelope_manifests(body):
        api = str(inner.get("apiVersion", "")) if isinstance(inner, Mapping) else ""
        inner_kind = str(inner.get("kind", "")) if isinstance(inner, Mapping) else ""
        meta = inner.get("metadata") if isinstance(inner, Mapping) else None
        name = str(meta.get("name", "")) if isinstance(meta, Mapping) else ""
        inner_group = api.rpartition("/")[0]
        why = _selects(team, inner_group, inner_kind, name, False)
        if why:
            return ("data", key), f"wraps {inner_group}/{inner_kind} {name!r}: {why}"
    return None


def _references(team: Team, model: Any, members: Mapping[str, MemberCluster]) -> Why | None:
    """What a team's fleet object refers to: its own objects and clusters only."""
    if isinstance(model, Placement):
        return _placement(team, model, members)
    if isinstance(model, Override):
        return _override(team, model)
    if isinstance(model, StagedUpdateRun) and not model.namespace:
        for value, field in (
            (model.placement_name, "placementName"),
            (model.strategy_name, "stagedRolloutStrategyName"),
        ):
            if value and not value.startswith(team.prefix):
                return (
                    "spec",
                    field,
                ), f"refers to {value!r}, not one of the team's objects ('{team.prefix}...')"
    if (
        isinstance(model, ApprovalRequest)
        and not model.namespace
        and not model.update_run.startswith(team.prefix)
    ):
        return ("spec", "parentStageRollout"), f"refers to run {model.update_run!r}, not one of the team's"
    if isinstance(model, Eviction | DisruptionBudget) and not model.placement_key.split("/")[-1].startswith(
        team.prefix
    ):
        return (
            "spec",
            "placementName",
        ), f"refers to {model.placement_key!r}, not one of the team's placements"
    return None


def _selects(team: Team, group: str, kind: str, name: str | None, labelled: bool) -> str | None:
    """Why a team's placement or override may not select this cluster-scoped object (None: may)."""
    if group == "" and kind == "Namespace":
        if name is None or labelled:
            return "a team selects Namespaces by name (a label selector could reach another team's)"
        if name not in team.namespaces:
            return f"Namespace {name!r} is not one of the team's spec.namespaces"
        return None
    if f"{group}/{kind}" not in team.cluster_scoped_kinds:
        return f"cluster-scoped kind {group}/{kind} is not among the team's spec.clusterScopedKinds"
    if name is None or labelled:
        return f"a team selects {kind} objects by name (a label selector could reach another team's)"
    return None


def _placement(team: Team, p: Placement, members: Mapping[str, MemberCluster]) -> Why | None:
    if not p.namespaced:
        for i, s in enumerate(p.resource_selectors):
            why = _selects(team, s.group, s.kind, s.name, s.label_selector is not None)
            if why:
                return ("spec", "resourceSelectors", i), why
    policy = p.effective_policy
    if policy.placement_type == PlacementType.PICK_FIXED:
        for i, cluster in enumerate(policy.cluster_names):
            member = members.get(cluster)
            if member is not None and not team.selects(_labels(member)):
                return (
                    ("spec", "policy", "clusterNames", i),
                    f"cluster {cluster!r} is outside the team's spec.clusterSelector",
                )
    return None


def _labels(member: MemberCluster) -> Mapping[str, str]:
    return {**member.labels, MEMBER_NAME_LABEL: member.name}


def _override(team: Team, o: Override) -> Why | None:
    ref = o.placement
    if ref is not None and ref.scope == PlacementScope.CLUSTER and not ref.name.startswith(team.prefix):
        return ("spec", "placement", "name"), f"refers to placement {ref.name!r}, not one of the team's"
    if not o.namespaced:
        for i, s in enumerate(o.selectors):
            why = _selects(team, s.group, s.kind, s.name, False)
            if why:
                return ("spec", "resourceSelectors", i), why
    return None


# -- the platform and the teams together ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Merged:
    spec: FleetSpec
    refused: Mapping[str, tuple[Finding, ...]]  # team -> the findings of its objects left out


def merge(platform: FleetSpec, teams: Sequence[tuple[Team, FleetSpec]]) -> Merged:
    """``platform`` with every team's objects added; collisions and cross-team selections
    refused (module docstring). Members, settings and teams are the platform's alone."""
    claims: dict[tuple[str, str], list[Team]] = {}
    for team, spec in teams:
        for bucket in FLEET_BUCKETS:
            for key in getattr(spec, bucket):
                claims.setdefault((bucket, key), []).append(team)
    by_name = {t.name: s for t, s in teams}
    buckets = {b: dict(getattr(platform, b)) for b in FLEET_BUCKETS}
    owners: dict[str, str] = {}
    refused: dict[str, list[Finding]] = {t.name: [] for t, _ in teams}
    for (bucket, key), claimants in sorted(claims.items()):
        model = getattr(by_name[claimants[0].name], bucket)[key]
        if key in buckets[bucket]:
            for team in claimants:
                refused[team.name].append(_collision(team, bucket, key, by_name, (), platform))
            continue
        if len(claimants) > 1:
            for team in claimants:
                others = tuple(o.name for o in claimants if o is not team)
                refused[team.name].append(_collision(team, bucket, key, by_name, others, None))
            continue
        buckets[bucket][key] = model
        owners[owner_key(bucket, key)] = claimants[0].name
    _refuse_foreign_selections(buckets, owners, refused, {t.name: t for t, _ in teams})
    fields: dict[str, Any] = {b: _frozen(items) for b, items in buckets.items()}
    spec = replace(platform, owners=_frozen(owners), **fields)
    return Merged(spec, MappingProxyType({t: tuple(fs) for t, fs in sorted(refused.items())}))


def _origin(model: Any) -> str:
    origin = getattr(model, "origin", None)
    return str(origin) if origin is not None else "?"


PLATFORM_REPO = "the platform repo"


@dataclass(frozen=True, slots=True)
class Collision(Finding):
    """A team object someone else declares too. Who else is a field, not only text: the
    platform's status names them (team and file), a team's own view must not
    (reconciler/status/teamview.py), and ``private`` says which without reading the message."""

    team: str = ""
    bucket: str = ""
    others: tuple[str, ...] = ()  # the other teams that declare it; () : the platform repo does

    def private(self) -> Finding:
        """This finding as the team may read it: "another team" or "the platform repo", no
        names and no files of theirs."""
        who = "another team" if self.others else PLATFORM_REPO
        message = _collision_message(self.team, self.bucket, self.object, who)
        return Finding(
            self.file, self.line, self.column, self.field, message, self.object, self.severity, self.scope
        )


def _collision_message(team: str, bucket: str, key: str, who: str) -> str:
    return f"team {team!r}: {bucket} {key!r} is also declared by {who}: the object is refused"


def _collision(
    team: Team,
    bucket: str,
    key: str,
    specs: Mapping[str, FleetSpec],
    others: tuple[str, ...],
    platform: FleetSpec | None,
) -> Collision:
    """``others``: the other teams declaring ``key`` (none: ``platform`` declares it)."""
    model = getattr(specs[team.name], bucket)[key]
    origin = getattr(model, "origin", None)
    if platform is not None:
        who = f"{PLATFORM_REPO} ({_origin(getattr(platform, bucket)[key])})"
    else:
        who = ", ".join(f"team {o!r} ({_origin(getattr(specs[o], bucket)[key])})" for o in others)
    return Collision(
        origin.file if origin else "",
        origin.line if origin else 0,
        1,
        "metadata.name",
        _collision_message(team.name, bucket, key, who),
        key,
        scope=SCOPE_OBJECT,
        team=team.name,
        bucket=bucket,
        others=others,
    )


def _refuse_foreign_selections(
    buckets: dict[str, dict[str, Any]],
    owners: dict[str, str],
    refused: dict[str, list[Finding]],
    teams: Mapping[str, Team],
) -> None:
    """A team placement or override that names a cluster-scoped object someone else declares is
    refused: it would place or change the platform's or another team's object."""
    resources = buckets["resources"]
    for bucket, selectors in (("placements", _placement_targets), ("cluster_overrides", _override_targets)):
        for key in list(buckets[bucket]):
            team = owners.get(owner_key(bucket, key))
            if team is None:
                continue
            model = buckets[bucket][key]
            for target in selectors(model):
                if target in resources and owners.get(owner_key("resources", target)) != team:
                    del buckets[bucket][key]
                    del owners[owner_key(bucket, key)]
                    refused[team].append(
                        Finding(
                            model.origin.file,
                            model.origin.line,
                            1,
                            "spec.resourceSelectors",
                            f"team {teams[team].name!r}: selects {target}, which is not the team's object: refused",
                            key,
                            scope=SCOPE_OBJECT,
                        )
                    )
                    break


def _placement_targets(p: Placement) -> Iterable[str]:
    if p.namespaced:
        return ()
    return [
        identity(s.group, s.kind, "", s.name)
        for s in p.resource_selectors
        if s.name and s.kind != "Namespace"
    ]


def _override_targets(o: Override) -> Iterable[str]:
    return [identity(s.group, s.kind, "", s.name) for s in o.selectors if s.kind != "Namespace"]


# -- the scheduler's view -------------------------------------------------------------------------
def team_of(spec: FleetSpec, placement_key: str) -> Team | None:
    """The team a placement comes from (None: the platform's)."""
    name = spec.owners.get(owner_key("placements", placement_key))
    return spec.teams.get(name) if name is not None else None


class Labelled(Protocol):  # the part of a ClusterState this module reads
    @property
    def labels(self) -> Mapping[str, str]: ...


L = TypeVar("L", bound=Labelled)


def team_states(spec: FleetSpec, placement_key: str, states: Sequence[L]) -> Sequence[L]:
    """The clusters a placement may be scheduled onto: a team's placement sees only those its
    team's clusterSelector matches (as a ClusterSet narrows KubeFleet's scheduler)."""
    team = team_of(spec, placement_key)
    if team is None or team.cluster_selector is None:
        return states
    return [s for s in states if team.selects(s.labels)]
