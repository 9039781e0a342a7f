"""The platform repo's Team objects: parsed with located findings; what reaches git is validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import SCOPE_REPO
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.teams.model import check_path, check_url
from tests.support.teamfixtures import team_yaml


def load(tmp_path: Path, files: dict[str, str]) -> LoadResult:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return load_directory(tmp_path)


def test_a_team_file_is_read_into_the_teams_of_the_spec(tmp_path: Path) -> None:
    text = team_yaml(
        "team-a", "git://127.0.0.1:9418/team-a.git", ["team-a", "team-a-staging"], {"environment": "staging"}
    )
    loaded = load(tmp_path, {"teams/team-a.yaml": text})
    assert loaded.ok, loaded.findings
    team = loaded.spec.teams["team-a"]
    assert team.repo.url == "git://127.0.0.1:9418/team-a.git" and team.repo.branch == "main"
    assert team.namespaces == ("team-a", "team-a-staging")
    assert team.selects({"environment": "staging"}) and not team.selects({"environment": "prod"})
    assert not loaded.spec.resources  # a Team is not a hub resource that placements could select


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("git://127.0.0.1:9418/team-a.git", True),
        ("https://git.example.com/org/team-a.git", True),
        ("ssh://git@git.example.com/org/team-a.git", True),
        ("/srv/git/team-a.git", True),
        ("https://user:s3cret@git.example.com/team-a.git", False),  # a password reaches output
        ("https://ghp-t0ken@git.example.com/team-a.git", False),  # GitHub takes a token as the user
        ("git://bot@git.example.com/team-a.git", False),
        ("ssh://git:s3cret@git.example.com/team-a.git", False),
        ("https://git.example.com/team-a.git?private_token=t0ken", False),
        ("https://git.example.com/team-a.git#main", False),
        ("--upload-pack=touch /tmp/x", False),  # an option to git
        ("file:///etc", False),
        ("relative/path", False),
        ("https://git.example.com/a b", False),
        ("/srv/../etc", False),
    ],
)
def test_a_team_repo_url_is_one_git_may_be_given(url: str, ok: bool) -> None:
    assert (check_url(url) is None) == ok


def test_a_bad_url_branch_or_path_is_a_located_error_that_holds_the_platform_commit(tmp_path: Path) -> None:
    text = team_yaml("team-a", "https://u:p@example.com/a.git", ["team-a"], branch="-x").replace(
        "  namespaces:", "    path: ../up\n  namespaces:"
    )
    loaded = load(tmp_path, {"teams/team-a.yaml": text})
    errors = {f.field: f for f in loaded.errors}
    assert {"spec.repo.url", "spec.repo.branch", "spec.repo.path"} <= set(errors)
    assert all(f.scope == SCOPE_REPO and f.file == "teams/team-a.yaml" and f.line for f in errors.values())
    assert "password" in errors["spec.repo.url"].message
    assert "u:p" not in errors["spec.repo.url"].message  # the secret is not repeated
    assert loaded.held and "team-a" not in loaded.spec.teams


def test_two_teams_owning_one_namespace_hold_the_commit_naming_both(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        {
            "teams/a.yaml": team_yaml("team-a", "/srv/a.git", ["shared", "team-a"]),
            "teams/b.yaml": team_yaml("team-b", "/srv/b.git", ["shared"]),
        },
    )
    (held,) = loaded.held
    assert "'shared'" in held.message and "team-a" in held.message and held.file == "teams/b.yaml"


@pytest.mark.parametrize("ns", ["kube-system", "kube-public", "default", "fleet-system"])
def test_reserved_namespaces_are_never_ownable(tmp_path: Path, ns: str) -> None:
    loaded = load(tmp_path, {"teams/a.yaml": team_yaml("team-a", "/srv/a.git", [ns])})
    assert any("reserved" in f.message and f.field == "spec.namespaces[0]" for f in loaded.held)


def test_unknown_team_fields_and_bad_kinds_are_reported(tmp_path: Path) -> None:
    text = team_yaml("team-a", "/srv/a.git", ["team-a"], kinds=["Deployment"]) + "  color: blue\n"
    loaded = load(tmp_path, {"teams/a.yaml": text})
    messages = " ".join(f.message for f in loaded.errors)
    assert "'Deployment' is not a kind" in messages and 'unknown field "spec.color"' in messages


@pytest.mark.parametrize(
    ("path", "ok"), [("", True), ("apps/team-a", True), ("../x", False), ("/abs", False)]
)
def test_a_team_repo_path_stays_inside_the_repo(path: str, ok: bool) -> None:
    assert (check_path(path) is None) == ok
