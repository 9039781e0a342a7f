"""The hub with ``verify.commits: strict``: an unsigned fleet commit is held (the last good render
stays and ``lastLoad`` names the commit and its author), signed commits render, and with the setting
off every commit renders as before (real git, throwaway SSH keys)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleetsync_contract.canonical import load
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
SIGNERS = ".fleetsync/allowed_signers"

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def signed_fleet(tmp_path: Path, settings: str) -> tuple[FleetWork, dict[str, str]]:
    """A joined fleet whose first commit is signed by Ada, the one allowed signer."""
    key = tmp_path / "ada"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", str(key)], check=True)
    work = FleetWork(tmp_path / "fleet")
    git(work.path, "config", "gpg.format", "ssh")
    git(work.path, "config", "user.signingkey", str(key))
    git(work.path, "config", "commit.gpgsign", "true")
    files = base_files() | {
        "fleetsync.yaml": settings,
        SIGNERS: f"ada {key.with_suffix('.pub').read_text().strip()}\n",
    }
    work.commit(files)
    for c in CLUSTERS:
        work.beat(c, NOW)
    return work, files


def memory(work: FleetWork) -> dict[str, Any]:
    doc: dict[str, Any] = load(work.read(STATUS, "status.yaml").encode())
    return doc


def reconcile(work: FleetWork) -> None:
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)


STRICT = f"verify: {{commits: strict, allowedSignersFile: {SIGNERS}}}\n"


def test_an_unsigned_commit_is_held_even_under_a_signed_one_and_the_last_good_render_stays(
    tmp_path: Path,
) -> None:
    work, files = signed_fleet(tmp_path, STRICT)
    reconcile(work)
    good = work.refs()
    assert memory(work)["lastLoad"]["ok"] is True
    git(work.path, "config", "commit.gpgsign", "false")
    bad = work.commit(files | {"apps/web/settings.yaml": base_files("2")["apps/web/settings.yaml"]})
    git(work.path, "config", "commit.gpgsign", "true")
    head = work.commit(files | {"apps/web/settings.yaml": base_files("3")["apps/web/settings.yaml"]})
    reconcile(work)
    now = memory(work)
    assert now["sourceCommit"] == good["refs/heads/main"]  # nothing after the last good commit renders
    assert (now["lastLoad"]["commit"], now["lastLoad"]["ok"]) == (head, False)
    message = now["lastLoad"]["findings"][0]["message"]
    assert bad[:12] in message and "not signed" in message
    bundles = {r: s for r, s in work.refs().items() if "/bundles/" in r}
    assert bundles == {r: s for r, s in good.items() if "/bundles/" in r}


def test_signed_commits_render(tmp_path: Path) -> None:
    work, files = signed_fleet(tmp_path, STRICT)
    reconcile(work)
    head = work.commit(files | {"apps/web/settings.yaml": base_files("2")["apps/web/settings.yaml"]})
    reconcile(work)
    assert (memory(work)["sourceCommit"], memory(work)["lastLoad"]["ok"]) == (head, True)


def test_with_verification_off_unsigned_commits_render_as_before(tmp_path: Path) -> None:
    work, files = signed_fleet(tmp_path, "verifyApprovals: false\n")
    reconcile(work)
    git(work.path, "config", "commit.gpgsign", "false")
    head = work.commit(files | {"apps/web/settings.yaml": base_files("2")["apps/web/settings.yaml"]})
    reconcile(work)
    assert (memory(work)["sourceCommit"], memory(work)["lastLoad"]["ok"]) == (head, True)
