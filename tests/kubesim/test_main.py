"""``python -m kubesim`` (what ``fleetsync dev kube-server`` runs): serves until SIGTERM, after writing a kubeconfig."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kubernetes import config
from kubernetes.client import VersionApi

from kubesim.__main__ import main


def test_serves_until_terminated_after_writing_its_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "sim.kubeconfig"
    log = tmp_path / "log"
    with (
        log.open("w") as out,
        subprocess.Popen(
            [sys.executable, "-m", "kubesim", "--kubeconfig", str(kubeconfig), "--controllers", "delay:1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        ) as proc,
    ):
        try:
            deadline = time.monotonic() + 20
            while not (kubeconfig.exists() and kubeconfig.stat().st_size):
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no kubeconfig written"
                threading.Event().wait(0.05)
            assert kubeconfig.stat().st_mode & 0o077 == 0
            assert json.loads(kubeconfig.read_text())["current-context"] == "kubesim"
            api = config.new_client_from_config(str(kubeconfig))
            assert VersionApi(api).get_code().git_version == "v1.36.2"
            api.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
    assert "kubesim serving https://127.0.0.1:" in log.read_text()


def test_rejects_an_unknown_controllers_mode(tmp_path: Path) -> None:
    assert main(["--kubeconfig", str(tmp_path / "k"), "--controllers", "sometimes"]) == 2
    assert not (tmp_path / "k").exists()
