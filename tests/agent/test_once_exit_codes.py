"""``agent run --once`` tells the truth in its exit code (fleetsync/cli/conventions.py):
0 every object as the hub wants it (drift the agent corrected included), 1 findings (an object
that failed, or drift or a diff left in place), 3 Git or the cluster unreachable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from agent.apply.manager import Result as ObjectResult
from agent.loop import SyncSummary
from fleetsync.cli import app
from fleetsync_contract.report import DriftType, Outcome, PatchDetail
from tests.support.agentfixtures import Hub, Member, placement


def once(member: Member, hub: Hub, state: Path, repo: str | None = None) -> Result:
    return CliRunner().invoke(
        app,
        [
            "agent",
            "run",
            "--repo",
            repo or str(hub.bare),
            "--cluster",
            hub.cluster,
            "--kubeconfig",
            str(member.kubeconfig),
            "--once",
            "--state-dir",
            str(state),
            "--namespace",
            f"fs-{member.prefix}",
        ],
    )


def objs(member: Member) -> list[dict[str, Any]]:
    ns = f"{member.prefix}-app"
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}] + [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": ns}, "data": {"k": n}}
        for n in ("bad", "good")
    ]


def deployment(member: Member, app_label: str) -> dict[str, Any]:
    labels = {"app": app_label}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": f"{member.prefix}-app"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
            },
        },
    }


# -- on KubeSim and on a real cluster ----------------------------------------------------------------
def test_once_exits_0_when_every_object_applied(member: Member, hub: Hub, tmp_path: Path) -> None:
    hub.publish([(placement(), o) for o in objs(member)])
    result = once(member, hub, tmp_path / "s")
    assert result.exit_code == 0, result.output


def test_once_exits_1_when_an_immutable_field_is_refused(member: Member, hub: Hub, tmp_path: Path) -> None:
    p = placement()
    ns = objs(member)[0]
    hub.publish([(p, ns), (p, deployment(member, "a"))])
    assert once(member, hub, tmp_path / "s").exit_code == 0
    hub.publish([(p, ns), (p, deployment(member, "b"))])  # spec.selector is immutable: 422
    result = once(member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output
    assert f"apps/Deployment/{member.prefix}-app/web: FailedToApply" in result.output


def test_once_exits_1_when_a_report_diff_placement_finds_a_diff(
    member: Member, hub: Hub, tmp_path: Path
) -> None:
    hub.publish([(placement(type="ReportDiff"), o) for o in objs(member)])
    result = once(member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output
    assert "DiffReported" in result.output


def test_once_exits_0_after_correcting_drift(member: Member, hub: Hub, tmp_path: Path) -> None:
    """Drift the agent set right is not a finding: the cluster is as the hub wants it (Flux, Argo CD
    with self-heal: a corrected drift is a successful sync)."""
    hub.publish([(placement(), o) for o in objs(member)])
    assert once(member, hub, tmp_path / "s").exit_code == 0
    ref = member.kube.kind("v1", "ConfigMap")
    member.kube.merge_patch(ref, "good", f"{member.prefix}-app", {"data": {"k": "edited"}})
    result = once(member, hub, tmp_path / "s")
    assert result.exit_code == 0, result.output
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "good")
    assert live is not None and live["data"]["k"] == "good"


def test_once_exits_1_on_drift_left_in_place(member: Member, hub: Hub, tmp_path: Path) -> None:
    p = placement(whenToApply="IfNotDrifted")
    hub.publish([(p, o) for o in objs(member)])
    assert once(member, hub, tmp_path / "s").exit_code == 0
    ref = member.kube.kind("v1", "ConfigMap")
    member.kube.merge_patch(ref, "good", f"{member.prefix}-app", {"data": {"k": "edited"}})
    result = once(member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output
    assert "Drifted" in result.output


def test_once_exits_3_when_git_is_unreachable(member: Member, hub: Hub, tmp_path: Path) -> None:
    result = once(member, hub, tmp_path / "s", repo=str(tmp_path / "no-such-fleet.git"))
    assert result.exit_code == 3, result.output


# -- faults only KubeSim can be told to make ---------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "names"),
    [
        ({"status": 403, "message": "configmaps is forbidden: User cannot patch"}, ("bad",)),
        ({"status": 422, "message": "ConfigMap is invalid: field is immutable"}, ("bad",)),
        ({"status": 400, "message": "bad request: simulated fault"}, ("bad",)),
        ({"status": 403, "times": 0}, ("app", "bad", "good")),  # every object of the bundle
    ],
    ids=["403", "422", "400", "all-failed"],
)
def test_once_exits_1_when_objects_fail_to_apply(
    sim_member: Member, hub: Hub, tmp_path: Path, fault: dict[str, Any], names: tuple[str, ...]
) -> None:
    hub.publish([(placement(), o) for o in objs(sim_member)])
    for name in names:
        kind, name = ("Namespace", f"{sim_member.prefix}-app") if name == "app" else ("ConfigMap", name)
        sim_member.sim.faults.add(verb="patch", kind=kind, name=name, **fault)
    result = once(sim_member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output
    assert "FailedToApply" in result.output


def test_once_exits_1_on_a_webhook_denial(sim_member: Member, hub: Hub, tmp_path: Path) -> None:
    hub.publish([(placement(), o) for o in objs(sim_member)])
    sim_member.sim.faults.webhook_denial(verb="patch", kind="ConfigMap", name="bad", message="no")
    result = once(sim_member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output


# -- which outcomes are findings -----------------------------------------------------------------
_FINDING = {
    Outcome.APPLIED: False,
    Outcome.UNCHANGED: False,
    Outcome.TAKEN_OVER: False,
    Outcome.NO_DIFF: False,
    Outcome.REMOVED_BY_OVERRIDE: False,
    Outcome.PRUNED: False,
    Outcome.FAILED_TO_TAKE_OVER: True,
    Outcome.SKIPPED_TAKE_OVER_NEVER: True,
    Outcome.DRIFTED: True,
    Outcome.DIFF_REPORTED: True,
    Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS: True,
    Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS: True,
    Outcome.FAILED_TO_APPLY: True,
    Outcome.WAITING_FOR_CRD: True,
}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_classified_as_a_finding_or_not(outcome: Outcome) -> None:
    summary = SyncSummary("b", (ObjectResult("p", "/ConfigMap/ns/x", "v1", outcome),), None)
    assert bool(summary.findings()) == _FINDING[outcome]


def test_drift_an_apply_could_not_remove_is_a_finding() -> None:
    """FullComparison: fields the apply cannot own (defaulted, another writer's) stay as drift."""
    left = ObjectResult(
        "p",
        "/ConfigMap/ns/x",
        "v1",
        Outcome.APPLIED,
        details=(PatchDetail("/data/extra", "", "x"),),
        drift_type=DriftType.DRIFT,
    )
    assert SyncSummary("b", (left,), None).findings() == (left,)


def test_the_help_of_agent_run_states_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["agent", "run", "--help"], env={"COLUMNS": "400"})
    text = re.sub(r"[\s│]+", " ", result.output)
    assert (
        "0 ok, 1 objects failed or drifted (not corrected), 2 usage, 3 Git or the cluster unreachable" in text
    )


def test_a_failed_secret_is_a_finding_without_its_value(sim_member: Member, hub: Hub, tmp_path: Path) -> None:
    ns, *_ = objs(sim_member)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": ns["metadata"]["name"]},
        "stringData": {"password": "hunter2-s3cr3t"},
    }
    hub.publish([(placement(), ns), (placement(), secret)])
    sim_member.sim.faults.add(
        verb="patch",
        kind="Secret",
        name="creds",
        status=422,
        message='data[password]: "hunter2-s3cr3t" is invalid',
    )
    result = once(sim_member, hub, tmp_path / "s")
    assert result.exit_code == 1, result.output
    assert "/Secret/" in result.output and "FailedToApply" in result.output
    assert "hunter2" not in result.output


def test_a_repo_path_relative_to_the_working_directory_is_the_fleet_repo(
    sim_member: Member, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--repo fleet.git`` names ./fleet.git, as for every other command (git runs in the
    agent's state directory, where a relative path would name something else)."""
    hub.publish([(placement(), o) for o in objs(sim_member)])
    monkeypatch.chdir(hub.bare.parent)
    result = once(sim_member, hub, tmp_path / "s", repo=hub.bare.name)
    assert result.exit_code == 0, result.output
