"""A stopping hub and ``kubectl kustomize``: a child we kill is "interrupted", never a finding."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from reconciler.load.kustomize import Interrupted, interrupt_children, render


def _repo(tmp_path: Path) -> Path:
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    (app / "kustomization.yaml").write_text("resources: []\n")
    return tmp_path / "repo"


def _fake_kubectl(tmp_path: Path, body: str) -> str:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return str(fake)


def _wait_for(path: Path, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.01)


def test_kustomize_runs_in_its_own_session_so_a_terminal_ctrl_c_does_not_reach_it(tmp_path: Path) -> None:
    out = tmp_path / "sid"
    kubectl = _fake_kubectl(tmp_path, f"ps -o sid= -p $$ > {out}.tmp; mv {out}.tmp {out}\necho '{{}}'\n")
    repo = _repo(tmp_path)
    render(repo, repo / "app", kubectl=kubectl)
    assert int(out.read_text()) != os.getsid(0)


def test_a_child_killed_by_a_stopping_hub_is_interrupted_not_a_finding(tmp_path: Path) -> None:
    started = tmp_path / "started"
    kubectl = _fake_kubectl(tmp_path, f"touch {started}\nexec sleep 30\n")
    repo = _repo(tmp_path)

    def kill_when_started() -> None:
        _wait_for(started)
        interrupt_children()

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    with pytest.raises(Interrupted, match="interrupted"):
        render(repo, repo / "app", kubectl=kubectl, timeout=20)
    killer.join()


def test_a_child_killed_by_a_signal_is_transient_not_the_users_mistake(tmp_path: Path) -> None:
    kubectl = _fake_kubectl(tmp_path, "kill -INT $$\nsleep 5\n")
    repo = _repo(tmp_path)
    # A job started in the background (``cmd &``, as CI may run the suite) begins with SIGINT
    # ignored, and children inherit an ignored signal: the fake kubectl could not die of it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted, match="signal 2"):
            render(repo, repo / "app", kubectl=kubectl)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_interrupting_with_nothing_running_kills_nothing_and_later_renders_work(tmp_path: Path) -> None:
    assert interrupt_children() == 0
    kubectl = _fake_kubectl(tmp_path, "echo 'kind: ConfigMap'\n")
    repo = _repo(tmp_path)
    assert render(repo, repo / "app", kubectl=kubectl).text == "kind: ConfigMap\n"
