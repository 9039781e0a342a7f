"""fleet-repo-template/ is tested documentation: it validates clean and shows every feature it claims."""

from __future__ import annotations

from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.load.fleet import load_directory
from tests.support import TEMPLATE


def test_the_template_validates_with_exit_zero_through_the_cli() -> None:
    result = CliRunner().invoke(app, ["validate", str(TEMPLATE)])
    assert result.exit_code == 0, result.output
    assert "valid: 0 error(s), 0 warning(s)" in result.output


def test_the_template_shows_what_its_readme_teaches() -> None:
    result = load_directory(TEMPLATE)
    assert result.ok, result.findings
    spec = result.spec
    assert 6 <= len(spec.members) <= 8
    assert all({"region", "environment"} <= set(m.labels) for m in spec.members.values())
    assert any(m.taints for m in spec.members.values())
    assert all("kubernetes.azure.com/per-cpu-core-cost" in m.properties for m in spec.members.values())
    assert all(m.resource_usage is not None for m in spec.members.values())
    types = {str(p.placement_type) for p in spec.placements.values()}
    assert types == {"PickAll", "PickN", "PickFixed"}
    web = spec.placements["ClusterResourcePlacement/web"]
    policy = web.effective_policy
    assert policy.affinity is not None and policy.affinity.required and policy.affinity.preferred
    assert any(p.preference.property_sorter for p in policy.affinity.preferred)
    assert policy.topology_spread_constraints
    assert spec.cluster_overrides and spec.resource_overrides and spec.strategies and spec.runs
    kinds = {r.kind for r in spec.resources.values()}
    assert {
        "Namespace",
        "ClusterRole",
        "RoleBinding",
        "ResourceQuota",
        "NetworkPolicy",
        "Deployment",
        "Service",
        "ConfigMap",
    } <= kinds
    # the kustomize overlay is rendered (its base is not loaded on its own)
    assert (
        spec.resources["apps/Deployment/team-web/web"].origin.file
        == "apps/web/overlays/production/kustomization.yaml#output"
    )
    images = [
        c["image"]
        for r in spec.resources.values()
        if r.kind == "Deployment"
        for c in r.body["spec"]["template"]["spec"]["containers"]
    ]
    assert images and not any(i.endswith(":latest") or ":" not in i for i in images)


def test_the_template_overrides_use_the_cluster_name_and_a_label_variable() -> None:
    text = "".join(p.read_text() for p in (TEMPLATE / "overrides").glob("*.yaml"))
    assert "${MEMBER-CLUSTER-NAME}" in text and "${MEMBER-CLUSTER-LABEL-KEY-region}" in text


def test_the_template_ci_runs_validate_and_plan_on_pull_requests() -> None:
    workflow = (TEMPLATE / ".github" / "workflows" / "fleetsync.yaml").read_text()
    assert "pull_request" in workflow and "fleetsync validate" in workflow and "fleetsync plan" in workflow
