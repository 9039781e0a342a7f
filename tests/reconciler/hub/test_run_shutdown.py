"""Stopping ``hub run`` at any moment: the reconcile in flight completes or writes nothing, and
``fleet/status`` never records a valid commit as failed."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import ReconcileResult
from reconciler.hub.run import Runner, log_result
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files, joined_fleet
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
ROOT = Path(__file__).resolve().parents[3]


def hub_refs(work: FleetWork) -> dict[str, str]:
    return {r: s for r, s in work.refs().items() if r.startswith(("refs/heads/fleet/bundles/", STATUS))}


def stages_of_one_reconcile(tmp_path: Path) -> list[str]:
    work = joined_fleet(tmp_path / "count", NOW)
    seen: list[str] = []
    with HubRepo.local(work.path) as repo:
        Runner(repo, clock=lambda: NOW, progress=seen.append).tick()
    assert hub_refs(work), "the reference reconcile wrote nothing"
    return seen


def test_a_stop_at_any_stage_boundary_completes_the_reconcile_or_writes_nothing(tmp_path: Path) -> None:
    stages = stages_of_one_reconcile(tmp_path)
    assert len(stages) >= 4
    for k in range(len(stages) + 1):  # stop before the k-th stage boundary; k == len: never
        work = joined_fleet(tmp_path / f"fleet-{k}", NOW)
        results: list[ReconcileResult] = []
        with HubRepo.local(work.path) as repo:
            runner = Runner(repo, clock=lambda: NOW, on_result=results.append)
            calls = iter(range(len(stages) + 1))
            runner.progress = lambda _msg, r=runner, c=calls, k=k: r.stop() if next(c) == k - 1 else None
            runner.tick()
        refs = hub_refs(work)
        if results:
            assert results[0].loaded and not results[0].noop
            assert set(refs) == {u for u in results[0].written}, f"k={k}: half-written refs {refs}"
            assert "ok: false" not in work.read(STATUS, "status.yaml")
        else:
            assert refs == {}, f"k={k}: an abandoned reconcile wrote {sorted(refs)}"


def test_a_stopped_runner_does_not_start_another_reconcile(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW)
    with HubRepo.local(work.path) as repo:
        runner = Runner(repo, clock=lambda: NOW)
        runner.stop()
        runner.tick()
    assert hub_refs(work) == {}


def test_an_idle_poll_logs_at_debug_and_a_write_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="reconciler.hub.run")
    log_result(ReconcileResult("a" * 40, True, (), ()))
    log_result(ReconcileResult("b" * 40, True, (), ("refs/heads/fleet/status",)))
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [
        (logging.DEBUG, f"commit {'a' * 12}: nothing to write"),
        (logging.INFO, f"commit {'b' * 12}: wrote 1 ref(s)"),
    ]


KUBECTL = """#!/bin/sh
# a slow kubectl: the stop lands while it runs at some delays
sleep 0.3
cat <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: from-kustomize, namespace: web}
data: {a: b}
YAML
"""


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.9, 2.0])
def test_sigterm_on_hub_run_exits_0_and_never_records_a_false_failure(tmp_path: Path, delay: float) -> None:
    files = base_files()
    files["apps/kust/kustomization.yaml"] = "resources: []\n"
    work = joined_fleet(tmp_path / "fleet", NOW, files)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FLEETSYNC_LOG_LEVEL": "info"}
    before = hub_refs(work)
    command = [sys.executable, "-c", "from fleetsync.cli import main; main()", "hub", "run"]
    proc = subprocess.Popen(
        [*command, "--repo", str(work.path), "--interval", "3600"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline().decode()]
        while "hub running" not in lines[-1]:  # the handlers are in place from here on
            assert lines[-1], "".join(lines)
            lines.append(proc.stderr.readline().decode())
        time.sleep(delay)  # the point of the test: the signal lands at varied moments of a reconcile
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    text = "".join(lines) + err.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text and "Error submitting job" not in text, text
    assert "hub stopped" in text, text
    refs = hub_refs(work)
    if refs != before:
        status = git(work.path, "show", f"{STATUS}:status.yaml")
        assert "ok: false" not in status and "exit code" not in status, status


def test_polls_that_find_nothing_to_write_log_nothing_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW)
    with HubRepo.local(work.path) as repo:
        runner = Runner(repo, clock=lambda: NOW, on_result=log_result)
        runner.tick()
        caplog.set_level(logging.INFO)
        caplog.clear()
        runner.tick()  # nothing changed: the session answers early
        work.beat(next(iter(CLUSTERS)), NOW)
        runner.tick()  # an input moved, but nothing to write
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
