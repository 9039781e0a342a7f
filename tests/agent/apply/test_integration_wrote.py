"""Whether an apply wrote: a controller writing status between the agent's read and its apply
must not turn a no-op apply into Applied (and so into a needless report commit)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.apply import manager
from agent.apply.kube import KubeClient
from agent.apply.manager import Applier, Strategy, Work
from fleetsync_contract.bundle import manifest_identity
from fleetsync_contract.report import Outcome
from tests.support.agentfixtures import Member

P = "ClusterResourcePlacement/web"


class StatusWriterBetweenReadAndApply:
    """The member's client, with a controller's status write injected just before each real apply."""

    def __init__(self, kube: KubeClient, write_status: Any):
        self._kube = kube
        self._write_status = write_status
        self.applies = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kube, name)

    def apply(
        self, manifest: dict[str, Any], *, force: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        if not dry_run:
            self.applies += 1
            self._write_status()
        return self._kube.apply(manifest, force=force, dry_run=dry_run)


def deployment(namespace: str) -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def test_a_status_write_between_read_and_apply_leaves_a_no_op_apply_unchanged(
    sim_member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent skips an apply the live object already satisfies; this test wants the apply sent
    # (as for a manifest the server normalises), so the shortcut is turned off.
    monkeypatch.setattr(manager, "satisfies", lambda live, want: False)
    member = sim_member
    namespace = f"{member.prefix}-app"
    member.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, force=True)
    manifest = deployment(namespace)
    work = Work(P, manifest_identity(manifest), manifest, Strategy.parse({"type": "ServerSideApply"}))
    versions: list[tuple[str, str]] = []  # resourceVersion before and after each status write

    def controller_writes_status() -> None:
        before = member.get("apps/v1", "Deployment", namespace, "web")
        if before is None:
            return
        after = member.sim.edit(
            "apps/v1",
            "Deployment",
            namespace,
            "web",
            lambda o: o.setdefault("status", {}).update(collisionCount=len(versions) + 1),
            manager="kube-controller-manager",
            subresource="status",
        )
        versions.append((before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"]))

    cluster = StatusWriterBetweenReadAndApply(member.kube, controller_writes_status)
    applier = Applier(cluster, "member-1", "sha256:b", [P], sleep=lambda _s: None)
    assert applier.process(work).outcome == Outcome.APPLIED  # created
    again = applier.process(work)
    assert cluster.applies == 2  # the apply was really sent, after the status write
    [(read, written)] = versions
    assert read != written  # the status write moved the resourceVersion between read and apply
    assert again.outcome == Outcome.UNCHANGED
    assert not again.wrote and again.reason == "ManifestAlreadyUpToDate"
    changed = {**manifest, "spec": {**manifest["spec"], "replicas": 2}}
    third = applier.process(Work(P, work.identity, changed, work.strategy))
    assert third.outcome == Outcome.APPLIED and third.wrote
