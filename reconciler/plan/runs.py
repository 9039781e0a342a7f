"""The staged update runs a change starts, and the ones it makes fail to initialize.

A run's status comes from the hub's own code, not from a guess: the run files the placement's
rollout stage wrote (reconciler/hub/rollout.py) or, for a run whose placement is missing or not
External, what ``step_orphans`` (reconciler/rollout/staged/step.py) writes for it in the hub loop:
``Initialized=False``, ``UpdateRunInitializedFailed``. Initialization is terminal in KubeFleet (a
fixed run is a new run), so a run the change makes fail to initialize blocks the merge; a run
whose initialization base already failed the same way is shown and does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.api.staged import StagedUpdateRun
from reconciler.hub.inputs import HubInputs
from reconciler.hub.outcome import Placed
from reconciler.hub.pipeline import not_external
from reconciler.load.fleet import FleetSpec
from reconciler.rollout.staged.documents import run_path
from reconciler.rollout.staged.model import INITIALIZED
from reconciler.rollout.staged.step import step_orphans
from reconciler.status.memory import load_hub_yaml


def run_files(
    spec: FleetSpec, placed: Mapping[str, Placed], inputs: HubInputs, now: datetime
) -> dict[str, bytes]:
    """Every staged run's status file as the hub would write it for this commit."""
    files: dict[str, bytes] = {}
    for p in placed.values():
        files.update(p.run_files)
    files.update(
        step_orphans(spec.runs.values(), spec.placements, inputs.previous_doc, now, not_external(spec))
    )
    return files


def _status(files: Mapping[str, bytes], run: StagedUpdateRun) -> dict[str, Any]:
    data = files.get(run_path(run.kind, run.namespace, run.name))
    doc = load_hub_yaml(data) if data else None
    status = doc.get("status") if isinstance(doc, dict) else None
    return status if isinstance(status, dict) else {}


def _conditions(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in status.get("conditions") or [] if isinstance(c, dict)]


def init_failure(files: Mapping[str, bytes], run: StagedUpdateRun) -> str:
    """The message of the run's ``Initialized=False`` condition ("" when it initializes)."""
    return next(
        (
            str(c.get("message", ""))
            for c in _conditions(_status(files, run))
            if c.get("type") == INITIALIZED and c.get("status") == "False"
        ),
        "",
    )


def _fields(run: StagedUpdateRun) -> tuple[str, str, str, str]:
    return (run.placement_name, run.strategy_name, run.resource_snapshot_index, str(run.state))


def run_plans(
    base_spec: FleetSpec | None,
    base_files: Mapping[str, bytes],
    head_spec: FleetSpec,
    head_files: Mapping[str, bytes],
) -> dict[str, list[dict[str, Any]]]:
    """placement key -> head's new or changed staged update runs, with their stages, and every
    run the change makes fail to initialize (``blocking``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    old = base_spec.runs if base_spec is not None else {}
    for key, run in sorted(head_spec.runs.items()):
        was = old.get(key)
        failure = init_failure(head_files, run)
        blocking = bool(failure) and (was is None or init_failure(base_files, was) != failure)
        if was is not None and _fields(was) == _fields(run) and not blocking:
            continue
        change = "new" if was is None else "changed" if _fields(was) != _fields(run) else "unchanged"
        out.setdefault(run.placement_key, []).append(
            _run_doc(run, change, _status(head_files, run), blocking)
        )
    return out


def _run_doc(run: StagedUpdateRun, change: str, status: Mapping[str, Any], blocking: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run": f"{run.kind}/{run.namespace + '/' if run.namespace else ''}{run.name}",
        "change": change,
        "state": str(run.state),
        "strategy": run.strategy_name,
        "stages": [
            {
                "name": str(stage.get("stageName", "")),
                "clusters": [str(c.get("clusterName", "")) for c in stage.get("clusters") or []],
            }
            for stage in status.get("stagesStatus") or []
        ],
    }
    if status.get("resourceSnapshotIndexUsed"):
        doc["resourceSnapshotIndex"] = str(status["resourceSnapshotIndexUsed"])
    failed = next((c for c in _conditions(status) if c.get("status") == "False"), None)
    if failed is not None:
        doc["error"] = str(failed.get("message", ""))
        doc["reason"] = str(failed.get("reason", ""))
    doc["blocking"] = blocking
    return doc
