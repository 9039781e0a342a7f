"""A Deployment whose rollout does not complete in time is marked ProgressDeadlineExceeded.

kube-controller-manager sets ``Progressing=False`` with reason ``ProgressDeadlineExceeded`` once a
rollout has made no progress for ``spec.progressDeadlineSeconds``; a new spec starts a new rollout
and ``Progressing`` is True again. kubesim does the same under ``never`` (a cluster without
kubelets, where no rollout completes), on real time: ``run_pending`` stands for a few seconds
passing and leaves the deadline alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kubesim.controllers import deadline_status
from kubesim.server import KubeSim
from kubesim.testing import running_sim


def deployment(deadline: int, image: str = "shop:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def progressing(sim: KubeSim) -> tuple[str, str]:
    obj = sim.get_object("apps/v1", "Deployment", "default", "web") or {}
    conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    c = conds.get("Progressing") or {}
    return c.get("status", ""), c.get("reason", "")


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.05)


def test_a_rollout_that_never_completes_exceeds_its_progress_deadline_and_a_new_spec_restarts_it() -> None:
    with running_sim(controllers="never") as sim:
        sim.apply(deployment(deadline=1), manager="kubectl")
        sim.controllers.run_pending()  # a few seconds: still progressing
        assert progressing(sim) == ("True", "ReplicaSetUpdated")
        wait_for(lambda: progressing(sim) == ("False", "ProgressDeadlineExceeded"))
        obj = sim.get_object("apps/v1", "Deployment", "default", "web")
        assert obj is not None
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        assert obj["status"]["unavailableReplicas"] == 2
        conds = {c["type"]: c for c in obj["status"]["conditions"]}
        assert conds["Available"]["reason"] == "MinimumReplicasUnavailable"  # untouched
        assert conds["Progressing"]["message"] == 'ReplicaSet "web" has timed out progressing.'
        sim.apply(deployment(deadline=600, image="shop:2"), manager="kubectl")  # the fix: a new rollout
        assert progressing(sim) == ("True", "ReplicaSetUpdated")


def test_a_completed_rollout_or_a_newer_spec_is_never_marked() -> None:
    with running_sim(controllers="instant") as sim:
        sim.apply(deployment(deadline=1), manager="kubectl")
        done = sim.get_object("apps/v1", "Deployment", "default", "web")
    assert done is not None and done["metadata"]["generation"] == 1
    assert deadline_status(done, 1, "2026-01-01T00:00:00Z") is None  # every replica updated and available
    stalled = {**done, "status": {**done["status"], "availableReplicas": 0}}
    assert deadline_status(stalled, 1, "2026-01-01T00:00:00Z") is not None
    assert deadline_status(stalled, 0, "2026-01-01T00:00:00Z") is None  # the spec moved on since
