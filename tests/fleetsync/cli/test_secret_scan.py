"""The plaintext of an encrypted Secret reaches its member cluster and nothing else: no git object
(bundles, reports, status, history), no log line, no `plan` or `get` output holds it."""

from __future__ import annotations

import base64
import logging
import subprocess
from datetime import timedelta
from pathlib import Path

import pyrage
import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract import sops
from fleetsync_contract.canonical import dump
from tests.support.simfleet import Clock, sim_fleet

PLAINTEXT = "scan-Plaintext-4d1c9e"
PLAINTEXT_2 = "scan-Plaintext-second-8a2f"
KEYS = {c: pyrage.x25519.Identity.generate() for c in ("eu-1", "eu-2")}


def member(name: str) -> str:
    return (
        f"apiVersion: cluster.kubernetes-fleet.io/v1beta1\nkind: MemberCluster\nmetadata:\n  name: {name}\n"
        f"  annotations:\n    fleetsync.io/age-recipient: {KEYS[name].to_public()}\n"
        "spec: {heartbeatPeriodSeconds: 60}\n"
    )


def secret(value: str) -> str:
    plain = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "shop"},
        "stringData": {"password": value},
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }
    return dump(sops.encrypt(plain, [str(KEYS["eu-1"].to_public())])).decode()


FILES = {
    "clusters/eu-1.yaml": member("eu-1"),
    "clusters/eu-2.yaml": member("eu-2"),
    "apps/shop/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
    "apps/shop/creds.yaml": secret(PLAINTEXT),
    "placements/shop.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: shop}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: shop}]
  policy: {placementType: PickAll}
""",
}


def all_git_objects(repo: Path) -> str:
    """Every object in the repository, reachable or not, decompressed."""
    out = subprocess.run(
        ["git", "cat-file", "--batch", "--batch-all-objects"], cwd=repo, capture_output=True, check=True
    ).stdout
    return out.decode("utf-8", "replace")


def forms(*values: str) -> list[str]:
    return [v for value in values for v in (value, base64.b64encode(value.encode()).decode())]


@pytest.mark.slow
def test_no_output_of_hub_agent_plan_or_get_holds_the_plaintext(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    clock = Clock()
    with sim_fleet(tmp_path, FILES, clock) as fleet:
        for name, key in KEYS.items():
            kube = fleet.members[name].kube
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fleetsync-system"}})
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "fleetsync-age-identity", "namespace": "fleetsync-system"},
                    "stringData": {"identity.agekey": f"{key}\n"},
                }
            )
        fleet.sync()  # the first heartbeats: the clusters join
        fleet.reconcile()
        fleet.sync()
        fleet.reconcile()
        kube = fleet.members["eu-1"].kube
        live = kube.get(kube.kind("v1", "Secret"), "creds", "shop")
        assert live is not None and base64.b64decode(live["data"]["password"]).decode() == PLAINTEXT
        other = fleet.members["eu-2"].kube
        assert other.get(other.kind("v1", "Secret"), "creds", "shop") is None  # not a recipient

        assert fleet.repo is not None
        fleet.repo.commit({"apps/shop/creds.yaml": secret(PLAINTEXT_2)}, "rotate the password")
        runner = CliRunner()
        remote = str(fleet.repo.remote)
        for fmt in ("markdown", "json"):
            result = runner.invoke(
                app,
                [
                    "plan",
                    str(fleet.repo.work),
                    "--base",
                    "HEAD~1",
                    "--head",
                    "HEAD",
                    "-o",
                    fmt,
                    "--reports-from",
                    remote,
                ],
            )
            assert result.exit_code in (0, 1), result.output
            assert "shop/creds" in result.output  # the change is shown, its values are not
            outputs.append(result.output)
        for _ in range(3):  # the rolling update moves the cluster to the new snapshot
            clock.now += timedelta(seconds=61)
            fleet.reconcile()
            fleet.sync()
        fleet.reconcile()
        for kind in ("placements", "clusters"):
            for fmt in ("yaml", "json"):
                result = runner.invoke(app, ["get", kind, "--repo", remote, "-o", fmt])
                assert result.exit_code in (0, 1), result.output
                outputs.append(result.output)
        live = kube.get(kube.kind("v1", "Secret"), "creds", "shop")
        assert live is not None and base64.b64decode(live["data"]["password"]).decode() == PLAINTEXT_2
        git_dirs = sorted(
            h.parent for h in (tmp_path / "fleet").rglob("HEAD") if (h.parent / "objects").is_dir()
        )
        assert len(git_dirs) >= 4  # the remote, the author's work tree, the hub's and the agents' caches
        scanned = {
            "git objects (remote, work tree, hub and agent caches)": "".join(
                all_git_objects(p) for p in git_dirs
            ),
            "logs": caplog.text,
            "plan and get outputs": "\n".join(outputs),
        }
    for where, text in scanned.items():
        for value in forms(PLAINTEXT, PLAINTEXT_2):
            assert value not in text, f"{where} holds a Secret value"
