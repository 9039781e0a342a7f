"""``fleetsync plan`` says what the hub will do (issue 15, "`plan` tells the truth"): an override
that fails keeps the cluster's previous version and blocks the merge, a scheduler reason never
shows a placeholder, and a change of a field Kubernetes will not update is flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.plan.build import ExitCode
from tests.support.planfixtures import new_pickn

API = """---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: app
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - {name: api, image: "ghcr.io/example/api:1.0"}
"""

REPLICAS_OVERRIDE = """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata:
  name: api-replicas
  namespace: app
spec:
  placement:
    name: app
  resourceSelectors:
    - {group: apps, version: v1, kind: Deployment, name: api}
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms:
            - labelSelector: {matchLabels: {region: r0}}
            - labelSelector: {matchLabels: {region: r1}}
        jsonPatchOverrides:
          - {op: replace, path: /spec/replicas, value: 2}
"""


def with_api(make_fleet: Callable[[int], Any]) -> Any:
    """3 clusters (regions r0, r1, r2) placing the namespace app with a Deployment api whose
    replicas a ResourceOverride replaces on r0 and r1."""
    repo = make_fleet(3)
    repo.edit("apps/app.yaml", lambda t: t + API)
    repo.write("overrides/api.yaml", REPLICAS_OVERRIDE)
    repo.commit("the api deployment")
    return repo


def test_an_override_that_fails_keeps_the_previous_version_and_blocks_the_merge(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = with_api(make_fleet)
    # replicas dropped: the override's replace has no /spec/replicas (the typo `replica`
    # is now a schema error: tests/reconciler/load/test_schemas.py)
    repo.edit("apps/app.yaml", lambda t: t.replace("  replicas: 1\n", ""))
    repo.commit("typo")
    doc, code = repo.plan()
    assert code == ExitCode.CHECKS_FAILED
    assert doc["summary"]["checksPassed"] is False
    actions = {
        (c, o["action"], o["identity"]) for g in doc["groups"] for c in g["clusters"] for o in g["objects"]
    }
    assert not any(a == "removed" for _, a, _ in actions)  # the hub keeps the old bundle: nothing leaves
    assert {c for c, _, _ in actions} == {"c-0002"}  # only the cluster without the override changes
    failures = doc["failures"]
    assert [(f["placement"], f["cluster"], f["stage"], f["new"]) for f in failures] == [
        ("ClusterResourcePlacement/app", "c-0000", "override", True),
        ("ClusterResourcePlacement/app", "c-0001", "override", True),
    ]
    assert "ResourceOverride app/api-replicas rule 0 path /spec/replicas" in failures[0]["message"]
    md, _, _ = repo.plan_text()
    assert "#### Placements that would fail" in md
    assert "OverriddenFailed" in md and "keeps its previous version" in md
    assert "removed" not in md


def test_an_override_failure_base_already_had_is_listed_but_does_not_block(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = with_api(make_fleet)
    repo.edit("apps/app.yaml", lambda t: t.replace("  replicas: 1\n", ""))
    repo.commit("no replicas")
    repo.edit("apps/app.yaml", lambda t: t.replace("ghcr.io/example/api:1.0", "ghcr.io/example/api:1.1"))
    repo.commit("a new image, replicas still missing")
    doc, code = repo.plan()
    assert code == ExitCode.CHANGES
    assert [(f["cluster"], f["new"]) for f in doc["failures"]] == [("c-0000", False), ("c-0001", False)]


def test_scheduler_reasons_never_show_the_cluster_placeholder(template: Any) -> None:
    new_pickn(template)
    template.commit()
    for output in ("markdown", "text"):
        out, _, _ = template.plan_text(output)
        assert "${MEMBER-CLUSTER-NAME}" not in out
        assert "placement in each cluster" in out
    doc, _ = template.plan()
    [group] = [g for g in doc["groups"] if g["placements"]]
    assert "${MEMBER-CLUSTER-NAME}" not in group["placements"][0]["reason"]


def test_changing_a_deployment_selector_is_flagged_with_the_fix_and_blocks(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = with_api(make_fleet)
    repo.edit("apps/app.yaml", lambda t: t.replace("{app: api}", "{app: api-v2}"))
    repo.commit("new selector")
    doc, code = repo.plan()
    assert code == ExitCode.CHECKS_FAILED
    [finding] = doc["immutableFields"]
    assert (finding["identity"], finding["field"], finding["clusters"]) == (
        "apps/Deployment/app/api",
        "spec.selector",
        ["c-0000", "c-0001", "c-0002"],
    )
    assert "immutable" in finding["reason"] and "rename" in finding["fix"]
    md, _, _ = repo.plan_text()
    assert "#### Changes Kubernetes refuses (immutable fields)" in md
    assert "apps/Deployment/app/api" in md and "spec.selector" in md
