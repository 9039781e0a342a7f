"""``--cluster`` names a MemberCluster of the fleet, checked before anything is pushed; every name
that reaches git is validated; a git failure reads as git's reason and the fix, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.errors import NotAMember, SourceError
from agent.source import GitSource, check_cluster_name
from fleetsync.cli import app
from tests.support.agentfixtures import git
from tests.support.gitdaemon import GitDaemon


def _publish(bare: Path, work: Path, branch: str, files: dict[str, str]) -> None:
    if not (work / ".git").exists():
        git(work.parent, "init", "-q", str(work))
    git(work, "checkout", "-q", "--orphan", branch.replace("/", "-"))
    git(work, "rm", "-rfq", "--ignore-unmatch", ".")
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", f"publish {branch}")
    git(work, "push", "-qf", str(bare), f"HEAD:refs/heads/{branch}")


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """A fleet repo whose hub published bundles for ``eu-1`` and ``us-2``, and a status that
    names a third MemberCluster, ``new-3``, with no bundle yet."""
    bare = tmp_path / "fleet.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    work = tmp_path / "hubwork"
    for name in ("eu-1", "us-2"):
        _publish(bare, work, f"fleet/bundles/{name}", {"bundle.yaml": f"cluster: {name}\n"})
    _publish(
        bare,
        work,
        "fleet/status",
        {f"clusters/{n}.yaml": f"name: {n}\n" for n in ("eu-1", "us-2", "new-3")} | {"status.yaml": "x: 1\n"},
    )
    return bare


def _refs(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname)").splitlines()


@pytest.mark.parametrize(
    "name",
    [
        "--upload-pack=/x",
        "eu-1\n",
        "-x",
        "EU-1",
        "eu_1",
        "eu/1",
        "eu..1",
        "",
        "a" * 254,
        "eu-1.",
        ".eu",
        "eu 1",
        "eu\n1",
    ],
)
def test_a_cluster_name_that_is_not_dns_1123_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="--cluster"):
        check_cluster_name(name)


@pytest.mark.parametrize("name", ["eu-1", "prod.eu-west-1", "a", "0c", "a" * 253])
def test_membercluster_names_pass(name: str) -> None:
    assert check_cluster_name(name) == name


def test_an_option_as_cluster_name_never_reaches_git(fleet: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--cluster"):
        GitSource(str(fleet), "--upload-pack=/x", tmp_path / "agent")
    assert not any("upload-pack" in r for r in _refs(fleet))


def test_a_cluster_with_a_bundle_branch_is_a_member(fleet: Path, tmp_path: Path) -> None:
    with GitSource(str(fleet), "eu-1", tmp_path / "agent") as source:
        source.check_member()


def test_a_new_membercluster_without_a_bundle_yet_is_a_member_when_the_hub_status_names_it(
    fleet: Path, tmp_path: Path
) -> None:
    with GitSource(str(fleet), "new-3", tmp_path / "agent") as source:
        source.check_member()


def test_an_unknown_cluster_is_refused_listing_the_clusters_of_the_fleet(fleet: Path, tmp_path: Path) -> None:
    with GitSource(str(fleet), "eu-l", tmp_path / "agent") as source, pytest.raises(NotAMember) as caught:
        source.check_member()
    message = str(caught.value)
    assert "eu-l" in message and "eu-1, new-3, us-2" in message
    assert "\n" not in message


def test_nothing_is_pushed_for_an_unknown_cluster(fleet: Path, tmp_path: Path) -> None:
    before = _refs(fleet)
    with GitSource(str(fleet), "no-such-cluster", tmp_path / "agent") as source:
        with pytest.raises(NotAMember):
            source.beat({"heartbeat.yaml": b"x: 1\n"}, "heartbeat", "agent")
        with pytest.raises(NotAMember):
            source.push_report({"report.yaml": b"x: 1\n"}, "report", "agent")
    assert _refs(fleet) == before


def test_agent_run_with_an_unknown_cluster_exits_2_before_pushing_anything(
    fleet: Path, tmp_path: Path
) -> None:
    before = _refs(fleet)
    unreachable = tmp_path / "kubeconfig"  # a usable file whose server is never contacted
    unreachable.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "agent",
            "run",
            "--once",
            "--repo",
            str(fleet),
            "--cluster",
            "no-such-cluster",
            "--kubeconfig",
            str(unreachable),
            "--state-dir",
            str(tmp_path / "state"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "no-such-cluster is not a MemberCluster of the fleet" in result.output
    assert "eu-1, new-3, us-2" in result.output
    assert _refs(fleet) == before


def test_agent_run_refuses_an_option_as_cluster_name(fleet: Path, tmp_path: Path) -> None:
    before = _refs(fleet)
    result = CliRunner().invoke(
        app,
        [
            *("agent", "run", "--once", "--repo", str(fleet), "--cluster", "--upload-pack=/x"),
            *("--state-dir", str(tmp_path / "state")),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--cluster" in result.output and "DNS-1123" in result.output
    assert _refs(fleet) == before
    assert not (tmp_path / "state" / "--upload-pack=").exists()


# -- point 8: git's reason, in one line, with the fix ------------------------------------------------
def _fetch_error(url: str, tmp_path: Path) -> str:
    with GitSource(url, "eu-1", tmp_path / "agent") as source, pytest.raises(SourceError) as caught:
        source.fetch_bundle(None)
    return str(caught.value)


def test_a_missing_repository_is_named_with_gits_reason_and_the_fix(tmp_path: Path) -> None:
    message = _fetch_error(str(tmp_path / "nope.git"), tmp_path)
    assert "does not appear to be a git repository" in message
    assert "--repo" in message
    assert "\n" not in message and not message.endswith("'")


def test_a_refused_connection_is_named_with_gits_reason(tmp_path: Path) -> None:
    message = _fetch_error("git://127.0.0.1:1/fleet.git", tmp_path)
    assert "Connection refused" in message and "127.0.0.1" in message
    assert "\n" not in message and not message.endswith("'")


def test_a_repository_the_daemon_does_not_serve_is_named(git_daemon: GitDaemon, tmp_path: Path) -> None:
    message = _fetch_error(git_daemon.url("missing.git"), tmp_path)
    assert "no such repository: /missing.git" in message, message
    assert "--repo" in message
    assert "\n" not in message and not message.endswith("'")


def test_an_unreachable_http_host_keeps_its_token_out_and_its_reason_in(tmp_path: Path) -> None:
    message = _fetch_error("http://user:s3cret-T0KEN@127.0.0.1:1/fleet.git", tmp_path)
    assert "s3cret-T0KEN" not in message
    assert "Failed to connect" in message or "Couldn't connect" in message, message
    assert "stderr:" not in message and not message.endswith("'")


def test_before_the_hub_has_published_anything_pushes_go_ahead_and_are_checked_once_it_has(
    tmp_path: Path,
) -> None:
    """Agents may start before their hub's first reconcile: nothing to check against yet."""
    bare = tmp_path / "fresh.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with GitSource(str(bare), "eu-1", tmp_path / "agent") as source:
        source.beat({"heartbeat.yaml": b"x: 1\n"}, "heartbeat", "agent")
        _publish(bare, tmp_path / "hubwork", "fleet/status", {"clusters/us-2.yaml": "name: us-2\n"})
        with pytest.raises(NotAMember, match="the fleet has us-2"):
            source.beat({"heartbeat.yaml": b"x: 2\n"}, "heartbeat", "agent")
