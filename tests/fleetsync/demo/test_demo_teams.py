"""`fleetsync demo --teams`: a platform repo and two team repos, one team's broken commit.

The demo runs once per module (the whole story, then the teams chapter) in a directory the test
keeps; the tests read what the chapter saw on the members' API servers at each step, the files
``fleetsync team add`` wrote to the platform repo, and the template's example Team.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fleetsync.demo.story import TEMPLATE, DemoOptions, DemoResult, run_demo
from fleetsync.demo.teams import TEAM_A, TEAM_B, TeamsShown
from fleetsync.demo.view import PlainOutput
from fleetsync.teamfile import read_team
from reconciler.load.fleet import load_directory

PRODUCTION = sorted(
    name
    for name, m in load_directory(TEMPLATE).spec.members.items()
    if m.labels.get("environment") == "production" and not m.taints  # a PickAll tolerates no taint
)
EXAMPLE = TEMPLATE / "docs" / "teams" / "team-payments.yaml"


class Run:
    def __init__(self, result: DemoResult, output: list[str]):
        self.result = result
        self.output = output

    @property
    def teams(self) -> TeamsShown:
        assert self.result.teams is not None, "\n".join(self.output)
        return self.result.teams

    def step(self, name: str) -> dict[str, dict[str, str]]:
        found = [s for s in self.teams.steps if s.name == name]
        assert found, [s.name for s in self.teams.steps]
        return {t: dict(v) for t, v in found[0].versions.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("demo-teams")
    output: list[str] = []
    result = run_demo(
        DemoOptions(teams=True, workdir=root),
        PlainOutput(output.append),
        clock=lambda: datetime.now(UTC),
        sleep=lambda _s: None,
    )
    yield Run(result, output)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_the_teams_demo_passes_every_stage_and_tells_each_step(demo: Run) -> None:
    text = "\n".join(demo.output)
    assert demo.result.ok, text
    assert [s.name for s in demo.result.stages][-1] == "teams"
    assert "==> teams: a platform repo and two team repos; one team's broken commit" in text
    for said in (
        f"platform: `fleetsync team add {TEAM_A} --namespaces {TEAM_A}`",
        f"{TEAM_B}: pushes ",
        "whose app/config.yaml is not YAML",
        "not held back by team-b",
        f"{TEAM_B}: still VERSION 1.0",
        f"{TEAM_B}: pushes the fix",
    ):
        assert said in text


@pytest.mark.slow
def test_both_teams_are_placed_and_team_b_only_on_the_clusters_its_selector_allows(demo: Run) -> None:
    assert demo.teams.clusters[TEAM_B] == PRODUCTION
    assert set(PRODUCTION) < set(demo.teams.clusters[TEAM_A])
    onboarded = demo.step("onboarded")
    assert set(onboarded[TEAM_B].values()) == {"1.0"}
    assert set(onboarded[TEAM_A].values()) == {"1.0"}


@pytest.mark.slow
def test_while_team_b_is_broken_its_objects_stay_and_team_as_change_arrives(demo: Run) -> None:
    broken = demo.step("team-b broken")
    assert broken[TEAM_B] == {c: "1.0" for c in PRODUCTION}  # still there, at its last good version
    assert broken[TEAM_A] == {c: "2.0" for c in demo.teams.clusters[TEAM_A]}
    record = next(s for s in demo.teams.steps if s.name == "team-b broken").records[TEAM_B]
    assert any("invalid YAML" in f.message for f in record.last_load.findings)
    assert "/ConfigMap/team-b/app-config" in record.kept  # kept at its last good commit


@pytest.mark.slow
def test_team_bs_fix_rolls_out_and_nothing_is_kept_any_more(demo: Run) -> None:
    fixed = demo.step("team-b fixed")
    assert fixed[TEAM_B] == {c: "2.0" for c in PRODUCTION}
    record = next(s for s in demo.teams.steps if s.name == "team-b fixed").records[TEAM_B]
    assert not record.kept and not record.fetch_error


@pytest.mark.slow
def test_the_platform_repo_holds_the_team_files_that_team_add_wrote(demo: Run) -> None:
    for team in (TEAM_A, TEAM_B):
        entry = read_team(demo.result.root / "fleet" / "teams" / f"{team}.yaml")
        assert entry.repo.url == demo.teams.urls[team] and entry.namespaces == (team,)
    assert read_team(demo.result.root / "fleet" / "teams" / f"{TEAM_B}.yaml").cluster_selector is not None


@pytest.mark.slow
def test_the_team_repos_daemon_is_stopped_when_the_demo_ends(demo: Run) -> None:
    port = urlsplit(demo.teams.urls[TEAM_A]).port
    assert port is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_the_templates_example_team_is_excluded_there_and_valid_as_a_platform_repo_team(
    tmp_path: Path,
) -> None:
    assert not load_directory(TEMPLATE).spec.teams  # under docs/: the hub never fetches its repo
    assert read_team(EXAMPLE).name == "team-payments"  # what `fleetsync team list` reads
    platform = tmp_path / "platform"
    shutil.copytree(TEMPLATE, platform, ignore=shutil.ignore_patterns(".git"))
    (platform / "teams").mkdir()
    shutil.copy(EXAMPLE, platform / "teams" / "team-payments.yaml")
    loaded = load_directory(platform)
    assert loaded.ok, [str(f) for f in loaded.errors]
    team = loaded.spec.teams["team-payments"]
    assert team.namespaces == ("payments", "payments-staging")
    assert team.limits.objects_per_cluster == 200
