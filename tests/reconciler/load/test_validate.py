"""fleetsync validate: every finding, cross-object references, stable text/JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.load.validate import exit_code, render, validate_path

CRP = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata:
  name: {name}
spec:
  resourceSelectors:
    - {{group: "", version: v1, kind: Namespace, name: web}}
  policy:
    placementType: {ptype}
{extra}"""
MC = "apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: {name}\nspec: {{}}\n"


def _repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_clean_repo_exits_zero_with_a_summary_line(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {"crp.yaml": CRP.format(name="web", ptype="PickAll", extra=""), "mc.yaml": MC.format(name="a")},
    )
    result = validate_path(repo)
    assert exit_code(result) == 0
    text = render(result, "text")
    assert text.endswith(f"{repo}: valid: 0 error(s), 0 warning(s) in 2 object(s)\n")


def test_every_error_is_printed_one_per_line_as_file_line_col_object_field_message(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad\n",
            "b.yaml": MC.format(name="a").replace("spec: {}", "spec:\n  heartbeatPeriodSeconds: 0\n"),
        },
    )
    result = validate_path(repo)
    assert exit_code(result) == 1
    lines = render(result, "text").splitlines()
    assert lines[0].startswith("a.yaml:4:3: ConfigMap/Bad: metadata.name: invalid name 'Bad'")
    assert lines[1].startswith("b.yaml:6:3: MemberCluster/a: spec.heartbeatPeriodSeconds: ")
    assert lines[2].endswith("invalid: 2 error(s), 0 warning(s) in 1 object(s)")


def test_references_to_missing_objects_are_errors_at_the_referring_field(tmp_path: Path) -> None:
    run = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterStagedUpdateRun
metadata:
  name: r
spec:
  placementName: nope
  stagedRolloutStrategyName: none
"""
    approval = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterApprovalRequest
metadata:
  name: r-after-s
spec:
  parentStageRollout: r
  targetStage: s
"""
    result = validate_path(_repo(tmp_path, {"run.yaml": run, "approval.yaml": approval}))
    got = {(f.file, f.line, f.field) for f in result.findings}
    assert got == {("run.yaml", 6, "spec.placementName"), ("run.yaml", 7, "spec.stagedRolloutStrategyName")}


def test_an_eviction_from_a_pickfixed_placement_or_an_unknown_cluster_is_refused(tmp_path: Path) -> None:
    ev = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacementEviction
metadata:
  name: ev
spec:
  placementName: fixed
  clusterName: gone
"""
    crp = CRP.format(name="fixed", ptype="PickFixed", extra="    clusterNames: [a]\n")
    result = validate_path(_repo(tmp_path, {"ev.yaml": ev, "crp.yaml": crp, "mc.yaml": MC.format(name="a")}))
    messages = {(f.field, f.message.split(":")[0]) for f in result.findings}
    assert ("spec.placementName", "placement 'fixed' is PickFixed") in messages
    assert ("spec.clusterName", "the eviction's cluster") in messages


def test_a_pickfixed_cluster_missing_from_the_repo_is_a_warning_that_does_not_fail(tmp_path: Path) -> None:
    crp = CRP.format(name="fixed", ptype="PickFixed", extra="    clusterNames: [a, b]\n")
    result = validate_path(_repo(tmp_path, {"crp.yaml": crp, "mc.yaml": MC.format(name="a")}))
    [warning] = result.findings
    assert (warning.severity, warning.field, warning.line) == ("warning", "spec.policy.clusterNames[1]", 10)
    assert exit_code(result) == 0
    assert (
        "crp.yaml:10:23: ClusterResourcePlacement/fixed: spec.policy.clusterNames[1]: warning: no MemberCluster 'b'"
        in render(result)
    )


def test_json_output_is_the_documented_stable_document(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad\n",
            "mc.yaml": MC.format(name="a"),
        },
    )
    doc = json.loads(render(validate_path(repo), "json"))
    assert list(doc) == ["apiVersion", "kind", "path", "ok", "findings", "summary"]
    assert (doc["apiVersion"], doc["kind"], doc["ok"]) == ("fleetsync.io/v1alpha1", "ValidationResult", False)
    assert doc["findings"] == [
        {
            "file": "a.yaml",
            "line": 4,
            "column": 3,
            "object": "ConfigMap/Bad",
            "field": "metadata.name",
            "message": doc["findings"][0]["message"],
            "severity": "error",
            "scope": "file",  # an object without a usable name: its file fails
        }
    ]
    assert doc["summary"] == {"errors": 1, "warnings": 0, "objects": 1, "kinds": {"MemberCluster": 1}}


def test_the_cli_exits_1_on_findings_and_2_on_usage_errors(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r", {"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad}\n"})
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(repo)]).exit_code == 1
    assert runner.invoke(app, ["validate", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["validate", str(repo), "-o", "yaml"]).exit_code == 2
