"""`fleetsync demo --secure`: the demo fleet with signed commits, signed bundles and an encrypted Secret.

The demo runs once per module through the real CLI with ``--keep``; the tests then read what it
left — the bare remote, the agents' clones and the keys it made — with plain ``git`` and the
recipients' age identities, as an auditor would. The Secret's value is random per run and never
printed: the tests learn it by decrypting the committed SOPS file with a recipient's identity.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync.demo.story import TEMPLATE
from fleetsync.demo.trust import ALLOWED_SIGNERS, NAMESPACE, SECRET, SECRET_FILE, SECRET_KEY
from fleetsync_contract import sops
from fleetsync_contract.canonical import load
from reconciler.load.fleet import load_directory

CLUSTERS = sorted(load_directory(TEMPLATE).spec.members)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def yaml_at(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = load(text.encode() + b"\n")
    return doc


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    root: Path

    @property
    def remote(self) -> Path:
        return self.root / "remote.git"

    @property
    def keys(self) -> Path:
        return self.root / "keys"


@pytest.fixture(scope="module")
def demo() -> Iterator[Run]:
    result = CliRunner().invoke(app, ["demo", "--secure", "--keep"])
    kept = re.search(r"^kept (\S+) ", result.output, re.MULTILINE)
    assert kept, result.output
    run = Run(result.exit_code, result.output, Path(kept.group(1)))
    yield run
    shutil.rmtree(run.root, ignore_errors=True)


def recipients(run: Run) -> list[str]:
    return sorted(p.stem for p in run.keys.glob("*.agekey"))


def plaintext(run: Run) -> str:
    """The Secret's value, decrypted from the committed file with a recipient's identity."""
    doc = yaml_at(git(run.remote, "show", f"main:{SECRET_FILE}"))
    identity = sops.parse_identities((run.keys / f"{recipients(run)[0]}.agekey").read_text())
    return base64.b64decode(sops.decrypt(doc, identity)["data"][SECRET_KEY]).decode()


def all_objects(repo: Path) -> bytes:
    """Every object of a repository (every branch's whole history, reachable or not), decompressed."""
    return subprocess.run(
        ["git", "--git-dir", str(repo), "cat-file", "--batch", "--batch-all-objects"],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.slow
def test_the_secure_demo_passes_every_stage_including_trust(demo: Run) -> None:
    assert demo.exit_code == 0, demo.output
    for stage in ("repo:", "members:", "join:", "converge:", "staged:", "drift:", "trust:"):
        assert f"==> {stage}" in demo.output
    assert "demo finished: every stage passed" in demo.output
    assert "verify.commits: strict" in demo.output


@pytest.mark.slow
def test_every_fleet_commit_is_signed_by_the_committed_allowed_signer(demo: Run) -> None:
    signers = demo.root / "allowed_signers"
    signers.write_text(git(demo.remote, "show", f"main:{ALLOWED_SIGNERS}") + "\n")
    settings = yaml_at(git(demo.remote, "show", "main:fleetsync.yaml"))
    assert settings["verify"] == {"commits": "strict", "allowedSignersFile": ALLOWED_SIGNERS}
    verdicts = git(
        demo.remote, "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "--format=%G? %GS", "main"
    ).splitlines()
    assert len(verdicts) >= 3  # the fleet repo, the staged run, two approvals
    assert set(verdicts) == {"G demo@fleetsync.invalid"}, verdicts
    assert not git(demo.remote, "ls-tree", "-r", "--name-only", "main", "keys/")  # keys never committed


@pytest.mark.slow
def test_every_agent_runs_a_bundle_the_hubs_key_signed_and_reports_its_source_verified(demo: Run) -> None:
    hub_key = (demo.keys / "hub-signing.pub").read_text().split()
    signers = demo.root / "hub_signers"
    signers.write_text(f"hub {hub_key[0]} {hub_key[1]}\n")
    hub_fingerprint = re.search(r"^secure: the hub signs with (SHA256:\S+);", demo.output, re.M)
    assert hub_fingerprint, demo.output
    for cluster in CLUSTERS:
        report = yaml_at(git(demo.remote, "show", f"fleet/reports/{cluster}:report.yaml"))
        assert report["source"].get("verified", True) is True, (cluster, report["source"])
        assert report["source"]["fresh"] is True, (cluster, report["source"])
        assert report["source"]["signedBy"] == hub_fingerprint.group(1), (cluster, report["source"])
        status = yaml_at(git(demo.remote, "show", f"fleet/status:clusters/{cluster}.yaml"))
        conditions = {c["type"]: c for c in status["status"]["conditions"]}
        assert conditions["SourceVerified"]["status"] == "True", (cluster, conditions)
        verdict = git(
            demo.remote,
            "-c",
            f"gpg.ssh.allowedSignersFile={signers}",
            "log",
            "-1",
            "--format=%G? %GS",
            report["appliedBundleCommit"],
        )
        assert verdict == "G hub", cluster
    assert re.search(r"^agent prod-eu-1: runs bundle \w{12}, signed by SHA256:", demo.output, re.M)


@pytest.mark.slow
def test_the_secret_is_live_on_its_recipients_only_and_in_no_branch_clone_or_output(demo: Run) -> None:
    value = plaintext(demo)
    assert recipients(demo) == ["gpu-us-1", "prod-eu-1", "prod-eu-2", "prod-us-1", "prod-us-2"]
    for cluster in CLUSTERS:
        files = git(demo.remote, "ls-tree", "-r", "--name-only", f"fleet/bundles/{cluster}").splitlines()
        holds = any(f.endswith(f"/Secret/{NAMESPACE}/{SECRET}.yaml") for f in files)
        assert holds == (cluster in recipients(demo)), (cluster, files)
        line = f"{cluster}: live Secret {NAMESPACE}/{SECRET} holds the plaintext"
        assert (line in demo.output) == (cluster in recipients(demo)), cluster
    needles = [value.encode(), base64.b64encode(value.encode())]
    repos = [demo.remote, demo.root / "hub", *sorted((demo.root / "agents").glob("*/source-*.git"))]
    assert len(repos) == 2 + len(CLUSTERS)
    for repo in repos:
        objects = all_objects(repo)
        assert objects and not any(n in objects for n in needles), repo
    assert not any(n.decode() in demo.output for n in needles)
    assert "the Secret's value is in none of them" in demo.output
