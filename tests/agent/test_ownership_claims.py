"""Who owns a member, decided from the inventory's claim alone (agent/ownership.py), and git's
reason for a failure read from its stderr (agent/source.py ``git_reason``): table-driven."""

from __future__ import annotations

import pytest

from agent.errors import ClaimRefused
from agent.ownership import Claim, Standing, fleet_key, judge
from agent.source import git_reason

A = "https://git.example.com/a/fleet.git"
B = "https://git.example.com/b/fleet.git"
SHA = "1a2b3c4d5e6f" + "0" * 28


@pytest.mark.parametrize(
    ("spelling", "same_as"),
    [
        ("https://git.example.com/a/fleet", A),
        ("https://GIT.example.com/a/fleet.git/", A),
        ("HTTPS://git.example.com/a/fleet.git", A),
        ("https://***@git.example.com/a/fleet.git", A),
        ("file:///srv/fleet.git", "/srv/fleet"),
        ("/srv/fleet.git/", "/srv/fleet.git"),
    ],
)
def test_spellings_of_one_fleet_url_have_one_key(spelling: str, same_as: str) -> None:
    assert fleet_key(spelling) == fleet_key(same_as)


@pytest.mark.parametrize(
    ("one", "other"),
    [(A, B), ("https://git.example.com/A/fleet.git", A), ("/srv/fleet.git", "/srv/other.git")],
)
def test_other_repositories_have_other_keys(one: str, other: str) -> None:
    assert fleet_key(one) != fleet_key(other)


@pytest.mark.parametrize(
    ("claim", "standing"),
    [
        (Claim(), Standing.NONE),  # no inventory yet
        (Claim("", "", ""), Standing.NONE),
        (Claim("eu-1", A, SHA), Standing.OURS),
        (Claim("eu-1", "https://git.example.com/a/fleet/", SHA), Standing.OURS),  # another spelling
        (Claim("eu-1", B, SHA), Standing.UNPROVEN),  # another fleet URL: ours only if we descend
        (Claim("", "", SHA), Standing.UNPROVEN),  # an inventory older than claims
        (Claim("eu-1", "", SHA), Standing.UNPROVEN),  # written without a fleet
    ],
)
def test_a_claim_by_this_cluster_name_is_ours_or_unproven(claim: Claim, standing: Standing) -> None:
    assert judge(claim, "eu-1", A) is standing


def test_a_claim_by_another_cluster_name_is_refused_naming_owner_and_hand_over() -> None:
    with pytest.raises(ClaimRefused) as caught:
        judge(Claim("m1", B, SHA), "eu-1", A, inventory="ConfigMap fleetsync-system/fleetsync-inventory")
    message = str(caught.value)
    assert "cluster m1 of fleet " + B in message and "cluster eu-1 of fleet " + A in message
    assert "--take-over-from m1" in message and "fleetsync-system/fleetsync-inventory" in message
    assert "\n" not in message and "rewritten" not in message


@pytest.mark.parametrize(
    ("claim", "flag"),
    [(Claim("m1", B, SHA), "m1"), (Claim("eu-1", B, SHA), "eu-1"), (Claim("", "", SHA), SHA[:12])],
)
def test_take_over_from_the_named_owner_starts_afresh(claim: Claim, flag: str) -> None:
    assert judge(claim, "eu-1", A, flag) is Standing.NONE


def test_take_over_from_someone_else_is_still_refused() -> None:
    with pytest.raises(ClaimRefused):
        judge(Claim("m1", B, SHA), "eu-1", A, "m2")


def test_take_over_never_drops_this_agents_own_claim() -> None:
    assert judge(Claim("eu-1", A, SHA), "eu-1", A, "eu-1") is Standing.OURS


@pytest.mark.parametrize("commit", ["--output=/tmp/x", "HEAD", "1a2b", SHA + "\n", "G" * 40])
def test_a_bundle_commit_that_is_not_a_commit_id_is_no_claim(commit: str) -> None:
    claim = Claim.from_data({"cluster": "eu-1", "fleet": A, "bundleCommit": commit})
    assert claim.commit == ""


def test_a_claim_round_trips_through_configmap_data() -> None:
    claim = Claim("eu-1", A, SHA)
    assert Claim.from_data(claim.to_data()) == claim


@pytest.mark.parametrize(
    ("stderr", "reason", "fix"),
    [
        (
            "fatal: '/x.git' does not appear to be a git repository\nfatal: Could not read from remote "
            "repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n",
            "'/x.git' does not appear to be a git repository",
            "check --repo",
        ),
        (
            "fatal: unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: errno=Connection refused\n\n",
            "unable to connect to 127.0.0.1: 127.0.0.1[0: 127.0.0.1]: errno=Connection refused",
            "reachable",
        ),
        (
            "remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://h/x.git/'\n",
            "Authentication failed for 'https://h/x.git/'",
            "Git credentials",
        ),
        (
            "To git://h/x.git\n ! [rejected]        abc -> fleet/reports/eu-1 (stale info)\n"
            "error: failed to push some refs to 'git://h/x.git'\n",
            "[rejected]        abc -> fleet/reports/eu-1 (stale info)",
            "another writer",
        ),
        ("Host key verification failed.\nfatal: Could not read from remote repository.\n", "", "known-hosts"),
        ("", "git failed without saying why", ""),
    ],
)
def test_git_reason_is_gits_first_real_line_and_the_fix(stderr: str, reason: str, fix: str) -> None:
    line = git_reason(stderr)
    assert "\n" not in line and not line.endswith("'")
    assert reason in line and fix in line
