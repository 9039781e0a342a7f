"""``fleetsync get provenance``: from a live object back to the signed fleet commit and the PR merge.

End to end with real git and ssh-keygen: a signed PR commit merged by a (signing) Git host, the
real hub signing its bundle commits, the real agent (checking the hub's signature) applying to
kubesim and reporting, and the command reading only Git.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from agent.apply.kube import KubeClient
from agent.loop import Agent, AgentConfig
from agent.signatures import SignatureCheck, load_trusted
from agent.source import GitSource
from fleetsync.cli import app
from fleetsync.cli.conventions import exit_code_for
from fleetsync_contract.integrity import verify
from reconciler.errors import NotFound, UserError
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signing import load_signer
from reconciler.hub.loop import reconcile_once
from tests.support.agentfixtures import short_sleep
from tests.support.fleethelpers import FleetWork, base_files
from tests.support.gitdaemon import git
from tests.support.sshkeys import make_key, public_line, sign_commits_with

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
CLUSTER = "eu-1"


def hub_and_agent(tmp_path: Path, fleet: Path, hub_key: Path) -> None:
    """One reconcile of the real hub signing with ``hub_key``, one sync of the real agent that
    trusts it, applying to kubesim and reporting."""
    from kubesim.testing import running_sim

    with HubRepo.local(fleet) as repo:
        repo.sign_commits(load_signer(hub_key))
        reconcile_once(repo, NOW)
    (tmp_path / "hub.pub").write_text(public_line(hub_key) + "\n")
    with running_sim() as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        with (
            KubeClient.from_kubeconfig(str(kubeconfig), sleep=short_sleep) as kube,
            GitSource(
                str(fleet),
                CLUSTER,
                tmp_path / "state",
                verify=lambda f: verify(f, CLUSTER),
                signatures=SignatureCheck(load_trusted([tmp_path / "hub.pub"])),
            ) as source,
        ):
            agent = Agent(
                AgentConfig(CLUSTER, crd_wait_seconds=10),
                kube,
                source,
                clock=lambda: datetime.now(UTC),
                sleep=short_sleep,
            )
            summary = agent.sync()
            assert not summary.errors


def test_provenance_follows_a_live_object_to_its_bundle_fleet_commit_signer_and_merge(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    alice, githost, hub_key = make_key(keys, "alice"), make_key(keys, "githost"), make_key(keys, "hub")
    signers = tmp_path / "allowed_signers"
    signers.write_text(
        f"alice@example.com {public_line(alice)}\nnoreply@githost.example {public_line(githost)}\n"
    )
    work = FleetWork(tmp_path / "fleet")
    files = base_files(clusters={CLUSTER: "europe"})
    work.commit(files, "initial fleet")
    git(work.path, "config", "gpg.ssh.allowedSignersFile", str(signers))
    git(work.path, "checkout", "-q", "-b", "pr-7")
    sign_commits_with(work.path, alice)
    pr = work.commit(base_files(version="2", clusters={CLUSTER: "europe"}), "web: settings v2")
    git(work.path, "checkout", "-q", "main")
    git(work.path, "config", "user.signingkey", str(githost))
    git(work.path, "merge", "-q", "--no-ff", "pr-7", "-m", "Merge pull request #7 from alice/pr-7")
    merge = git(work.path, "rev-parse", "HEAD")
    work.beat(CLUSTER, NOW)

    hub_and_agent(tmp_path, work.path, hub_key)

    result = CliRunner().invoke(
        app, ["get", "provenance", CLUSTER, "ConfigMap/web/settings", "--repo", str(work.path), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    [obj] = doc["objects"]
    assert obj["identity"] == "/ConfigMap/web/settings"
    assert obj["placement"] == "ClusterResourcePlacement/web"
    assert obj["outcome"] == "Applied"
    assert obj["overrides"] == {"applicableResourceOverrides": [{"namespace": "web", "name": "greeting"}]}
    hub_fp = load_signer(hub_key).fingerprint
    assert doc["bundle"]["signature"] == f"signed by {hub_fp}"
    assert doc["bundle"]["commit"] == git(work.path, "rev-parse", f"fleet/bundles/{CLUSTER}")
    assert doc["fleetCommit"]["commit"] == merge
    assert doc["fleetCommit"]["signer"].startswith("noreply@githost.example SHA256:")
    assert doc["fleetCommit"]["signer"].endswith("(good)")
    assert doc["mergedBy"]["commit"] == merge and doc["mergedBy"]["merge"] is True
    assert doc["mergedBy"]["subject"] == "Merge pull request #7 from alice/pr-7"
    assert pr != merge

    table = CliRunner().invoke(
        app, ["get", "provenance", CLUSTER, "ConfigMap/web/settings", "--repo", str(work.path)]
    )
    assert table.exit_code == 0, table.output
    assert "MERGED BY     " + merge[:12] in table.stdout

    missing = CliRunner().invoke(
        app, ["get", "provenance", CLUSTER, "ConfigMap/web/nope", "--repo", str(work.path)]
    )
    assert isinstance(missing.exception, NotFound) and exit_code_for(missing.exception) == 1  # main() maps it
    assert "is not in the bundle" in str(missing.exception)
    usage = CliRunner().invoke(app, ["get", "provenance", CLUSTER, "--repo", str(work.path)])
    assert isinstance(usage.exception, UserError) and exit_code_for(usage.exception) == 2


def test_the_signer_is_named_by_the_allowed_signers_file_the_fleet_commit_names(tmp_path: Path) -> None:
    """No git configuration names an allowed-signers file: the hub judges (and records) the
    signer by the repo's own ``verify.allowedSignersFile``, as it is in the fleet commit."""
    keys = tmp_path / "keys"
    alice, hub_key = make_key(keys, "alice"), make_key(keys, "hub")
    work = FleetWork(tmp_path / "fleet")
    sign_commits_with(work.path, alice)
    files = base_files(clusters={CLUSTER: "europe"})
    files["fleetsync.yaml"] = "verify:\n  commits: strict\n  allowedSignersFile: .fleetsync/allowed_signers\n"
    files[".fleetsync/allowed_signers"] = f'alice@example.com namespaces="git" {public_line(alice)}\n'
    fleet_commit = work.commit(files, "initial fleet, signed")
    work.beat(CLUSTER, NOW)
    hub_and_agent(tmp_path, work.path, hub_key)

    result = CliRunner().invoke(
        app, ["get", "provenance", CLUSTER, "ConfigMap/web/settings", "--repo", str(work.path), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["fleetCommit"]["commit"] == fleet_commit
    alice_fp = load_signer(alice).fingerprint
    assert doc["fleetCommit"]["signer"] == f"alice@example.com {alice_fp} (good)"
    table = CliRunner().invoke(
        app, ["get", "provenance", CLUSTER, "ConfigMap/web/settings", "--repo", str(work.path)]
    )
    assert f"SIGNER        alice@example.com {alice_fp} (good)" in table.stdout


def test_a_signer_an_older_hub_could_not_check_is_judged_now_by_the_repos_allowed_signers(
    tmp_path: Path,
) -> None:
    from fleetsync.cli.provenance import _signer
    from tests.support.signingfixtures import Fleet
    from tests.support.signingfixtures import git as plain_git

    fleet = Fleet(tmp_path)  # fleetsync.yaml names .fleetsync/allowed_signers (ada)
    change = fleet.commit("ada", "a signed change")
    tree = plain_git(fleet.path, "rev-parse", "HEAD^{tree}")

    def bundle(trailer: str) -> str:
        message = f"bundle\n\nFleet-Commit: {change}\n{trailer}"
        return plain_git(fleet.path, "commit-tree", tree, "-m", message)

    old = bundle(
        "Fleet-Commit-Signer: signed (ssh), not checked: the hub has no gpg.ssh.allowedSignersFile\n"
    )
    checked = bundle("Fleet-Commit-Signer: ada SHA256:recorded (good)\n")
    with HubRepo.local(fleet.path) as repo:
        judged = _signer(repo, old, change)
        assert (
            judged.startswith("ada SHA256:") and " (good), checked now (the bundle records: signed" in judged
        )
        assert _signer(repo, checked, change) == "ada SHA256:recorded (good)"  # the hub's record stands
        assert _signer(repo, bundle(""), change).endswith("checked now (the bundle records: nothing)")
