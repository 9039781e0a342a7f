"""``fleetsync get runs``: where a run stands, what it waits for and since when, from fleet/status."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract.canonical import dump
from reconciler.errors import UserError
from reconciler.rollout.staged.documents import run_doc, run_path
from reconciler.status.memory import STATUS_FILE, HubMemory, LoadRecord, dump_memory
from reconciler.status.runs import run_docs, stage_rows, summary, table
from tests.support.stagedfixtures import Fleet, strategy

STAGES = """
- name: canary
  labelSelector: {matchLabels: {ring: canary}}
  afterStageTasks: [{type: TimedWait, waitTime: 1h}, {type: Approval}]
- name: prod
  labelSelector: {matchLabels: {ring: prod}}
  beforeStageTasks: [{type: Approval}]
"""
LABELS = {"can-1": {"ring": "canary"}, "prod-1": {"ring": "prod"}, "prod-2": {"ring": "prod"}}


def files(fleet: Fleet) -> dict[str, bytes]:
    return {
        run_path(fleet.run.kind, fleet.run.namespace, fleet.run.name): dump(run_doc(fleet.run, fleet.status)),
        "placements/ClusterResourcePlacement/web.yaml": b"kind: ClusterResourcePlacement\n",
    }


def test_a_run_waiting_for_its_clusters_names_them_and_when_they_started() -> None:
    fleet = Fleet(strategy(STAGES), LABELS)
    fleet.step()
    (doc,) = run_docs(files(fleet))
    assert summary(doc) == [
        "r1",
        "web",
        "Run",
        "1",
        "UpdateRunProgressing",
        "canary",
        "can-1 to become available",
        "2026-11-25T03:00:00Z",
    ]


def test_after_stage_tasks_show_the_wait_end_and_the_approve_command() -> None:
    fleet = Fleet(strategy(STAGES), LABELS)
    fleet.step()
    fleet.available("can-1")
    fleet.step(timedelta(minutes=2))
    (doc,) = run_docs(files(fleet), "r1")
    assert summary(doc)[4:] == [
        "UpdateRunWaiting",
        "canary",
        "TimedWait until 2026-11-25T04:02:00Z; approval r1-after-canary (fleetsync approve r1 canary --after)",
        "2026-11-25T03:02:00Z",
    ]
    assert stage_rows(doc) == [
        ["canary", "StageUpdatingWaiting", "1/1", summary(doc)[6], "2026-11-25T03:02:00Z"],
        ["prod", "NotStarted", "0/2", "", ""],
        ["kubernetes-fleet.io/deleteStage", "NotStarted", "0/0", "", ""],
    ]
    text = table([doc], single=True)
    assert text.splitlines()[0].split() == [
        "NAME",
        "PLACEMENT",
        "STATE",
        "RESOURCE-INDEX",
        "STATUS",
        "STAGE",
        "WAITING-FOR",
        "SINCE",
    ]
    assert any(line.split()[:3] == ["STAGE", "STATUS", "CLUSTERS"] for line in text.splitlines() if line)


def test_a_before_stage_approval_is_what_the_run_waits_for() -> None:
    fleet = Fleet(strategy(STAGES), LABELS)
    fleet.step()
    fleet.available("can-1")
    fleet.step(timedelta(minutes=2))
    fleet.step(timedelta(hours=2))
    fleet.approve("r1-after-canary", "canary")
    fleet.step(timedelta(minutes=1))
    (doc,) = run_docs(files(fleet))
    assert summary(doc)[5:7] == ["prod", "approval r1-before-prod (fleetsync approve r1 prod --before)"]


def test_a_failed_run_says_why() -> None:
    fleet = Fleet(strategy(STAGES), LABELS)
    fleet.step()
    fleet.fail("can-1")
    fleet.step(timedelta(minutes=1))
    (doc,) = run_docs(files(fleet))
    assert summary(doc)[4:7] == [
        "UpdateRunFailed",
        "canary",
        "cannot continue the updateRun: the cluster `can-1` in the stage canary has failed",
    ]


def test_an_unknown_run_is_an_error() -> None:
    with pytest.raises(UserError, match="run 'nope' not found"):
        run_docs({}, "nope")


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, input=stdin
    ).stdout.strip()


def test_get_runs_reads_the_status_branch(tmp_path: Path) -> None:
    fleet = Fleet(strategy(STAGES), LABELS)
    fleet.step()
    repo = tmp_path / "fleet"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    entries = []
    rendered = dump_memory(HubMemory("f" * 40, LoadRecord("f" * 40, True, ())))  # the hub rendered a commit
    for path, data in {**files(fleet), STATUS_FILE: rendered}.items():
        blob = git(repo, "hash-object", "-w", "--stdin", stdin=data.decode())
        entries.append((path, blob))
    index = tmp_path / "index"
    env_git = ["env", f"GIT_INDEX_FILE={index}"]
    for path, blob in entries:
        subprocess.run(
            [
                *env_git,
                "git",
                "-C",
                str(repo),
                "update-index",
                "--add",
                "--cacheinfo",
                f"100644,{blob},{path}",
            ],
            check=True,
        )
    tree = subprocess.run(
        [*env_git, "git", "-C", str(repo), "write-tree"], check=True, capture_output=True, text=True
    ).stdout.strip()
    commit = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=hub",
            "-c",
            "user.email=hub@example.com",
            "commit-tree",
            tree,
            "-m",
            "status",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    git(repo, "update-ref", "refs/heads/fleet/status", commit)
    result = CliRunner().invoke(app, ["get", "runs", "r1", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert "can-1 to become available" in result.output and "kubernetes-fleet.io/deleteStage" in result.output
    result = CliRunner().invoke(app, ["get", "runs", "-o", "json", "--repo", str(repo)])
    assert json.loads(result.stdout)["items"][0]["status"]["resourceSnapshotIndexUsed"] == "1"
