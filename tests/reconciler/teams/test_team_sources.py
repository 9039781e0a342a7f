"""Which team repos the hub contacts: only those a verified, loaded fleet commit names."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.teams import team_ref
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files
from tests.support.gitdaemon import git
from tests.support.teamfixtures import team_files, team_yaml

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SIGNERS = ".fleetsync/allowed_signers"
STRICT = f"verify: {{commits: strict, allowedSignersFile: {SIGNERS}}}\n"

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def test_an_unverified_commit_naming_a_team_repo_does_not_make_the_hub_fetch_it(tmp_path: Path) -> None:
    team = FleetWork(tmp_path / "team-x")
    team.commit(team_files("team-x"))
    key = tmp_path / "ada"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", str(key)], check=True)
    fleet = FleetWork(tmp_path / "fleet")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("commit.gpgsign", "true")):
        git(fleet.path, "config", name, value)
    files = base_files() | {
        "fleetsync.yaml": STRICT,
        SIGNERS: f"ada {key.with_suffix('.pub').read_text().strip()}\n",
    }
    fleet.commit(files)
    for c in CLUSTERS:
        fleet.beat(c, NOW)
    with HubRepo.local(fleet.path) as repo:
        reconcile_once(repo, NOW)
    git(fleet.path, "config", "commit.gpgsign", "false")
    fleet.commit(files | {"teams/team-x.yaml": team_yaml("team-x", str(team.path), ["team-x"])}, "unsigned")
    with HubRepo.local(fleet.path) as repo:
        assert not reconcile_once(repo, NOW).loaded  # held: not verified
    assert team_ref("team-x") not in fleet.refs("refs/fleetsync/")
    git(fleet.path, "reset", "-q", "--hard", "HEAD~1")  # the unsigned commit is dropped
    git(fleet.path, "config", "commit.gpgsign", "true")
    fleet.commit(files | {"teams/team-x.yaml": team_yaml("team-x", str(team.path), ["team-x"])}, "signed")
    with HubRepo.local(fleet.path) as repo:
        assert reconcile_once(repo, NOW).loaded
    assert fleet.refs("refs/fleetsync/")[team_ref("team-x")] == git(team.path, "rev-parse", "HEAD")
