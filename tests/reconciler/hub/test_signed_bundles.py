"""A signing hub: every bundle commit it writes is signed, and a bundle branch whose tip is not
signed with its current key (signing just turned on, or the key rotated) is written again."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signing import load_signer
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import joined_fleet
from tests.support.gitdaemon import git
from tests.support.sshkeys import allowed_signers, make_key

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
BUNDLE = "fleet/bundles/eu-1"


def verified(repo: Path, ref: str, signers: Path) -> bool:
    done = subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", ref],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def reconcile(path: Path, key: Path | None) -> tuple[str, ...]:
    with HubRepo.local(path) as repo:
        repo.sign_commits(load_signer(key) if key else None)
        return reconcile_once(repo, NOW).written


def test_turning_signing_on_and_rotating_the_key_re_signs_every_bundle_once(tmp_path: Path) -> None:
    old, new = make_key(tmp_path / "keys", "old"), make_key(tmp_path / "keys", "new")
    work = joined_fleet(tmp_path / "fleet", NOW)
    reconcile(work.path, None)
    unsigned = git(work.path, "rev-parse", BUNDLE)
    tree = git(work.path, "rev-parse", f"{BUNDLE}^{{tree}}")

    assert f"refs/heads/{BUNDLE}" in reconcile(work.path, old)
    signed = git(work.path, "rev-parse", BUNDLE)
    assert git(work.path, "rev-parse", f"{signed}^") == unsigned  # history kept: the agent's descent check
    assert verified(work.path, BUNDLE, allowed_signers(tmp_path / "old.signers", old))
    assert git(work.path, "diff", "--stat", tree, f"{BUNDLE}^{{tree}}", "--", "manifests") == ""
    assert f"refs/heads/{BUNDLE}" not in reconcile(work.path, old)  # signed already: nothing written

    reconcile(work.path, new)
    assert verified(work.path, BUNDLE, allowed_signers(tmp_path / "new.signers", new))
    assert verified(work.path, "fleet/status", allowed_signers(tmp_path / "new2.signers", new))
    message = git(work.path, "log", "-1", "--format=%B", BUNDLE)
    assert "Fleet-Commit: " + git(work.path, "rev-parse", "main") in message
    assert "Fleet-Commit-Signer: unsigned" in message
