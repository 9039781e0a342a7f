"""How far an error reaches (object / file / repo), and what the hub keeps from the last good commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsync_contract import identity
from reconciler.errors import SCOPE_FILE, SCOPE_OBJECT, SCOPE_REPO
from reconciler.load.files import Limits
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.load.lastgood import keep_last_good

GROUP = "placement.kubernetes-fleet.io"
CRP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: {name}
spec:
  resourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: web}}
  revisionHistoryLimit: {limit}
"""
CRO = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourceOverride
metadata:
  name: cro
spec:
  placement: {{name: web}}
  clusterResourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: web}}
  policy:
    overrideRules:
      - clusterSelector: {{clusterSelectorTerms: []}}
        overrideType: {kind}
"""
MC = """apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: a
spec: {heartbeatPeriodSeconds: %s}
"""
NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: web\n"
WEB = identity(GROUP, "ClusterResourcePlacement", "", "web")
CRO_ID = identity(GROUP, "ClusterResourceOverride", "", "cro")


def load(root: Path, files: dict[str, str], limits: Limits | None = None) -> LoadResult:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_directory(root, limits=limits) if limits else load_directory(root)


GOOD = {"ns.yaml": NS, "web.yaml": CRP.format(name="web", limit=10)}


@pytest.mark.parametrize(
    ("files", "limits", "failed", "broken", "scope"),
    [
        ({"web.yaml": CRP.format(name="web", limit=0)}, None, [WEB], [], SCOPE_OBJECT),
        ({"cro.yaml": CRO.format(kind="Replace")}, None, [CRO_ID], [], SCOPE_OBJECT),
        (  # one bad object of two in a file: the other is loaded, the file is not broken
            {"web.yaml": CM.format(name="ok") + "---\n" + CRP.format(name="web", limit=0)},
            None,
            [WEB],
            [],
            SCOPE_OBJECT,
        ),
        ({"bad.yaml": "kind: [unclosed\n"}, None, [], ["bad.yaml"], SCOPE_FILE),
        ({"bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"}, None, [], ["bad.yaml"], SCOPE_FILE),
        ({"bad.yaml": "- a list\n"}, None, [], ["bad.yaml"], SCOPE_FILE),
        ({"big.yaml": CM.format(name="x" * 400)}, Limits(max_file_bytes=300), [], ["big.yaml"], SCOPE_FILE),
        ({"fleetsync.yaml": "include: [unclosed\n"}, None, [], [], SCOPE_REPO),
        (
            {"mc.yaml": MC % 0},
            None,
            [identity("cluster.kubernetes-fleet.io", "MemberCluster", "", "a")],
            [],
            SCOPE_REPO,
        ),
        (
            {"a.yaml": CM.format(name="a"), "b.yaml": CM.format(name="b")},
            Limits(max_files=3),
            [],
            [],
            SCOPE_REPO,
        ),
        ({"c.yaml": CM.format(name="c") * 8}, Limits(max_total_bytes=400), [], [], SCOPE_REPO),
    ],
)
def test_every_error_is_classified_by_how_far_it_reaches(
    tmp_path: Path,
    files: dict[str, str],
    limits: Limits | None,
    failed: list[str],
    broken: list[str],
    scope: str,
) -> None:
    result = load(tmp_path, {**GOOD, **files}, limits)
    assert result.errors and {f.scope for f in result.errors} == {scope}
    assert list(result.failed) == failed
    assert list(result.broken) == broken
    assert bool(result.held) == (scope == SCOPE_REPO)
    if "---" in files.get("web.yaml", ""):
        assert identity("", "ConfigMap", "web", "ok") in result.spec.resources


def loader(results: dict[str, LoadResult]):  # type: ignore[no-untyped-def]
    return lambda commit: results.get(commit)


def test_a_failed_override_keeps_its_last_good_definition_and_says_where_it_came_from(tmp_path: Path) -> None:
    base = load(tmp_path / "1", {**GOOD, "cro.yaml": CRO.format(kind="Delete")})
    head = load(tmp_path / "2", {**GOOD, "cro.yaml": CRO.format(kind="Replace")})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    assert isolated.spec.cluster_overrides["cro"] == base.spec.cluster_overrides["cro"]
    assert dict(isolated.kept) == {CRO_ID: "c1"} and not isolated.frozen and not isolated.held


def test_a_failed_placement_is_frozen_at_its_last_good_definition(tmp_path: Path) -> None:
    base = load(tmp_path / "1", GOOD)
    head = load(tmp_path / "2", {**GOOD, "web.yaml": CRP.format(name="web", limit=0)})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    key = "ClusterResourcePlacement/web"
    assert isolated.spec.placements[key] == base.spec.placements[key]
    [why] = isolated.frozen[key]
    assert why.field == "spec.revisionHistoryLimit"


def test_an_object_that_was_never_good_is_not_there_and_nothing_is_kept(tmp_path: Path) -> None:
    base = load(tmp_path / "1", GOOD)
    head = load(tmp_path / "2", {**GOOD, "new.yaml": CRP.format(name="new", limit=0)})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    assert "ClusterResourcePlacement/new" not in isolated.spec.placements and not isolated.kept


def test_a_broken_file_keeps_its_objects_unless_the_commit_defines_them_elsewhere(tmp_path: Path) -> None:
    base = load(tmp_path / "1", {**GOOD, "cms.yaml": CM.format(name="a") + "---\n" + CM.format(name="b")})
    head = load(tmp_path / "2", {**GOOD, "cms.yaml": "kind: [unclosed\n", "moved.yaml": CM.format(name="b")})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    a, b = identity("", "ConfigMap", "web", "a"), identity("", "ConfigMap", "web", "b")
    assert isolated.spec.resources[a] == base.spec.resources[a]
    assert isolated.spec.resources[b].origin.file == "moved.yaml"
    assert dict(isolated.kept) == {a: "c1"}


def test_an_object_kept_before_comes_from_the_commit_it_was_kept_from(tmp_path: Path) -> None:
    first = load(tmp_path / "1", {**GOOD, "cro.yaml": CRO.format(kind="Delete")})
    broken = {**GOOD, "cro.yaml": CRO.format(kind="Replace")}
    second, third = load(tmp_path / "2", broken), load(tmp_path / "3", broken)
    isolated = keep_last_good(third, "c2", {CRO_ID: "c1"}, loader({"c1": first, "c2": second}))
    assert isolated.spec.cluster_overrides["cro"] == first.spec.cluster_overrides["cro"]
    assert dict(isolated.kept) == {CRO_ID: "c1"}


def test_a_broken_file_that_held_a_member_cluster_holds_the_commit(tmp_path: Path) -> None:
    base = load(tmp_path / "1", {**GOOD, "mc.yaml": MC % 60})
    head = load(tmp_path / "2", {**GOOD, "mc.yaml": "kind: [unclosed\n"})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    assert isolated.held and {f.scope for f in isolated.held} == {SCOPE_REPO}


def test_a_kustomization_that_does_not_build_keeps_every_object_of_its_last_output(tmp_path: Path) -> None:
    kustomization = "resources: [cm.yaml]\n"
    base = load(
        tmp_path / "1", {**GOOD, "app/kustomization.yaml": kustomization, "app/cm.yaml": CM.format(name="k")}
    )
    head = load(tmp_path / "2", {**GOOD, "app/kustomization.yaml": kustomization})  # cm.yaml is gone
    assert list(head.broken) == ["app/kustomization.yaml#output"] and not head.held
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    k = identity("", "ConfigMap", "web", "k")
    assert isolated.spec.resources[k] == base.spec.resources[k] and dict(isolated.kept) == {k: "c1"}


def test_a_broken_file_that_held_an_admission_policy_holds_the_commit(tmp_path: Path) -> None:
    policy = (
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n"
        "metadata:\n  name: no-privileged\nspec:\n  validations:\n    - expression: 'true'\n"
    )
    base = load(tmp_path / "1", {**GOOD, "policy.yaml": policy})
    head = load(tmp_path / "2", {**GOOD, "policy.yaml": "kind: [unclosed\n"})
    isolated = keep_last_good(head, "c1", {}, loader({"c1": base}))
    assert isolated.held and "invalid YAML" in isolated.held[0].message


def test_failures_hold_the_commit_when_the_last_good_commit_cannot_be_read(tmp_path: Path) -> None:
    head = load(tmp_path / "2", {**GOOD, "cms.yaml": "kind: [unclosed\n"})
    isolated = keep_last_good(head, "gone", {}, loader({}))
    assert isolated.held and "cannot be read" in isolated.held[0].message
    assert not keep_last_good(head, "", {}, loader({})).held  # nothing rendered yet: nothing to keep
