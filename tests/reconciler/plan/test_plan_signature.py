"""``fleetsync plan`` shows the head commit's signature in one line, and with
``verify.commits: strict`` a change the hub would not render is a blocking finding (plan's "checks failed" exit code)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.plan.build import ExitCode
from reconciler.plan.run import run
from tests.support.signingfixtures import Fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def test_plan_blocks_an_unsigned_head_when_strict(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    head = fleet.commit(None, "unsigned")
    out, err, code = run(fleet.path, fleet.anchor, head, "text", NOW)
    assert (err, code) == ("", ExitCode.CHECKS_FAILED)
    assert f"signature: head {head[:12]} is not signed (verify.commits: strict)" in out
    assert "UnsignedCommit" in out


def test_plan_shows_a_good_signature_and_does_not_block(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    head = fleet.commit("ada", "signed")
    out, _, code = run(fleet.path, fleet.anchor, head, "text", NOW)
    assert f"signature: head {head[:12]} is signed by ada (verify.commits: strict)" in out
    assert code != ExitCode.CHECKS_FAILED


def test_plan_with_verification_off_shows_the_signature_and_does_not_block(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, settings="verifyApprovals: false\n")
    head = fleet.commit(None, "unsigned")
    out, _, code = run(fleet.path, fleet.anchor, head, "text", NOW)
    assert f"signature: head {head[:12]} is not signed (verify.commits: off)" in out
    assert code != ExitCode.CHECKS_FAILED
