"""The MemberCluster's ``SourceVerified``: what each agent said about the hub's signature on its bundle.

A real hub and real agents against kubesim members, all through Git (tests/support/simfleet.py):
two agents are given the hub's public key (``--verify-key-file``), one is not. While the hub
signs nothing, the two refuse its bundles, and ``fleet/status`` — read with ``fleetsync get
clusters`` as a person would — says so with the agent's reason and the refused commit; once the
hub signs, they run its bundles and the condition turns True, naming the key; the third agent,
which checks nothing, never gets the condition.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.signatures import SignatureCheck, load_trusted
from fleetsync.cli import app
from fleetsync.demo.fleet import LocalFleet
from fleetsync_contract.report import ClusterReport, SourceState
from reconciler.gitstore.signing import load_signer
from reconciler.status.members import source_condition
from tests.support.simfleet import Clock, deployment_app, member, sim_fleet
from tests.support.sshkeys import make_key, public_line

VERIFYING = ("eu-1", "eu-2")
FILES = {
    "clusters/eu-1.yaml": member("eu-1"),
    "clusters/eu-2.yaml": member("eu-2"),
    "clusters/eu-3.yaml": member("eu-3"),
    "apps/shop.yaml": deployment_app("shop", "web", 1, "web"),
    "placements/shop.yaml": """apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: shop}
spec:
  resourceSelectors: [{group: "", version: v1, kind: Namespace, name: shop}]
  policy: {placementType: PickAll}
""",
}


def get_clusters(fleet: LocalFleet, *output: str) -> str:
    assert fleet.repo is not None
    result = CliRunner().invoke(app, ["get", "clusters", *output, "--repo", str(fleet.repo.remote)])
    assert result.exit_code == 0, result.output
    return result.stdout


def source_verified(fleet: LocalFleet) -> dict[str, dict[str, Any]]:
    docs = json.loads(get_clusters(fleet, "-o", "json"))["items"]
    return {
        d["metadata"]["name"]: c
        for d in docs
        for c in d["status"]["conditions"]
        if c["type"] == "SourceVerified"
    }


def column(fleet: LocalFleet) -> dict[str, str]:
    """The SOURCE-VERIFIED column of the table, by cluster ("" where the cell is empty)."""
    lines = get_clusters(fleet).splitlines()
    start = lines[0].index("SOURCE-VERIFIED")
    return {
        ln.split()[0]: ln[start:].split(" ")[0] if ln[start : start + 1] != " " else "" for ln in lines[1:]
    }


def bundle_tip(fleet: LocalFleet, cluster: str) -> str:
    assert fleet.repo is not None
    return subprocess.run(
        ["git", "--git-dir", str(fleet.repo.remote), "rev-parse", f"fleet/bundles/{cluster}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def rounds(fleet: LocalFleet, n: int = 2) -> None:
    for _ in range(n):
        fleet.sync()
        fleet.reconcile()


@pytest.mark.slow
def test_source_verified_is_false_with_the_reason_and_commit_then_true_and_absent_without_a_key(
    tmp_path: Path,
) -> None:
    key = make_key(tmp_path / "keys", "hub")
    (tmp_path / "hub.pub").write_text(public_line(key) + "\n")
    with sim_fleet(tmp_path, FILES, Clock()) as fleet:
        for cluster in VERIFYING:  # agent run --verify-key-file hub.pub
            source = fleet.members[cluster].source
            source.signatures = SignatureCheck(load_trusted([tmp_path / "hub.pub"]))
        rounds(fleet)  # the hub signs nothing yet: both verifying agents refuse its bundles

        refused = source_verified(fleet)
        assert sorted(refused) == list(VERIFYING)  # eu-3 checks nothing: no condition at all
        for cluster in VERIFYING:
            cond = refused[cluster]
            assert (cond["status"], cond["reason"]) == ("False", "Unsigned"), cond
            assert f"refused bundle {bundle_tip(fleet, cluster)} " in cond["message"], cond
            assert "the commit is not signed" in cond["message"]
        assert column(fleet) == {"eu-1": "False", "eu-2": "False", "eu-3": ""}

        assert fleet.hub is not None
        fleet.hub.sign_commits(load_signer(key))  # hub run --signing-key-file: bundles signed again
        rounds(fleet)

        verified = source_verified(fleet)
        assert sorted(verified) == list(VERIFYING)
        hub_key = load_signer(key).fingerprint
        for cluster in VERIFYING:
            cond = verified[cluster]
            assert (cond["status"], cond["reason"]) == ("True", "SignatureVerified"), cond
            assert hub_key in cond["message"]
        assert column(fleet) == {"eu-1": "True", "eu-2": "True", "eu-3": ""}


def report(source: SourceState) -> ClusterReport:
    return ClusterReport(cluster="eu-1", agent_version="t", observed_time="", source=source)


def test_what_a_report_says_is_shape_checked_and_bounded_before_it_reaches_status() -> None:
    hostile = SourceState(False, "x" * 5000, False, "Not a reason!", "not-a-commit")
    cond = source_condition(report(hostile))
    assert cond is not None
    assert (cond.reason, len(cond.message) < 1200) == ("VerificationFailed", True)
    assert "refused its newest bundle" in cond.message and "not-a-commit" not in cond.message
    assert source_condition(report(SourceState(signed_by="SHA256:junk"))) is None
    assert source_condition(report(SourceState())) is None
    assert source_condition(None) is None
