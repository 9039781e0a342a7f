"""``fleetsync team add|list|remove``: the platform repo's teams/NAME.yaml, written for a pull request.

What a platform engineer relies on: the file says what the flags said (and the hub's format,
docs/teams.md), a URL with a token never reaches the file or the terminal, two teams never own
one namespace, the cluster's own namespaces belong to no team, and removing a team says how its
objects' prune is confirmed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.labelselector import SelectorError, parse_selector
from fleetsync.teamfile import read_team
from fleetsync_contract.canonical import load
from reconciler.load.fleet import load_directory
from tests.support.teamfixtures import team_yaml

TOKEN = "ghp-Team-T0ken-5e1f0c"


def team(*args: str, at: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["team", *args, "--dir", str(at)])
    return result.exit_code, result.stdout, result.stderr


def add(at: Path, name: str, *extra: str, namespaces: str | None = None) -> tuple[int, str, str]:
    return team(
        "add",
        name,
        "--repo",
        f"git://127.0.0.1:9418/{name}.git",
        "--namespaces",
        namespaces or name,
        *extra,
        at=at,
    )


def test_add_writes_the_team_file_the_hub_reads(tmp_path: Path) -> None:
    code, out, _ = add(
        tmp_path,
        "team-a",
        "--branch",
        "release",
        "--path",
        "fleet/",
        "--clusters",
        "environment=staging,region in (eu,us)",
        "--kinds",
        "apps/Deployment,ConfigMap",
        "--cluster-scoped-kinds",
        "rbac.authorization.k8s.io/ClusterRole",
        "--objects-per-cluster",
        "500",
        "--bundle-bytes",
        "1048576",
        namespaces="team-a, team-a-staging",
    )
    assert code == 0
    doc = load((tmp_path / "teams" / "team-a.yaml").read_bytes())
    assert doc == {
        "apiVersion": "fleetsync.io/v1alpha1",
        "kind": "Team",
        "metadata": {"name": "team-a"},
        "spec": {
            "repo": {"url": "git://127.0.0.1:9418/team-a.git", "branch": "release", "path": "fleet"},
            "namespaces": ["team-a", "team-a-staging"],
            "clusterSelector": {
                "matchLabels": {"environment": "staging"},
                "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu", "us"]}],
            },
            "kinds": ["apps/Deployment", "/ConfigMap"],  # the hub's form of a core kind
            "clusterScopedKinds": ["rbac.authorization.k8s.io/ClusterRole"],
            "limits": {"objectsPerCluster": 500, "bundleBytes": 1048576},
        },
    }
    assert read_team(tmp_path / "teams" / "team-a.yaml").namespaces == ("team-a", "team-a-staging")
    assert "wrote teams/team-a.yaml" in out and "fleetsync plan" in out and "git switch -c" in out


def test_without_clusters_the_team_may_target_every_cluster_and_place_every_namespaced_kind(
    tmp_path: Path,
) -> None:
    assert add(tmp_path, "team-a")[0] == 0
    spec = load((tmp_path / "teams" / "team-a.yaml").read_bytes())["spec"]
    assert "clusterSelector" not in spec and spec["kinds"] == [] and spec["repo"]["branch"] == "main"


@pytest.mark.parametrize(
    "url",
    [
        f"https://bot:{TOKEN}@git.example.com/team-a.git",
        f"https://{TOKEN}@git.example.com/team-a.git",
        f"ssh://git:{TOKEN}@git.example.com/team-a.git",
    ],
)
def test_a_url_with_a_password_or_token_is_refused_and_never_printed(tmp_path: Path, url: str) -> None:
    result = CliRunner().invoke(
        app, ["team", "add", "team-a", "--repo", url, "--namespaces", "team-a", "--dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "credentials" in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert not (tmp_path / "teams").exists()


@pytest.mark.parametrize(
    "url", ["http://git.example.com/a.git", "ftp://host/a", "relative/path", "-uhoh", "file:///srv/a.git"]
)
def test_a_url_of_another_scheme_is_a_usage_error(tmp_path: Path, url: str) -> None:
    code, _, err = team("add", "team-a", "--repo", url, "--namespaces", "team-a", at=tmp_path)
    assert code == 2 and "git://" in err


@pytest.mark.parametrize(
    "url",
    ["ssh://git@git.example.com/team-a.git", "https://git.example.com/team-a.git", "/srv/git/team-a.git"],
)
def test_urls_of_the_format_are_accepted(tmp_path: Path, url: str) -> None:
    assert team("add", "team-a", "--repo", url, "--namespaces", "team-a", at=tmp_path)[0] == 0


def test_a_namespace_another_team_owns_is_refused(tmp_path: Path) -> None:
    assert add(tmp_path, "team-a", namespaces="shared,team-a")[0] == 0
    code, _, err = add(tmp_path, "team-b", namespaces="team-b,shared")
    assert code == 2
    assert "'shared' is owned by team 'team-a'" in err and "teams/team-b.yaml" in err
    assert not (tmp_path / "teams" / "team-b.yaml").exists()


@pytest.mark.parametrize(
    "namespace",
    ["kube-system", "kube-public", "default", "kube-node-lease", "fleet-system", "fleet-member-a"],
)
def test_the_clusters_own_namespaces_belong_to_no_team(tmp_path: Path, namespace: str) -> None:
    code, _, err = add(tmp_path, "team-a", namespaces=f"team-a,{namespace}")
    assert code == 2 and namespace in err


@pytest.mark.parametrize(
    ("name", "namespaces", "extra"),
    [
        ("Team_A", "team-a", []),
        ("team-a", "", []),
        ("team-a", "Team-A", []),
        ("team-a", "team-a,team-a", []),
        ("team-a", "team-a", ["--kinds", "deployments"]),
        ("team-a", "team-a", ["--branch", "-x"]),
        ("team-a", "team-a", ["--path", "../elsewhere"]),
        ("team-a", "team-a", ["--clusters", "region in (eu"]),
        ("team-a", "team-a", ["--clusters", ""]),
        ("team-a", "team-a", ["--objects-per-cluster", "0"]),
    ],
)
def test_invalid_flags_are_usage_errors_and_write_nothing(
    tmp_path: Path, name: str, namespaces: str, extra: list[str]
) -> None:
    code = team("add", name, "--repo", "/srv/a.git", "--namespaces", namespaces, *extra, at=tmp_path)[0]
    assert code == 2
    assert not (tmp_path / "teams").exists()


def test_an_existing_team_is_replaced_only_with_force(tmp_path: Path) -> None:
    assert add(tmp_path, "team-a")[0] == 0
    code, _, err = add(tmp_path, "team-a", namespaces="team-a,team-a-prod")
    assert code == 2 and "--force" in err
    assert add(tmp_path, "team-a", "--force", namespaces="team-a,team-a-prod")[0] == 0  # its own namespaces
    assert read_team(tmp_path / "teams" / "team-a.yaml").namespaces == ("team-a", "team-a-prod")


def test_a_missing_checkout_is_a_usage_error(tmp_path: Path) -> None:
    assert add(tmp_path / "missing", "team-a")[0] == 2


def test_list_prints_every_team_as_a_table_or_a_list_document(tmp_path: Path) -> None:
    add(tmp_path, "team-b", "--clusters", "env=prod")
    add(tmp_path, "team-a")
    code, out, _ = team("list", at=tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "REPO", "BRANCH", "NAMESPACES", "CLUSTERS", "KINDS"]
    assert [line.split()[0] for line in lines[1:]] == ["team-a", "team-b"]
    assert lines[2].split()[4] == "env=prod" and lines[1].split()[4] == "*"
    code, out, _ = team("list", "-o", "json", at=tmp_path)
    listing: dict[str, Any] = json.loads(out)
    assert code == 0 and [t["metadata"]["name"] for t in listing["items"]] == ["team-a", "team-b"]


def test_list_names_a_team_file_that_does_not_parse_and_exits_1(tmp_path: Path) -> None:
    add(tmp_path, "team-a")
    (tmp_path / "teams" / "team-b.yaml").write_text("apiVersion: fleetsync.io/v1alpha1\nkind: Team\n")
    (tmp_path / "teams" / "team-c.yaml").write_text(
        (tmp_path / "teams" / "team-a.yaml").read_text()  # metadata.name is team-a
    )
    code, out, err = team("list", at=tmp_path)
    assert code == 1
    assert "team-a" in out and "teams/team-b.yaml" in err and "teams/team-c.yaml" in err


def test_add_refuses_while_a_team_file_cannot_be_read(tmp_path: Path) -> None:
    """The namespaces a broken file owns cannot be told, so no new team may claim any."""
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "team-x.yaml").write_text("{ not yaml")
    code, _, err = add(tmp_path, "team-a")
    assert code == 2 and "teams/team-x.yaml" in err


def test_remove_deletes_the_file_and_says_how_the_prune_is_confirmed(tmp_path: Path) -> None:
    add(tmp_path, "team-a")
    code, out, _ = team("remove", "team-a", at=tmp_path)
    assert code == 0
    assert not (tmp_path / "teams" / "team-a.yaml").exists()
    assert "Fleetsync-Allow-Prune" in out and "pruneMaxShare" in out and "fleetsync plan" in out


def test_removing_a_team_that_does_not_exist_is_a_finding(tmp_path: Path) -> None:
    assert team("remove", "team-a", at=tmp_path)[0] == 1
    assert team("remove", "../etc", at=tmp_path)[0] == 2


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("env=prod", {"matchLabels": {"env": "prod"}}),
        (
            "env==prod,tier",
            {"matchLabels": {"env": "prod"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        ),
        ("!legacy", {"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}),
        ("env!=prod", {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}),
        (
            "region in (us, eu),zone notin (a)",
            {
                "matchExpressions": [
                    {"key": "region", "operator": "In", "values": ["eu", "us"]},
                    {"key": "zone", "operator": "NotIn", "values": ["a"]},
                ]
            },
        ),
        ("fleet.io/tier=gold", {"matchLabels": {"fleet.io/tier": "gold"}}),
    ],
)
def test_the_cluster_selector_reads_like_kubectls(text: str, selector: dict[str, Any]) -> None:
    assert parse_selector(text) == selector


@pytest.mark.parametrize(
    "text", ["env=a,env=b", "region in ()", "a,,b", "bad key=x", "env=no way", "a in ((b))"]
)
def test_a_selector_kubectl_would_refuse_is_refused(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


@pytest.mark.parametrize(
    ("spec_text", "named"),
    [
        ("namespace: [team-b]", 'unknown field "spec.namespace"'),
        ("clusterSelector: {matchExpressions: [{key: env, operator: Near}]}", "operator"),
        ("clusterSelector: {matchExpressions: [oops]}", "matchExpressions[0]"),
        ("clusterSelector: {matchLabels: {env: [a]}}", "matchLabels"),
        ("limits: {objects: 5}", 'unknown field "spec.limits.objects"'),
    ],
)
def test_list_names_the_field_a_hand_edited_team_file_gets_wrong(
    tmp_path: Path, spec_text: str, named: str
) -> None:
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "team-b.yaml").write_text(
        "apiVersion: fleetsync.io/v1alpha1\nkind: Team\nmetadata: {name: team-b}\n"
        f"spec:\n  repo: {{url: /srv/b.git}}\n  namespaces: [team-b]\n  {spec_text}\n"
    )
    code, _, err = team("list", at=tmp_path)
    assert code == 1 and "teams/team-b.yaml" in err and named in err


def test_every_file_team_add_writes_loads_in_the_hubs_loader_without_findings(tmp_path: Path) -> None:
    assert (
        add(tmp_path, "team-a", "--clusters", "env=prod,region in (eu,us),!legacy", "--path", "fleet")[0] == 0
    )
    assert add(tmp_path, "team-b", "--kinds", "apps/Deployment,Service", "--objects-per-cluster", "9")[0] == 0
    assert add(tmp_path, "team-c", "--cluster-scoped-kinds", "ClusterRole", "--bundle-bytes", "4096")[0] == 0
    loaded = load_directory(tmp_path)
    assert loaded.findings == ()
    assert sorted(loaded.spec.teams) == ["team-a", "team-b", "team-c"]
    assert loaded.spec.teams["team-c"].cluster_scoped_kinds == ("/ClusterRole",)
    assert loaded.spec.teams["team-a"].selects({"env": "prod", "region": "eu"})
    assert not loaded.spec.teams["team-a"].selects({"env": "prod", "region": "eu", "legacy": "1"})


@pytest.mark.parametrize(
    ("url", "namespaces"),
    [
        ("git://127.0.0.1:9418/team-a.git", ["team-a", "fleet-system"]),  # fleet-* is KubeFleet's
        ("git://127.0.0.1:9418/team-a.git", ["kube-node-lease"]),
        ("git://bot@127.0.0.1:9418/team-a.git", ["team-a"]),  # a user name may be a token
        (f"https://git.example.com/team-a.git?private_token={TOKEN}", ["team-a"]),
        ("https://git.example.com/a b.git", ["team-a"]),
    ],
)
def test_a_team_file_the_hub_refuses_is_refused_by_team_add(
    tmp_path: Path, url: str, namespaces: list[str]
) -> None:
    by_hand = tmp_path / "by-hand"
    (by_hand / "teams").mkdir(parents=True)
    (by_hand / "teams" / "team-a.yaml").write_text(team_yaml("team-a", url, namespaces))
    hub = load_directory(by_hand)
    assert not hub.ok and not hub.spec.teams  # the hub holds the platform commit
    code, out, err = team("add", "team-a", "--repo", url, "--namespaces", ",".join(namespaces), at=tmp_path)
    assert code == 2 and not (tmp_path / "teams").exists()
    assert "teams/team-a.yaml:" in err  # the hub's located finding
    assert TOKEN not in out + err


def test_validate_checks_the_team_files_of_a_platform_repo(tmp_path: Path) -> None:
    assert add(tmp_path, "team-a")[0] == 0
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 0 and "0 error(s), 0 warning(s) in 1 object(s)" in result.stdout
    (tmp_path / "teams" / "team-b.yaml").write_text(
        team_yaml("team-b", "/srv/b.git", ["team-b"]).replace("  namespaces:", "  namespace:")
    )
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "no schema" not in result.stdout
    assert (
        'teams/team-b.yaml:9:3: Team/team-b: spec.namespace: unknown field "spec.namespace"' in result.stdout
    )
