"""``fleetsync plan`` on two commits of fleet-repo-template: what each kind of change shows."""

from __future__ import annotations

from typing import Any

from reconciler.plan.build import ExitCode
from tests.support.planfixtures import invalid, label_moves, new_pickn, no_change, override_subset, privileged

CHECKOUT_CLUSTERS = ["canary-us-1", "prod-eu-1", "prod-eu-2", "prod-us-1", "prod-us-2", "staging-eu-1"]


def _objects(doc: dict[str, Any]) -> dict[str, list[str]]:
    """cluster -> sorted 'action identity' lines over every group."""
    out: dict[str, list[str]] = {}
    for g in doc["groups"]:
        for c in g["clusters"]:
            out[c] = sorted(f"{o['action']} {o['identity']}" for o in g["objects"])
    return out


def test_app_change_diffs_exactly_the_clusters_that_place_it_in_one_group(template: Any) -> None:
    template.edit(
        "apps/checkout/checkout.yaml", lambda t: t.replace("payments.example.com", "pay.example.com")
    )
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHANGES
    assert len(doc["groups"]) == 1
    group = doc["groups"][0]
    assert group["clusters"] == CHECKOUT_CLUSTERS
    [obj] = group["objects"]
    assert (obj["action"], obj["identity"]) == ("changed", "/ConfigMap/checkout/checkout-config")
    assert "-  PAYMENT_PROVIDER_URL: https://payments.example.com" in obj["diff"]
    assert "+  PAYMENT_PROVIDER_URL: https://pay.example.com" in obj["diff"]
    assert doc["summary"]["clustersTouched"] == 6 and doc["summary"]["objectsTouched"] == 6
    [checkout] = [p for p in doc["placements"] if p["placement"] == "ClusterResourcePlacement/checkout"]
    assert checkout["rollout"]["strategy"] == "External"


def test_new_staged_run_shows_the_stages_and_their_clusters(template: Any) -> None:
    template.edit("apps/checkout/checkout.yaml", lambda t: t.replace("checkout:2.8.1", "checkout:2.9.0"))
    template.edit("rollouts/checkout-2-8-1.yaml", lambda t: t.replace("checkout-2-8-1", "checkout-2-9-0"))
    template.commit()
    doc, _ = template.plan()
    [checkout] = [p for p in doc["placements"] if p["placement"] == "ClusterResourcePlacement/checkout"]
    [run] = checkout["runs"]
    assert run["run"] == "ClusterStagedUpdateRun/checkout-2-9-0" and run["change"] == "new"
    staged = sorted(c for stage in run["stages"] for c in stage["clusters"])
    assert staged == CHECKOUT_CLUSTERS
    assert len(run["stages"]) >= 2


