"""The per-object decision table (KubeFleet's work applier), with a fake cluster.

Only the decisions are tested here; the same behaviours run over HTTP against the Kubernetes
API test server in test_integration_*.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from agent.apply.backoff import RetryPolicy
from agent.apply.kube import KindRef
from agent.apply.manager import Applier, Result, Strategy, Work
from agent.apply.takeover import OWNED_BY, PLACEMENT, SPEC_HASH, owner_label_value, spec_hash, stamped
from agent.errors import Conflict, Forbidden, Invalid, KindNotServed, KubeError, Retryable
from fleetsync_contract.report import DriftType, Outcome, PatchDetail

Obj = dict[str, Any]
P = "ClusterResourcePlacement/web"
OTHER = "ClusterResourcePlacement/other"


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v)
        return out
    return copy.deepcopy(patch)


class FakeCluster:
    """A dict store with an apply that overlays the manifest (enough for the decision table)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Obj] = {}
        self.fail: dict[str, list[KubeError]] = {}
        self.applies: list[tuple[Obj, bool, bool]] = []
        self.rv = 0

    def kind(self, api_version: str, kind: str) -> KindRef:
        if kind == "Widget":
            raise KindNotServed("not served")
        return KindRef(api_version, kind, kind.lower() + "s", kind != "Namespace")

    def get(self, ref: KindRef, name: str, namespace: str = "") -> Obj | None:
        obj = self.objects.get((ref.kind, name))
        return copy.deepcopy(obj) if obj else None

    def put(self, obj: Obj) -> None:
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj

    def apply(self, manifest: Obj, *, force: bool = False, dry_run: bool = False) -> Obj:
        self.applies.append((manifest, force, dry_run))
        errors = self.fail.get(manifest["metadata"]["name"])
        if errors and not dry_run:
            raise errors.pop(0)
        key = (manifest["kind"], manifest["metadata"]["name"])
        current = self.objects.get(key)
        merged: dict[str, Any] = _merge(current or {}, manifest)
        if dry_run:
            return merged
        if current is not None and _strip_rv(merged) == _strip_rv(current):
            return copy.deepcopy(current)
        self.put(merged)
        return copy.deepcopy(self.objects[key])


def _strip_rv(o: Obj) -> Obj:
    o = copy.deepcopy(o)
    o["metadata"].pop("resourceVersion", None)
    return o


def cm(name: str = "settings", **data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "app"},
        "data": data or {"k": "v"},
    }


def work(manifest: Obj, placement: str = P, **strategy: Any) -> Work:
    ident = f"/{manifest['kind']}/app/{manifest['metadata']['name']}"
    return Work(placement, ident, manifest, Strategy.parse(strategy))


def applier(cluster: FakeCluster, sleeps: list[float] | None = None) -> Applier:
    record = sleeps if sleeps is not None else []
    return Applier(cluster, "c1", "sha256:b", [P, OTHER], sleep=record.append, retry=RetryPolicy(attempts=3))


def ours(manifest: Obj, placement: str = P) -> Obj:
    return stamped(manifest, "c1", placement, "sha256:old")


def run(cluster: FakeCluster, w: Work) -> Result:
    return applier(cluster).process(w)


def edited_out_of_band() -> FakeCluster:
    """A cluster holding our settings ConfigMap as we applied it, then edited by hand (k: v -> edited)."""
    c = FakeCluster()
    live = ours(cm())
    live["data"]["k"] = "edited"
    c.put(live)
    return c


# -- the table ----------------------------------------------------------------------------------
def test_missing_object_is_created_with_ownership_marks() -> None:
    c = FakeCluster()
    r = run(c, work(cm()))
    assert r.outcome == Outcome.APPLIED and r.owned and r.wrote
    meta = c.objects[("ConfigMap", "settings")]["metadata"]
    assert meta["labels"][OWNED_BY] == "c1"
    assert meta["annotations"][PLACEMENT] == P
    assert meta["annotations"][SPEC_HASH] == spec_hash(cm())


