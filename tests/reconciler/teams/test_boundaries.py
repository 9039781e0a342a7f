"""A team's objects confined to its boundaries, object by object, and merged with the platform's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fleetsync_contract import identity
from reconciler.errors import SCOPE_OBJECT
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.teams.boundaries import confine, merge, owner_key, team_states
from reconciler.teams.model import Team
from tests.support.fleethelpers import member
from tests.support.teamfixtures import configmap, namespace, team_crp, team_files, team_yaml

P = "placement.kubernetes-fleet.io"
CLUSTERS = {"eu-1": "europe", "us-1": "america"}


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def platform(tmp_path: Path, extra: dict[str, str] | None = None, **team_kw: Any) -> LoadResult:
    files = {f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()}
    for name in ("team-a", "team-b"):
        kw = dict(team_kw) if name == "team-a" else {}
        files[f"teams/{name}.yaml"] = team_yaml(name, f"/srv/{name}.git", [name], **kw)
    files.update(extra or {})
    loaded = load_directory(write(tmp_path / "platform", files))
    assert not loaded.held, loaded.held
    return loaded


def team_load(tmp_path: Path, name: str, files: dict[str, str]) -> LoadResult:
    return load_directory(write(tmp_path / name, files))


def confined(tmp_path: Path, files: dict[str, str], **team_kw: Any) -> tuple[LoadResult, Team]:
    plat = platform(tmp_path, None, **team_kw)
    team = plat.spec.teams["team-a"]
    return confine(team, team_load(tmp_path, "team-a", files), plat.spec.members), team


def test_a_well_behaved_team_repo_passes_unchanged(tmp_path: Path) -> None:
    out, _ = confined(tmp_path, team_files("team-a"))
    assert not out.failed and "ClusterResourcePlacement/team-a-app" in out.spec.placements


@pytest.mark.parametrize(
    ("files", "ident", "rule"),
    [
        (  # a namespaced object in another team's namespace
            {"x.yaml": configmap("steal", "team-b")},
            identity("", "ConfigMap", "team-b", "steal"),
            "namespace 'team-b' is not the team's",
        ),
        (  # a cluster-scoped placement not named <team>-...
            {"ns.yaml": namespace("team-a"), "p.yaml": team_crp("web", "team-a")},
            identity(P, "ClusterResourcePlacement", "", "web"),
            "must be named 'team-a-...'",
        ),
        (  # a placement that selects another team's namespace
            {"p.yaml": team_crp("team-a-steal", "team-b")},
            identity(P, "ClusterResourcePlacement", "", "team-a-steal"),
            "Namespace 'team-b' is not one of the team's",
        ),
        (  # a Namespace object the team does not own
            {"ns.yaml": namespace("kube-system")},
            identity("", "Namespace", "", "kube-system"),
            "not one of the team's spec.namespaces",
        ),
        (  # a cluster-scoped kind it is not allowed
            {
                "cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n"
                "  name: admin\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
                "subjects: [{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}]\n"
            },
            identity("rbac.authorization.k8s.io", "ClusterRoleBinding", "", "admin"),
            "not among the team's spec.clusterScopedKinds",
        ),
        (  # a MemberCluster
            {"mc.yaml": member("rogue", "europe")},
            identity("cluster.kubernetes-fleet.io", "MemberCluster", "", "rogue"),
            "may not declare MemberClusters",
        ),
        (  # a PickFixed naming a cluster outside the team's selector
            {"ns.yaml": namespace("team-a"), "p.yaml": team_crp("team-a-us", "team-a", clusters=["us-1"])},
            identity(P, "ClusterResourcePlacement", "", "team-a-us"),
            "cluster 'us-1' is outside the team's spec.clusterSelector",
        ),
    ],
)
def test_an_object_outside_the_boundary_is_refused_alone_naming_the_rule_and_team(
    tmp_path: Path, files: dict[str, str], ident: str, rule: str
) -> None:
    good = team_files("team-a")
    out, _ = confined(tmp_path, {**good, **files}, selector={"region": "europe"})
    (finding,) = out.failed[ident]
    assert rule in finding.message and "team 'team-a'" in finding.message
    assert finding.scope == SCOPE_OBJECT and finding.line > 0
    assert not out.held  # the rest of the team's commit renders
    assert "ClusterResourcePlacement/team-a-app" in out.spec.placements
    assert identity("", "ConfigMap", "team-a", "config") in out.spec.resources


def test_kinds_restrict_plain_namespaced_objects(tmp_path: Path) -> None:
    files = {
        **team_files("team-a"),
        "secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: team-a}\n",
    }
    out, _ = confined(tmp_path, files, kinds=["/ConfigMap"])
    assert list(out.failed) == [identity("", "Secret", "team-a", "s")]
    assert (
        "kind /Secret is not among the team's spec.kinds"
        in out.failed[identity("", "Secret", "team-a", "s")][0].message
    )


def test_an_override_that_reaches_another_teams_namespace_is_refused(tmp_path: Path) -> None:
    cro = f"""apiVersion: {P}/v1beta1
