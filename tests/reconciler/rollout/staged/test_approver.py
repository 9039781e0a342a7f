"""Who approved a stage: the hub records the approval commit's author, and with verifyApprovals
only a well-signed approval commit counts (real git repos, a throwaway SSH signing key)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetsync_contract.canonical import load
from fleetsync_contract.report import Condition, PlacementReport
from reconciler.api.placement import Placement
from reconciler.api.staged import ApprovalRequest
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.staged import staged_inputs
from reconciler.load.fleet import FleetSpec
from reconciler.load.settings import read_settings
from reconciler.rollout.rolling import BindingState
from reconciler.rollout.staged.approve import Approval, approve
from reconciler.rollout.staged.approver import ApproverLookup, git_approvers
from reconciler.rollout.staged.step import StagedResult, step
from reconciler.scheduler.model import Binding, Schedule, ScheduledCondition
from reconciler.status.memory import BindingRecord, PlacementMemory, SnapshotRecord
from tests.support.stagedfixtures import (
    RING_LABELS,
    RINGS_STRATEGY,
    T0,
    WEB_CRP,
    fleet_checkout,
    git,
    parse,
    run,
)

REQUEST_FILE = "approvalrequests/ClusterApprovalRequest/_cluster/r1-after-one.yaml"
APPROVAL_PATH = "approvals/r1-after-one.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return fleet_checkout(tmp_path / "fleet")


def ssh_signing(repo: Path, tmp_path: Path) -> None:
    """A throwaway SSH key signs this repo's commits and is the one allowed signer."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed: cannot make a throwaway signing key")
    key = tmp_path / "signer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@example.com {key.with_suffix('.pub').read_text().strip()}\n")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(key))
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))


def committed_approval(repo: Path) -> ApprovalRequest:
    req = parse((repo / APPROVAL_PATH).read_text(), APPROVAL_PATH)
    assert isinstance(req, ApprovalRequest) and req.approved
    return req


def drive(
    approvals: Mapping[str, ApprovalRequest], approvers: ApproverLookup | None
) -> tuple[StagedResult, bool]:
    """Reconciles of a run whose stage one (cluster a) is done: (last pass, whether b was bound)."""
    placement = parse(WEB_CRP)
    assert isinstance(placement, Placement)
    store: dict[str, bytes] = {}
    records = (
        BindingRecord("a", BindingState.BOUND, 0, "h0", 1, "v1"),
        BindingRecord("b", BindingState.SCHEDULED, 0, "h0"),
    )
    memory = PlacementMemory(
        "ClusterResourcePlacement/web", "h0", 0, (SnapshotRecord(0, "x"), SnapshotRecord(1, "y")), records
    )
    sched = Schedule(
        "ClusterResourcePlacement/web",
        "h0",
        0,
        (Binding("a", BindingState.BOUND, "h0"), Binding("b", BindingState.SCHEDULED, "h0")),
        (),
        ScheduledCondition.from_count(2, 2),
        2,
    )
    ok = PlacementReport(
        "ClusterResourcePlacement/web",
        1,
        "sha256:x",
        (
            Condition("Applied", "True", "AllManifestsApplied"),
            Condition("Available", "True", "AllManifestsAvailable"),
        ),
        (),
    )

    def previous(path: str) -> Mapping[str, Any] | None:
        return load(store[path]) if path in store else None

    spec = FleetSpec(
        strategies={"ClusterStagedUpdateStrategy//s": RINGS_STRATEGY}, runs={"r1": run()}, approvals=approvals
    )
    bound = False
    out: StagedResult | None = None
    for minute in range(4):
        out = step(
            staged_inputs(
                placement,
                sched,
                memory,
                spec,
                RING_LABELS,
                {},
                lambda c, r: ok if c == "a" else None,
                previous,
                T0 + timedelta(minutes=minute),
                approvers=approvers,
            )
        )
        store.update(out.files)
        bound = bound or "b" in out.decision.bind
    assert out is not None
    return out, bound


def recorded(out: StagedResult) -> dict[str, Any]:
    doc = load(out.files[REQUEST_FILE])
    assert isinstance(doc, dict)
    return doc


def test_the_hub_records_the_author_of_the_commit_that_approved(repo: Path) -> None:
    approve(repo, Approval("r1", "one"), T0)
    head = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("later\n")
    git(repo, "commit", "-q", "-am", "unrelated later commit", "--author", "Bob <bob@example.com>")
    with HubRepo.local(repo) as hub:
        out, bound = drive(
            {"a": committed_approval(repo)}, git_approvers(hub, git(repo, "rev-parse", "HEAD"), False)
        )
    assert bound
    by = recorded(out)["status"]["approvedBy"]
    assert (by["name"], by["email"], by["commit"]) == ("Ada Lovelace", "ada@example.com", head)
    assert "signer" not in by


