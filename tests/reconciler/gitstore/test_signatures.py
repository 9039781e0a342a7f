"""Signed fleet commits: with ``verify.commits: strict`` only commits signed by an allowed key
render, and nothing signed later vouches for an unsigned commit below it (real git, throwaway
SSH keys from ssh-keygen, and a throwaway OpenPGP key when gpg is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import head_signature, verify_commits
from tests.support.signingfixtures import SIGNERS, STRICT, Fleet, git

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def test_an_unsigned_fleet_commit_is_held_and_the_finding_names_it_its_author_and_the_fix(
    fleet: Fleet,
) -> None:
    bad = fleet.commit(None, "unsigned")
    with HubRepo.local(fleet.path) as repo:
        verdict = verify_commits(repo, fleet.anchor, bad)
    finding = verdict.finding()
    assert verdict.held is not None and verdict.held.commit == bad and finding is not None
    assert bad[:12] in finding.message and "Mallory Example <mallory@example.com>" in finding.message
    assert "not signed" in finding.message and "git commit --amend --no-edit -S" in finding.message


def test_a_signed_commit_on_top_does_not_launder_an_unsigned_one_below_it(fleet: Fleet) -> None:
    fleet.commit("ada", "good")
    bad = fleet.commit(None, "unsigned in between")
    fleet.commit("ada", "signed on top")
    assert fleet.verify() == (bad, "UnsignedCommit")


def test_commits_all_signed_by_an_allowed_key_render(fleet: Fleet) -> None:
    fleet.commit("ada", "one")
    fleet.commit("ada", "two")
    assert fleet.verify() == (None, "")


def test_a_commit_signed_by_a_key_that_is_not_allowed_is_held(fleet: Fleet) -> None:
    bad = fleet.commit("eve", "eve signs")
    assert fleet.verify() == (bad, "UnknownSigner")


def test_adding_a_key_takes_a_commit_signed_by_a_key_already_allowed(fleet: Fleet) -> None:
    fleet.write(SIGNERS, fleet.keys["ada"][1] + fleet.keys["eve"][1])
    bad = fleet.commit("eve", "eve adds herself")
    assert fleet.verify() == (bad, "UnknownSigner")


def test_a_key_added_by_an_allowed_signer_signs_the_commits_after_it(fleet: Fleet) -> None:
    fleet.write(SIGNERS, fleet.keys["ada"][1] + fleet.keys["eve"][1])
    fleet.commit("ada", "ada adds eve")
    fleet.commit("eve", "eve signs")
    assert fleet.verify() == (None, "")


def test_turning_verification_off_takes_a_signed_commit(fleet: Fleet) -> None:
    fleet.write("fleetsync.yaml", "verify: {commits: off}\n")
    bad = fleet.commit(None, "switch it off, unsigned")
    assert fleet.verify() == (bad, "UnsignedCommit")


def test_with_the_setting_off_every_commit_renders_as_before(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, settings="verifyApprovals: false\n")
    fleet.commit(None, "unsigned")
    fleet.commit("eve", "unknown key")
    assert fleet.verify() == (None, "")


def test_the_first_render_judges_only_the_head_with_its_own_settings(fleet: Fleet) -> None:
    fleet.commit(None, "unsigned history")
    fleet.commit("ada", "signed head")
    assert fleet.verify(anchor="") == (None, "")


def test_a_rewritten_away_last_render_holds_when_strict_and_renders_when_off(tmp_path: Path) -> None:
    gone = "1" * 40
    strict = Fleet(tmp_path / "strict")
    strict.commit("ada", "signed")
    held, note = strict.verify(anchor=gone)
    assert held is None and "no longer in the fleet repo" in note
    off = Fleet(tmp_path / "off", settings="verifyApprovals: false\n")
    off.commit(None, "unsigned")
    assert off.verify(anchor=gone) == (None, "")


def _merge(fleet: Fleet, signer: str) -> tuple[str, str]:
    """An unsigned commit on a side branch merged into main by ``signer``: (side commit, merge)."""
    git(fleet.path, "checkout", "-q", "-b", "pr")
    side = fleet.commit(None, "unsigned PR commit")
    git(fleet.path, "checkout", "-q", "main")
    key = fleet.keys[signer][0]
    git(fleet.path, "-c", f"user.signingkey={key}", "merge", "-q", "-S", "--no-ff", "-m", "merge pr", "pr")
    return side, git(fleet.path, "rev-parse", "HEAD")


def test_a_signed_merge_does_not_launder_the_unsigned_commits_it_merges(fleet: Fleet) -> None:
    side, _ = _merge(fleet, "ada")
    assert fleet.verify() == (side, "UnsignedCommit")


def test_a_merge_signed_by_a_host_signer_vouches_for_the_side_it_merged(tmp_path: Path) -> None:
    settings = STRICT + "  hostSigners: [host]\n"
    fleet = Fleet(tmp_path, settings=settings, signers=("ada", "host"))
    _merge(fleet, "host")
    fleet.commit("ada", "after the merge")
    assert fleet.verify() == (None, "")


def test_a_host_signer_vouches_only_for_merge_commits(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, settings=STRICT + "  hostSigners: [host]\n", signers=("ada", "host"))
    bad = fleet.commit(None, "unsigned")
    fleet.commit("host", "host-signed, not a merge")
    assert fleet.verify() == (bad, "UnsignedCommit")


def test_plan_reads_the_head_signature_with_the_heads_settings(fleet: Fleet) -> None:
    head = fleet.commit("eve", "eve signs")
    with HubRepo.local(fleet.path) as repo:
        sig, verification = head_signature(repo, head)
    assert (sig.commit, sig.good, sig.reason, verification.commits) == (
        head,
        False,
        "UnknownSigner",
        "strict",
    )


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed: OpenPGP signing not testable")
def test_openpgp_signatures_are_checked_against_the_hubs_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Ada <ada@example.com>",
            "ed25519",
            "sign",
            "0",
        ],
        check=True,
        capture_output=True,
    )
    fleet = Fleet(tmp_path, settings="verify: {commits: strict}\n")  # no file: the hub's own config
    git(fleet.path, "config", "gpg.format", "openpgp")
    git(fleet.path, "config", "user.signingkey", "ada@example.com")
    (fleet.path / "n.txt").write_text("gpg")
    git(fleet.path, "commit", "-q", "-a", "-S", "-m", "gpg signed")
    assert fleet.verify() == (None, "")
    stranger = tmp_path / "empty-keyring"
    stranger.mkdir(mode=0o700)
    monkeypatch.setenv("GNUPGHOME", str(stranger))  # a hub that does not know Ada's key
    held, reason = fleet.verify()
    assert held == git(fleet.path, "rev-parse", "HEAD") and reason == "UnverifiableSignature"
