"""The fleet-repo loader: any layout in, an indexed FleetSpec out, every problem located."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.load.files import Limits, glob_regex
from reconciler.load.fleet import load_directory
from reconciler.load.settings import Settings

CRP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: web
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: web}
"""
RP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourcePlacement
metadata:
  name: web-rp
  namespace: web
spec:
  resourceSelectors:
    - {group: "", version: v1, kind: ConfigMap, name: settings}
"""
MC = """apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{region: westeurope}}
spec: {{}}
"""
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: web\ndata:\n  a: b\n"


def _repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_objects_in_any_layout_and_multi_document_files_are_indexed_by_kind_and_identity(
    tmp_path: Path,
) -> None:
    repo = _repo(
        tmp_path,
        {
            "deep/er/placements.yml": CRP + "---\n" + RP,
            "clusters.yaml": MC.format(name="b") + "---\n" + MC.format(name="a"),
            "ns.yaml": NS + "---\n" + CM.format(name="settings"),
        },
    )
    result = load_directory(repo)
    assert result.ok, result.findings
    spec = result.spec
    assert list(spec.members) == ["a", "b"]
    assert list(spec.placements) == ["ClusterResourcePlacement/web", "ResourcePlacement/web/web-rp"]
    assert list(spec.resources) == ["/ConfigMap/web/settings", "/Namespace//web"]
    cm = spec.resources["/ConfigMap/web/settings"]
    assert (cm.origin.file, cm.origin.line, cm.api_version) == ("ns.yaml", 6, "v1")


def test_git_hidden_settings_and_non_yaml_files_are_not_objects(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            ".git/config.yaml": "not: an object\n",
            ".github/workflows/ci.yaml": "on: push\n",
            ".pre-commit-config.yaml": "repos: []\n",
            "fleetsync.yaml": "heartbeatTimeout: 2m\n",
            "README.md": "# fleet\n",
            "notes.txt": "x",
            "ns.yaml": NS,
        },
    )
    result = load_directory(repo)
    assert result.ok, result.findings
    assert list(result.spec.resources) == ["/Namespace//web"]
    assert result.spec.settings.heartbeat_timeout == timedelta(minutes=2)


def test_include_and_exclude_globs_choose_the_files_read(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            "fleet/ns.yaml": NS,
            "fleet/drafts/cm.yaml": CM.format(name="draft"),
            "other/cm.yaml": CM.format(name="other"),
            "fleetsync.yaml": "include: ['fleet/**']\nexclude: ['drafts/**', '**/drafts/**']\n",
        },
    )
    assert list(load_directory(repo).spec.resources) == ["/Namespace//web"]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.yaml", "a/b/c.yaml", True),
        ("a/*.yaml", "a/b/c.yaml", False),
        ("a/**", "a/b/c.yaml", True),
        ("a/**/c.yaml", "a/c.yaml", True),
        ("a/?.yaml", "a/bb.yaml", False),
    ],
)
def test_globs_keep_star_inside_one_segment_and_double_star_across(
    pattern: str, path: str, matches: bool
) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


def test_the_same_object_twice_is_an_error_naming_both_locations(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a.yaml": CM.format(name="x"), "b/c.yaml": NS + "---\n" + CM.format(name="x")})
    result = load_directory(repo)
    [err] = result.errors
    assert (err.file, err.line, err.field) == ("b/c.yaml", 9, "metadata.name")
    assert "/ConfigMap/web/x" in err.message and "a.yaml:1" in err.message


def test_two_fleet_objects_with_one_identity_are_duplicates_too(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a.yaml": MC.format(name="a"), "b.yaml": MC.format(name="a")})
    [err] = load_directory(repo).errors
    assert err.file == "b.yaml" and "also defined at a.yaml:1" in err.message


def test_a_kustomize_directory_contributes_its_output_and_a_base_loads_only_through_its_overlay(
    tmp_path: Path,
) -> None:
    repo = _repo(
        tmp_path,
        {
            "app/base/kustomization.yaml": "resources: [cm.yaml]\n",
            "app/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
            "app/prod/kustomization.yaml": "namespace: prod\nnamePrefix: prod-\nresources: [../base]\n",
            "app/prod/raw/ignored.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Read\n",
        },
    )
    result = load_directory(repo)
    assert result.ok, result.findings
    assert list(result.spec.resources) == ["/ConfigMap/prod/prod-web"]
    assert (
        result.spec.resources["/ConfigMap/prod/prod-web"].origin.file == "app/prod/kustomization.yaml#output"
    )


def test_findings_in_kustomize_output_name_the_kustomization(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [cm.yaml]\n",
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
        },
    )
    [err] = load_directory(repo).errors
    assert err.file == "app/kustomization.yaml#output" and err.field == "metadata.name"


def test_loading_is_deterministic(tmp_path: Path) -> None:
    files = {f"d{i % 3}/f{i}.yaml": CM.format(name=f"c{i}") for i in range(12)}
    files["bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: A}\n"
    repo = _repo(tmp_path, files)
    first, second = load_directory(repo), load_directory(repo)
    assert list(first.spec.resources) == list(second.spec.resources)
    assert first.findings == second.findings


def test_a_kubernetes_list_is_unwrapped_into_its_items(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {name: B}\n"
    result = load_directory(_repo(tmp_path, {"list.yaml": text}))
    assert list(result.spec.resources) == ["/Namespace//a"]
    [err] = result.errors
    assert (err.line, err.field) == (9, "metadata.name")


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", 1, "apiVersion", "apiVersion is missing"),
        ("apiVersion: a/b/c\nkind: X\nmetadata: {name: a}\n", 1, "apiVersion", "group/version"),
        ("apiVersion: v1\nkind: 3\nmetadata: {name: a}\n", 2, "kind", "not a string"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: []\n", 3, "metadata", "not an object"),
        ("apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n", 3, "metadata.name", "RFC 1123 label"),
        ("- 1\n- 2\n", 1, "", "must be a YAML mapping"),
        ("apiVersion: ../v1\nkind: X\nmetadata: {name: a}\n", 1, "apiVersion", "DNS-subdomain group"),
        ("apiVersion: v1\nkind: ../Secret\nmetadata: {name: a}\n", 2, "kind", "not a kind"),
    ],
)
def test_objects_without_a_usable_header_are_refused_at_the_field(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    [err] = load_directory(_repo(tmp_path, {"x.yaml": text})).errors
    assert (err.file, err.line, err.field) == ("x.yaml", line, field)
    assert message in err.message


def test_rbac_objects_may_use_colons_in_names(tmp_path: Path) -> None:
    text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 'system:viewer'}\n"
    assert load_directory(_repo(tmp_path, {"r.yaml": text})).ok


def test_a_symlink_inside_the_repo_is_read_and_one_leaving_it_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(CM.format(name="secret"))
    repo = _repo(tmp_path / "repo", {".shared/ns.yaml": NS, "real/cm.yaml": CM.format(name="a")})
    (repo / "link.yaml").symlink_to(repo / ".shared" / "ns.yaml")
    (repo / "escape.yaml").symlink_to(outside)
    (repo / "linkdir").symlink_to(repo / "real")  # in-repo directory links are not followed
    result = load_directory(repo)
    [err] = result.errors
    assert (err.file, err.line) == ("escape.yaml", 0) and "leaves the repo" in err.message
    assert list(result.spec.resources) == ["/ConfigMap/web/a", "/Namespace//web"]
    assert result.spec.resources["/Namespace//web"].origin.file == "link.yaml"


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"ns.yaml": NS})
    os.mkfifo(repo / "pipe.yaml")
    [err] = load_directory(repo).errors
    assert err.file == "pipe.yaml" and "not a regular file" in err.message


def test_files_over_the_size_cap_and_repos_over_the_total_cap_are_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a.yaml": CM.format(name="a"), "b.yaml": CM.format(name="b") + "#" * 500 + "\n"})
    [err] = load_directory(repo, limits=Limits(max_file_bytes=300)).errors
    assert err.file == "b.yaml" and "the limit is 300" in err.message
    [err] = load_directory(repo, limits=Limits(max_total_bytes=600)).errors
    assert err.file == "b.yaml" and "in total" in err.message


def test_settings_given_by_the_caller_replace_the_repos_file(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"fleetsync.yaml": "heartbeatTimeout: [\n", "ns.yaml": NS})
    result = load_directory(repo, Settings(heartbeat_timeout=timedelta(minutes=3)))
    assert result.ok and result.spec.settings.heartbeat_timeout == timedelta(minutes=3)
    assert not load_directory(repo).ok


def test_an_invalid_fleet_object_still_claims_its_identity(tmp_path: Path) -> None:
    bad = MC.format(name="a").replace("spec: {}", "spec: {heartbeatPeriodSeconds: 0}")
    result = load_directory(_repo(tmp_path, {"a.yaml": bad}))
    assert not result.ok
    assert "cluster.kubernetes-fleet.io/MemberCluster//a" in result.documents
