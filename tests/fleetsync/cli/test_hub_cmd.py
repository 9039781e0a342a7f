"""``fleetsync hub run --leader-elect``: the flags an operator sets, and a clear refusal without a cluster."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.cli.hub import _elector
from kubesim.testing import running_sim


def test_leader_election_without_a_kubeconfig_is_one_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    result = CliRunner().invoke(app, ["hub", "run", "--repo", str(tmp_path), "--leader-elect"])
    assert result.exit_code == 2, result.output
    assert "--leader-elect" in result.output and "Traceback" not in result.output


def test_leader_election_defaults_are_client_gos_and_identities_are_unique(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("POD_NAME", raising=False)
    with running_sim(controllers="never") as sim:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        one, two = (_elector(None, "fleetsync-hub", (15.0, 10.0, 2.0)) for _ in range(2))
        try:
            c = one.config
            assert (c.name, c.namespace) == ("fleetsync-hub", "default")
            assert (c.lease_duration, c.renew_deadline, c.retry_period) == (
                timedelta(seconds=15),
                timedelta(seconds=10),
                timedelta(seconds=2),
            )
            assert c.identity.startswith(socket.gethostname() + "_") and c.identity != two.config.identity
            assert one.try_once() and not two.try_once()  # the flags reach a real Lease
        finally:
            one.stop()
            two.stop()


def test_a_renew_deadline_longer_than_the_lease_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["hub", "run", "--repo", str(tmp_path), "--leader-elect", "--leader-elect-renew-deadline", "20"],
    )
    assert result.exit_code == 2 and "renew deadline" in result.output