kind: ClusterResourceOverride
metadata: {{name: team-a-touch}}
spec:
  clusterResourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: team-b}}
  policy:
    overrideRules:
      - clusterSelector: {{clusterSelectorTerms: []}}
        overrideType: Delete
"""
    out, _ = confined(tmp_path, {**team_files("team-a"), "cro.yaml": cro})
    assert (
        "Namespace 'team-b'"
        in out.failed[identity(P, "ClusterResourceOverride", "", "team-a-touch")][0].message
    )


def test_merge_lets_the_platform_win_and_refuses_both_teams_of_a_collision(tmp_path: Path) -> None:
    clash = team_crp("team-a-web", "team-a")
    plat = platform(
        tmp_path,
        extra={"p.yaml": team_crp("team-a-app", "team-a")},
        cluster_kinds=["rbac.authorization.k8s.io/ClusterRole"],
    )
    a, b = plat.spec.teams["team-a"], plat.spec.teams["team-b"]
    role = (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"
    )
    team_a = team_load(tmp_path, "a", {**team_files("team-a"), "w.yaml": clash, "role.yaml": role})
    team_b = team_load(tmp_path, "b", {**team_files("team-b"), "role.yaml": role})
    b = Team(**{**{s: getattr(b, s) for s in b.__slots__}, "cluster_scoped_kinds": a.cluster_scoped_kinds})
    merged = merge(plat.spec, [(a, confine(a, team_a, {}).spec), (b, confine(b, team_b, {}).spec)])
    spec = merged.spec
    # the platform declares team-a-app: the team's is refused, the platform's stays
    assert spec.placements["ClusterResourcePlacement/team-a-app"].origin.file == "p.yaml"
    assert any("also declared by the platform repo" in f.message for f in merged.refused["team-a"])
    # both teams declare ClusterRole reader: both refused, each naming the other's file
    role_id = identity("rbac.authorization.k8s.io", "ClusterRole", "", "reader")
    assert role_id not in spec.resources
    assert any("team 'team-b' (role.yaml" in f.message for f in merged.refused["team-a"])
    assert any("team 'team-a' (role.yaml" in f.message for f in merged.refused["team-b"])
    # the rest is merged and owned
    assert spec.owners[owner_key("placements", "ClusterResourcePlacement/team-a-web")] == "team-a"
    assert spec.owners[owner_key("placements", "ClusterResourcePlacement/team-b-app")] == "team-b"
    assert owner_key("placements", "ClusterResourcePlacement/team-a-app") not in spec.owners


class _State:
    def __init__(self, name: str, labels: dict[str, str]):
        self.name, self.labels = name, labels


def test_a_team_placement_sees_only_the_clusters_its_selector_matches(tmp_path: Path) -> None:
    plat = platform(tmp_path, selector={"region": "europe"})
    a = plat.spec.teams["team-a"]
    merged = merge(plat.spec, [(a, team_load(tmp_path, "a", team_files("team-a")).spec)]).spec
    states = [_State("eu-1", {"region": "europe"}), _State("us-1", {"region": "america"})]
    assert [s.name for s in team_states(merged, "ClusterResourcePlacement/team-a-app", states)] == ["eu-1"]
    assert len(team_states(merged, "ClusterResourcePlacement/platform", states)) == 2


def _envelope(inner_kind: str, inner_name: str) -> str:
    return f"""apiVersion: {P}/v1beta1
kind: ClusterResourceEnvelope
metadata: {{name: team-a-env}}
data:
  obj.yaml:
    apiVersion: rbac.authorization.k8s.io/v1
    kind: {inner_kind}
    metadata: {{name: {inner_name}}}
    rules: []
"""


def test_a_cluster_envelope_may_wrap_only_what_the_team_could_declare_itself(tmp_path: Path) -> None:
    allowed = [f"{P}/ClusterResourceEnvelope", "rbac.authorization.k8s.io/ClusterRole"]
    env = identity(P, "ClusterResourceEnvelope", "", "team-a-env")
    ok, _ = confined(tmp_path / "ok", {"e.yaml": _envelope("ClusterRole", "reader")}, cluster_kinds=allowed)
    assert env not in ok.failed and env in ok.spec.resources
    bad, _ = confined(
        tmp_path / "bad", {"e.yaml": _envelope("ClusterRoleBinding", "admin")}, cluster_kinds=allowed
    )
    assert "wraps rbac.authorization.k8s.io/ClusterRoleBinding 'admin'" in bad.failed[env][0].message
    plain, _ = confined(tmp_path / "plain", {"e.yaml": _envelope("ClusterRole", "reader")})
    assert (
        "ClusterResourceEnvelope is not among the team's spec.clusterScopedKinds"
        in plain.failed[env][0].message
    )