def test_an_edit_that_keeps_the_approval_does_not_change_who_approved(repo: Path) -> None:
    approve(repo, Approval("r1", "one"), T0)
    first = git(repo, "rev-parse", "HEAD")
    with (repo / APPROVAL_PATH).open("a") as f:
        f.write("# reformatted\n")
    git(repo, "commit", "-q", "-am", "tidy", "--author", "Bob <bob@example.com>")
    with HubRepo.local(repo) as hub:
        out, _ = drive(
            {"a": committed_approval(repo)}, git_approvers(hub, git(repo, "rev-parse", "HEAD"), False)
        )
    assert recorded(out)["status"]["approvedBy"]["commit"] == first


def test_under_verification_an_unsigned_approval_does_not_count_and_status_says_why(repo: Path) -> None:
    approve(repo, Approval("r1", "one"), T0)
    with HubRepo.local(repo) as hub:
        out, bound = drive(
            {"a": committed_approval(repo)}, git_approvers(hub, git(repo, "rev-parse", "HEAD"), True)
        )
    assert not bound
    status = recorded(out)["status"]
    (verified,) = [c for c in status["conditions"] if c["type"] == "ApprovalVerified"]
    assert (verified["status"], verified["reason"]) == ("False", "UnsignedApproval")
    assert git(repo, "rev-parse", "--short=12", "HEAD") in verified["message"]
    assert not any(c["type"] == "Approved" for c in status["conditions"]) and "approvedBy" not in status


def test_under_verification_a_signed_approval_counts_and_records_the_signer(
    repo: Path, tmp_path: Path
) -> None:
    ssh_signing(repo, tmp_path)
    approve(repo, Approval("r1", "one"), T0, sign=True)
    with HubRepo.local(repo) as hub:
        out, bound = drive(
            {"a": committed_approval(repo)}, git_approvers(hub, git(repo, "rev-parse", "HEAD"), True)
        )
    assert bound
    status = recorded(out)["status"]
    by = status["approvedBy"]
    assert (by["name"], by["signer"], by["signature"]) == ("Ada Lovelace", "ada@example.com", "G")
    assert by["signingKey"].startswith("SHA256:")
    assert [c["status"] for c in status["conditions"] if c["type"] == "ApprovalVerified"] == ["True"]


def test_a_signature_by_a_key_that_is_not_allowed_does_not_count(repo: Path, tmp_path: Path) -> None:
    ssh_signing(repo, tmp_path)
    (tmp_path / "allowed_signers").write_text("")
    approve(repo, Approval("r1", "one"), T0, sign=True)
    with HubRepo.local(repo) as hub:
        out, bound = drive(
            {"a": committed_approval(repo)}, git_approvers(hub, git(repo, "rev-parse", "HEAD"), True)
        )
    assert not bound
    (verified,) = [c for c in recorded(out)["status"]["conditions"] if c["type"] == "ApprovalVerified"]
    assert (verified["status"], verified["reason"]) == ("False", "UnknownSigner")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", False), ("verifyApprovals: true\n", True), ("verifyApprovals: false\n", False)],
)
def test_verify_approvals_is_a_repo_setting_off_by_default(text: str, expected: bool) -> None:
    settings, findings = read_settings(text.encode())
    assert (settings.verify_approvals, findings) == (expected, ())


def test_a_bad_verify_approvals_value_is_a_finding_and_keeps_the_default() -> None:
    settings, findings = read_settings(b"verifyApprovals: sometimes\n")
    assert settings.verify_approvals is False and "verifyApprovals" in str(findings[0])


@pytest.mark.parametrize(
    ("letter", "signer"),
    [(x, s) for x in ("G", "U", "B", "N", "E", "X", "Y", "R", "") for s in ("", "ada@example.com")],
)
def test_an_approval_counts_exactly_when_a_fleet_commit_signed_the_same_way_would(
    letter: str, signer: str
) -> None:
    from reconciler.gitstore.history import PathCommit
    from reconciler.gitstore.signatures import CommitSignature
    from reconciler.rollout.staged.approver import judge

    sha = "a" * 40
    approval = judge(
        PathCommit(sha, "Ada", "ada@example.com", "2026-11-25T03:00:00Z", letter, signer, "k"), True
    )
    commit = CommitSignature(sha, (), letter, signer, "k", "Ada", "ada@example.com")
    assert approval.accepted == commit.good
    assert approval.accepted == (letter == "G" or (letter == "U" and bool(signer)))  # U needs a known signer