def test_reapplying_an_identical_manifest_is_unchanged() -> None:
    c = FakeCluster()
    run(c, work(cm()))
    assert run(c, work(cm())).outcome == Outcome.UNCHANGED


@pytest.mark.parametrize(
    ("existing", "strategy", "outcome"),
    [
        (cm(k="other"), {"whenToTakeOver": "Never"}, Outcome.SKIPPED_TAKE_OVER_NEVER),
        (cm(k="other"), {"whenToTakeOver": "IfNoDiff"}, Outcome.DIFF_REPORTED),
        (cm(), {"whenToTakeOver": "IfNoDiff"}, Outcome.TAKEN_OVER),
        (cm(k="other"), {"whenToTakeOver": "Always"}, Outcome.TAKEN_OVER),
        (
            ours(cm(), OTHER),
            {"whenToTakeOver": "Always", "allowCoOwnership": True},
            Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS,
        ),
        (
            _merge(cm(), {"metadata": {"ownerReferences": [{"kind": "Foo", "name": "f"}]}}),
            {},
            Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS,
        ),
        (
            _merge(cm(), {"metadata": {"ownerReferences": [{"kind": "Foo", "name": "f"}]}}),
            {"allowCoOwnership": True},
            Outcome.TAKEN_OVER,
        ),
    ],
)
def test_takeover_of_existing_objects(existing: Obj, strategy: dict[str, Any], outcome: Outcome) -> None:
    c = FakeCluster()
    c.put(existing)
    r = run(c, work(cm(), **strategy))
    assert r.outcome == outcome
    modified = c.objects[("ConfigMap", "settings")]["metadata"].get("annotations", {}).get(PLACEMENT) == P
    assert modified == (outcome == Outcome.TAKEN_OVER)


def test_ifnodiff_diff_is_reported_with_kubefleet_reason_and_details() -> None:
    c = FakeCluster()
    c.put(cm(k="other"))
    r = run(c, work(cm(), whenToTakeOver="IfNoDiff"))
    assert r.reason == "FailedToTakeOver"
    assert r.drift_type == DriftType.DIFF
    assert r.details == (PatchDetail("/data/k", "v", "other"),)


def test_object_left_by_a_placement_no_longer_in_the_bundle_can_be_taken_over() -> None:
    c = FakeCluster()
    c.put(ours(cm(), "ClusterResourcePlacement/deleted"))
    assert run(c, work(cm())).outcome == Outcome.TAKEN_OVER


def test_if_not_drifted_skips_the_apply_while_the_hub_manifest_is_unchanged() -> None:
    c = edited_out_of_band()
    r = run(c, work(cm(), whenToApply="IfNotDrifted"))
    assert r.outcome == Outcome.DRIFTED and r.drift_type == DriftType.DRIFT
    assert r.details == (PatchDetail("/data/k", "v", "edited"),)
    assert c.objects[("ConfigMap", "settings")]["data"]["k"] == "edited"


def test_if_not_drifted_reapplies_when_the_hub_manifest_changed() -> None:
    c = edited_out_of_band()
    r = run(c, work(cm(k="new"), whenToApply="IfNotDrifted"))
    assert r.outcome == Outcome.APPLIED
    assert c.objects[("ConfigMap", "settings")]["data"]["k"] == "new"


def test_always_overwrites_drift() -> None:
    c = edited_out_of_band()
    assert run(c, work(cm())).outcome == Outcome.APPLIED
    assert c.objects[("ConfigMap", "settings")]["data"]["k"] == "v"


@pytest.mark.parametrize(
    ("existing", "outcome"),
    [(None, Outcome.DIFF_REPORTED), (cm(k="x"), Outcome.DIFF_REPORTED), (cm(), Outcome.NO_DIFF)],
)
def test_report_diff_never_modifies(existing: Obj | None, outcome: Outcome) -> None:
    c = FakeCluster()
    if existing:
        c.put(existing)
    before = copy.deepcopy(c.objects)
    r = run(c, work(cm(), type="ReportDiff"))
    assert r.outcome == outcome
    assert c.objects == before
    assert all(dry for _, _, dry in c.applies)
    if existing is None:
        assert r.details == (PatchDetail("/", "(the whole object)", None),) and r.observed_generation is None


