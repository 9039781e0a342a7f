"""KubeFleet's update rules between two commits: what a hub would refuse as an update.

Each case is two small fleet repos (the old and the new commit) loaded from tmp_path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.errors import Finding
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.load.immutability import check_update

API = "apiVersion: placement.kubernetes-fleet.io/v1beta1"
PICK_ALL = "  policy:\n    placementType: PickAll\n"
PICK_N = "  policy:\n    placementType: PickN\n    numberOfClusters: 2\n"
EXTERNAL = "  strategy:\n    type: External\n"
ROLLING = "  strategy:\n    type: RollingUpdate\n"


def tolerations(*items: str) -> str:
    return PICK_N + "    tolerations:\n" + "".join(f"      - {i}\n" for i in items)


GPU = "{key: gpu, operator: Equal, value: 'true', effect: NoSchedule}"
SPOT = "{key: spot, operator: Exists}"


def crp(body: str = "", name: str = "web") -> str:
    return (
        f"{API}\nkind: ClusterResourcePlacement\nmetadata:\n  name: {name}\nspec:\n  resourceSelectors:\n"
        f'    - {{group: "", version: v1, kind: Namespace, name: web}}\n{body}'
    )


def rp(body: str = "") -> str:
    return (
        f"{API}\nkind: ResourcePlacement\nmetadata:\n  name: web-rp\n  namespace: web\nspec:\n"
        f'  resourceSelectors:\n    - {{group: "", version: v1, kind: ConfigMap, name: settings}}\n{body}'
    )


def cro(placement: str = "") -> str:
    return (
        f"{API}\nkind: ClusterResourceOverride\nmetadata:\n  name: web-region\nspec:\n{placement}"
        '  clusterResourceSelectors:\n    - {group: "", version: v1, kind: Namespace, name: web}\n'
        "  policy:\n    overrideRules:\n      - clusterSelector: {}\n        jsonPatchOverrides:\n"
        "          - {op: add, path: /metadata/labels/region, value: eu}\n"
    )


def ro(placement: str = "", value: str = "eu") -> str:
    return (
        f"{API}\nkind: ResourceOverride\nmetadata:\n  name: settings\n  namespace: web\nspec:\n{placement}"
        '  resourceSelectors:\n    - {group: "", version: v1, kind: ConfigMap, name: settings}\n'
        "  policy:\n    overrideRules:\n      - clusterSelector: {}\n        jsonPatchOverrides:\n"
        f"          - {{op: add, path: /metadata/labels/region, value: {value}}}\n"
    )


def run(state: str = "Initialize", placement: str = "web", index: str = "1", strategy: str = "canary") -> str:
    return (
        f"{API}\nkind: ClusterStagedUpdateRun\nmetadata:\n  name: rollout\nspec:\n"
        f'  placementName: {placement}\n  resourceSnapshotIndex: "{index}"\n'
        f"  stagedRolloutStrategyName: {strategy}\n  state: {state}\n"
    )


def approval(run_name: str = "rollout", stage: str = "canary", approved: bool = False) -> str:
    status = (
        'status:\n  conditions:\n    - {type: Approved, status: "True", reason: Approved}\n'
        if approved
        else ""
    )
    return (
        f"{API}\nkind: ClusterApprovalRequest\nmetadata:\n  name: rollout-after-canary\nspec:\n"
        f"  parentStageRollout: {run_name}\n  targetStage: {stage}\n{status}"
    )


def eviction(placement: str = "web", cluster: str = "prod-eu-1") -> str:
    return (
        f"{API}\nkind: ClusterResourcePlacementEviction\nmetadata:\n  name: evict-prod-eu-1\nspec:\n"
        f"  placementName: {placement}\n  clusterName: {cluster}\n"
    )


def load(root: Path, files: dict[str, str]) -> LoadResult:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    result = load_directory(root)
    # A fixture that does not load would drop the object and make a case pass for nothing.
    assert [str(f) for f in result.errors] == []
    return result


def compare(tmp_path: Path, old: str, new: str) -> list[Finding]:
    before = load(tmp_path / "old", {"fleet.yaml": old})
    after = load(tmp_path / "new", {"fleet.yaml": new})
    return check_update(before.spec, after.spec)


@dataclass(frozen=True)
class Refused:
    old: str
    new: str
    field: str
    message: str  # a fragment of the finding's message


REFUSED = {
    "policy removed": Refused(
        crp(PICK_N),
        crp(),
        "spec.policy",
        "policy cannot be removed once set (was placementType PickN, now unset): put it back",
    ),
    "a PickAll policy removed is told to write PickAll": Refused(
        crp(PICK_ALL), crp(), "spec.policy", "write policy: {placementType: PickAll}"
    ),
    "placementType changed": Refused(
        crp(PICK_N),
        crp(PICK_ALL),
        "spec.policy.placementType",
        "placementType is immutable (was PickN, now PickAll): create a new placement with another name and "
        "delete this one",
    ),
    "a policy added with another type than the implied PickAll": Refused(
        crp(),
        crp(PICK_N),
        "spec.policy.placementType",
        "placementType is immutable (was PickAll (no policy means PickAll), now PickN)",
    ),
    "a ResourcePlacement's placementType changed": Refused(
        rp(PICK_ALL), rp(PICK_N), "spec.policy.placementType", "was PickAll, now PickN"
    ),
    "a toleration deleted": Refused(
        crp(tolerations(GPU, SPOT)),
        crp(tolerations(SPOT)),
        "spec.policy.tolerations",
        "existing tolerations cannot be updated or deleted, only appended (changed or removed: "
        "{key: gpu, operator: Equal, value: true, effect: NoSchedule})",
    ),
    "a toleration updated": Refused(
        crp(tolerations(GPU, SPOT)),
        crp(tolerations("{key: gpu, operator: Equal, value: 'false', effect: NoSchedule}", SPOT)),
        "spec.policy.tolerations",
        "only appended (changed or removed: {key: gpu",
    ),
    "strategy External changed to RollingUpdate": Refused(
        crp(EXTERNAL),
        crp(ROLLING),
        "spec.strategy.type",
        "strategy type cannot change from External (now RollingUpdate)",
    ),
    "strategy External dropped (defaults to RollingUpdate)": Refused(
        crp(EXTERNAL), crp(), "spec.strategy.type", "cannot change from External"
    ),
    "statusReportingScope changed": Refused(
        crp("  statusReportingScope: NamespaceAccessible\n"),
        crp(),
        "spec.statusReportingScope",
        "statusReportingScope is immutable (was NamespaceAccessible, now ClusterScopeOnly)",
    ),
    "override placement added": Refused(
        cro(),
        cro("  placement: {name: web}\n"),
        "spec.placement",
        "the placement field is immutable (was unset, now {name: web, scope: Cluster}): create a new "
        "ClusterResourceOverride with another name",
    ),
    "override placement removed": Refused(
        ro("  placement: {name: web-rp, scope: Namespaced}\n"),
        ro(),
        "spec.placement",
        "(was {name: web-rp, scope: Namespaced}, now unset)",
    ),
    "override placement changed": Refused(
        cro("  placement: {name: web}\n"),
        cro("  placement: {name: api}\n"),
        "spec.placement",
        "(was {name: web, scope: Cluster}, now {name: api, scope: Cluster})",
    ),
    "run placementName changed": Refused(
        run(), run(placement="api"), "spec.placementName", "placementName is immutable (was web, now api)"
    ),
    "run resourceSnapshotIndex changed": Refused(
        run(),
        run(index="2"),
        "spec.resourceSnapshotIndex",
        "resourceSnapshotIndex is immutable (was 1, now 2)",
    ),
    "run stagedRolloutStrategyName changed": Refused(
        run(),
        run(strategy="prod"),
        "spec.stagedRolloutStrategyName",
        "stagedRolloutStrategyName is immutable (was canary, now prod)",
    ),
    "run Initialize to Stop": Refused(
        run("Initialize"),
        run("Stop"),
        "spec.state",
        "invalid state transition: cannot transition from Initialize to Stop: set state Run",
    ),
    "run Run to Initialize": Refused(
        run("Run"), run("Initialize"), "spec.state", "cannot transition from Run to Initialize"
    ),
    "run Stop to Initialize": Refused(
        run("Stop"), run("Initialize"), "spec.state", "cannot transition from Stop to Initialize"
    ),
    "approval request retargeted to another stage": Refused(
        approval(),
        approval(stage="prod"),
        "spec.targetStage",
        "the spec field is immutable (targetStage was canary, now prod)",
    ),
    "approval request moved to another run": Refused(
        approval(), approval(run_name="rollout2"), "spec.parentStageRollout", "parentStageRollout was rollout"
    ),
    "eviction clusterName changed": Refused(
        eviction(),
        eviction(cluster="prod-eu-2"),
        "spec.clusterName",
        "clusterName is immutable (was prod-eu-1, now prod-eu-2): an eviction runs once",
    ),
    "eviction placementName changed": Refused(
        eviction(), eviction(placement="api"), "spec.placementName", "placementName is immutable"
    ),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_kubefleet_refuses_the_update(tmp_path: Path, case: Refused) -> None:
    findings = compare(tmp_path, case.old, case.new)
    assert [f.field for f in findings] == [case.field]
    assert case.message in findings[0].message
    assert findings[0].file == "fleet.yaml" and findings[0].line == 1 and findings[0].severity == "error"


ALLOWED = {
    "appending a toleration": (crp(tolerations(GPU)), crp(tolerations(GPU, SPOT))),
    "reordering tolerations": (crp(tolerations(GPU, SPOT)), crp(tolerations(SPOT, GPU))),
    "spelling out a defaulted toleration operator": (
        crp(tolerations("{key: gpu, value: 'true'}")),
        crp(tolerations("{key: gpu, operator: Equal, value: 'true'}")),
    ),
    "adding a PickAll policy where there was none": (crp(), crp(PICK_ALL)),
    "scaling a PickN placement": (crp(PICK_N), crp(PICK_N.replace("2", "5"))),
    "External staying External while the apply strategy changes": (
        crp(EXTERNAL),
        crp(EXTERNAL + "    applyStrategy: {type: ServerSideApply}\n"),
    ),
    "RollingUpdate becoming External": (crp(ROLLING), crp(EXTERNAL)),
    "override rules changing with the same placement": (
        ro("  placement: {name: web-rp, scope: Namespaced}\n"),
        ro("  placement: {name: web-rp, scope: Namespaced}\n", value="us"),
    ),
    "run Initialize to Run": (run("Initialize"), run("Run")),
    "run Run to Stop": (run("Run"), run("Stop")),
    "run Stop to Run": (run("Stop"), run("Run")),
    "approving a request (status only)": (approval(), approval(approved=True)),
    "deleting a placement": (crp(PICK_N) + "---\n" + run(), run()),
    "creating objects": (crp(), crp() + "---\n" + eviction() + "---\n" + crp(PICK_N, name="api")),
    "a placement deleted and another created under a new name": (crp(PICK_N), crp(PICK_ALL, name="web2")),
}


@pytest.mark.parametrize("old,new", ALLOWED.values(), ids=ALLOWED.keys())
def test_kubefleet_allows_the_update(tmp_path: Path, old: str, new: str) -> None:
    assert compare(tmp_path, old, new) == []


def test_a_finding_is_located_at_the_new_commit_and_at_the_field_when_documents_are_given(
    tmp_path: Path,
) -> None:
    before = load(tmp_path / "old", {"placements/web.yaml": crp(PICK_N)})
    moved = "# moved\n---\n" + run() + "---\n" + crp(PICK_ALL)
    after = load(tmp_path / "new", {"fleet/all.yaml": moved})
    start = moved.splitlines().index(
        "kind: ClusterResourcePlacement"
    )  # 0-based line of kind = 1-based apiVersion

    [plain] = check_update(before.spec, after.spec)
    assert (plain.file, plain.line, plain.object) == ("fleet/all.yaml", start, "ClusterResourcePlacement/web")

    [exact] = check_update(before.spec, after.spec, documents=after.documents)
    type_line = moved.splitlines().index("    placementType: PickAll") + 1
    assert (exact.file, exact.line, exact.column) == ("fleet/all.yaml", type_line, 5)
    assert str(exact).startswith(
        f"fleet/all.yaml:{type_line}:5: ClusterResourcePlacement/web: "
        "spec.policy.placementType: placementType is immutable"
    )


def test_every_refused_change_of_a_commit_is_reported_in_file_order(tmp_path: Path) -> None:
    before = load(tmp_path / "old", {"a.yaml": run("Run"), "b.yaml": crp(tolerations(GPU)) + EXTERNAL})
    after = load(tmp_path / "new", {"a.yaml": run("Initialize", index="2"), "b.yaml": crp(PICK_ALL)})
    findings = check_update(before.spec, after.spec)
    assert [(f.file, f.field) for f in findings] == [
        ("a.yaml", "spec.resourceSnapshotIndex"),
        ("a.yaml", "spec.state"),
        ("b.yaml", "spec.policy.placementType"),
        ("b.yaml", "spec.policy.tolerations"),
        ("b.yaml", "spec.strategy.type"),
    ]