def test_label_change_moves_a_cluster_out_of_and_another_into_a_pickn_placement(template: Any) -> None:
    label_moves(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHECKS_FAILED  # prod-eu-2 loses 8 of 15 objects: the hub wants a confirmation
    assert [(c["cluster"], c["blocking"]) for c in doc["prune"]["clusters"]] == [("prod-eu-2", True)]
    [web] = [p for p in doc["placements"] if p["placement"] == "ClusterResourcePlacement/web"]
    assert [d["cluster"] for d in web["dropped"]] == ["prod-eu-2"]
    assert "ClusterUnschedulable" in web["dropped"][0]["reason"]
    assert [p["cluster"] for p in web["picked"]] == ["prod-us-1"]
    assert "picked by scheduling policy" in web["picked"][0]["reason"]
    objects = _objects(doc)
    assert "removed apps/Deployment/team-web/web" in objects["prod-eu-2"]
    assert "added apps/Deployment/team-web/web" in objects["prod-us-1"]


def test_pickn_number_change_picks_a_cluster_with_the_schedulers_reason(template: Any) -> None:
    template.edit("placements/web.yaml", lambda t: t.replace("numberOfClusters: 3", "numberOfClusters: 4"))
    template.commit()
    doc, _ = template.plan()
    [web] = [p for p in doc["placements"] if p["placement"] == "ClusterResourcePlacement/web"]
    assert [p["cluster"] for p in web["picked"]] == ["prod-us-1"] and web["dropped"] == []
    assert web["rollout"]["strategy"] == "RollingUpdate" and web["rollout"]["maxSurge"] == "1"


def test_override_change_on_a_subset_groups_clusters_by_their_change(template: Any) -> None:
    override_subset(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHANGES
    [group] = doc["groups"]
    assert group["clusters"] == ["prod-eu-1", "prod-eu-2"]  # westeurope only; prod-us-2 unchanged
    [obj] = group["objects"]
    assert "-  replicas: 5" in obj["diff"] and "+  replicas: 7" in obj["diff"]


def test_override_that_starts_applying_is_named_per_cluster(template: Any) -> None:
    template.write(
        "overrides/checkout-canary.yaml",
        """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourceOverride
metadata:
  name: checkout-canary
spec:
  placement:
    name: checkout
  clusterResourceSelectors:
    - {group: "", version: v1, kind: Namespace, name: checkout}
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms:
            - labelSelector:
                matchLabels: {environment: canary}
        jsonPatchOverrides:
          - {op: add, path: /metadata/labels/canary, value: "true"}
""",
    )
    template.commit()
    doc, _ = template.plan()
    [group] = doc["groups"]
    assert group["clusters"] == ["canary-us-1"]
    assert group["overrides"] == [
        {
            "placement": "ClusterResourcePlacement/checkout",
            "override": "ClusterResourceOverride/checkout-canary",
            "change": "starts",
        }
    ]


def test_invalid_head_exits_2_with_file_and_line(template: Any) -> None:
    invalid(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHECKS_FAILED
    # rendered as the hub renders it: the invalid placement keeps base's version, nothing else changes
    assert doc["head"]["loaded"] is True and doc["groups"] == []
    errors = [f for f in doc["validation"] if f["severity"] == "error"]
    assert errors and errors[0]["file"] == "placements/web.yaml" and errors[0]["line"] == 16
    assert errors[0]["new"] is True
    [failed] = doc["failedObjects"]
    assert failed["identity"] == "placement.kubernetes-fleet.io/ClusterResourcePlacement//web"
    assert (failed["scope"], failed["outcome"]) == ("object", "keeps its previous version")
    text, _, _ = template.plan_text("text")
    assert "placements/web.yaml:16:" in text


def test_deny_policy_violation_exits_2_naming_object_cluster_and_message(template: Any) -> None:
    privileged(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHECKS_FAILED
    new = [v for v in doc["violations"] if v["new"] and v["policy"] == "no-privileged-containers"]
    assert sorted(v["cluster"] for v in new) == CHECKOUT_CLUSTERS
    assert {v["identity"] for v in new} == {"apps/Deployment/checkout/checkout"}
    assert all(v["action"] == "Deny" and "privileged" in v["message"] for v in new)


def test_blast_radius_needs_the_pull_request_label_on_production_clusters(template: Any) -> None:
    template.edit(
        "apps/checkout/checkout.yaml", lambda t: t.replace("payments.example.com", "pay.example.com")
    )
    template.commit()
    doc, code = template.plan(labels=())
    assert code == ExitCode.CHECKS_FAILED
    [v] = doc["blastRadius"]
    assert v["policy"] == "blast-radius" and "fleetsync/approve-blast-radius" in v["message"]


def test_immutability_refusal_exits_2(template: Any) -> None:
    template.edit(
        "placements/checkout.yaml",
        lambda t: t.replace("placementType: PickAll", "placementType: PickN\n    numberOfClusters: 6"),
    )
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHECKS_FAILED
    assert doc["head"]["loaded"] is True and doc["immutability"]["checked"] is True
    [refusal] = doc["immutability"]["refusals"]
    assert refusal["file"] == "placements/checkout.yaml" and "immutable" in refusal["message"]


def test_no_change_exits_0(template: Any) -> None:
    no_change(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.NO_CHANGE
    assert doc["groups"] == [] and doc["placements"] == [] and doc["summary"]["clustersTouched"] == 0


def test_base_that_does_not_load_skips_the_update_rules_and_says_so(template: Any) -> None:
    template.edit("fleetsync.yaml", lambda t: t.replace("pruneMaxShare: 0.5", "pruneMaxShare: [0.5"))
    template.commit("broken settings: a repo-wide error")
    template.edit("fleetsync.yaml", lambda t: t.replace("pruneMaxShare: [0.5", "pruneMaxShare: 0.5"))
    template.commit("fixed")
    doc, _ = template.plan()
    assert doc["base"]["loaded"] is False and doc["immutability"]["checked"] is False
    assert any("not checked" in n for n in doc["notes"])


def test_apply_strategy_change_is_a_change_of_every_cluster_bundle_entry(template: Any) -> None:
    template.edit(
        "placements/web.yaml", lambda t: t.replace("whenToApply: IfNotDrifted", "whenToApply: Always")
    )
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHANGES and doc["groups"] == []
    [web] = doc["placements"]
    assert (
        "-  whenToApply: IfNotDrifted" in web["settingsDiff"]
        and "+  whenToApply: Always" in web["settingsDiff"]
    )


def test_new_pickn_placement_picks_its_clusters_with_reasons_and_adds_its_objects(template: Any) -> None:
    new_pickn(template)
    template.commit()
    doc, code = template.plan()
    assert code == ExitCode.CHANGES
    [batch] = doc["placements"]
    assert batch["placement"] == "ClusterResourcePlacement/batch"
    assert [p["cluster"] for p in batch["picked"]] == ["dev-eu-1", "staging-eu-1"]
    assert all("picked by scheduling policy" in p["reason"] for p in batch["picked"])
    [group] = doc["groups"]
    assert group["clusters"] == ["dev-eu-1", "staging-eu-1"]
    assert sorted(o["identity"] for o in group["objects"]) == [
        "/ConfigMap/batch/batch-config",
        "/Namespace//batch",
    ]
    assert all(o["action"] == "added" for o in group["objects"])