@pytest.mark.parametrize(
    ("strategy", "force"),
    [
        ({"type": "ServerSideApply"}, False),
        ({"type": "ServerSideApply", "serverSideApplyConfig": {"force": True}}, True),
        ({"type": "ClientSideApply"}, True),
        ({}, True),
    ],
)
def test_force_only_for_client_side_apply_or_when_configured(strategy: dict[str, Any], force: bool) -> None:
    c = FakeCluster()
    run(c, work(cm(), **strategy))
    assert [f for _, f, dry in c.applies if not dry] == [force]


def test_full_comparison_reports_post_apply_differences_as_drift() -> None:
    c = FakeCluster()
    live = ours(cm())
    live["data"]["extra"] = "set-by-someone"
    c.put(live)
    r = run(c, work(cm(), comparisonOption="FullComparison"))
    assert r.outcome == Outcome.UNCHANGED
    assert r.details == (PatchDetail("/data/extra", None, "set-by-someone"),)


# -- errors ---------------------------------------------------------------------------------------
def _failing(err: KubeError, times: int = 1) -> Callable[[FakeCluster], None]:
    return lambda c: c.fail.setdefault("settings", []).extend([err] * times)


@pytest.mark.parametrize(
    ("setup", "existing", "strategy", "outcome"),
    [
        (
            _failing(Conflict("conflict with kubectl", status=409)),
            cm(k="x"),
            {"type": "ServerSideApply"},
            Outcome.FAILED_TO_TAKE_OVER,
        ),
        (
            _failing(Conflict("conflict", status=409)),
            ours(cm(k="x")),
            {"type": "ServerSideApply"},
            Outcome.DRIFTED,
        ),
        (_failing(Forbidden("forbidden by RBAC", status=403)), None, {}, Outcome.FAILED_TO_APPLY),
        (_failing(Invalid("admission webhook denied", status=400)), None, {}, Outcome.FAILED_TO_APPLY),
        # the client (agent/apply/kube.py) retried it already: see tests/agent/apply/test_backoff.py
        (_failing(Retryable("slow down", status=429)), None, {}, Outcome.FAILED_TO_APPLY),
        (_failing(Retryable("etcd", status=500), times=5), None, {}, Outcome.FAILED_TO_APPLY),
    ],
)
def test_api_errors_become_outcomes(
    setup: Callable[[FakeCluster], None], existing: Obj | None, strategy: dict[str, Any], outcome: Outcome
) -> None:
    c = FakeCluster()
    if existing:
        c.put(existing)
    setup(c)
    assert run(c, work(cm(), **strategy)).outcome == outcome


def test_a_kind_the_server_does_not_serve_waits_for_its_crd() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "app"}}
    assert run(FakeCluster(), work(widget)).outcome == Outcome.WAITING_FOR_CRD


def test_secret_errors_never_carry_the_server_message() -> None:
    c = FakeCluster()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "settings", "namespace": "app"},
        "data": {"password": "c2VjcmV0"},
    }
    c.fail["settings"] = [
        Invalid(
            "data[password]: Invalid value: c2VjcmV0",
            status=422,
            causes=("data[password]: Invalid value: c2VjcmV0",),
        )
    ]
    r = run(c, work(secret))
    assert r.outcome == Outcome.FAILED_TO_APPLY
    assert "c2VjcmV0" not in r.message and "data[password]" in r.message


def test_owner_label_value_is_safe_for_any_cluster_name() -> None:
    assert owner_label_value("prod-eu-1") == "prod-eu-1"
    long = owner_label_value("x" * 70)
    assert long.startswith("h-") and len(long) <= 63
