"""The view over HTTP: real requests on 127.0.0.1 to the server ``fleetsync ui`` runs.

The fleet is conftest.py's, mirrored per test so a test may move a branch. The refresh test
moves ``fleet/status`` back one commit and sees the page follow on the next request; the probes
and the command's flags are checked as an operator meets them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from fleetsync.cli import app as cli
from fleetsync.cli.ui import DEFAULT_ADDRESS
from fleetsync.serve.health import Health
from fleetsync.serve.server import HttpServer
from fleetsync.ui.model import CommitLinks
from fleetsync.ui.serve import hub_view, serving_ui
from fleetsync_contract.gitauth import NO_CREDENTIALS
from reconciler.gitstore.repo import open_hub_repo
from tests.fleetsync.ui.conftest import BuiltFleet
from tests.support.serving import request

TOKEN = "s3cret-token-in-the-url"


class Ticks:
    """A monotonic clock the test moves (the view checks the refs at most once per interval)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mirror(built: BuiltFleet, tmp_path: Path) -> Path:
    path = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(built.remote), str(path)], check=True)
    return path


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def served(mirror: Path, built: BuiltFleet, ticks: Ticks) -> Iterator[HttpServer]:
    location = f"https://ui:{TOKEN}@git.example.com/fleet.git"  # what the page shows, masked
    with (
        open_hub_repo(str(mirror)) as repo,
        serving_ui(
            ("127.0.0.1", 0), repo, location, CommitLinks(None), now=built.clock, clock=ticks, min_interval=5
        ) as server,
    ):
        yield server


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_every_page_answers_html_and_json_over_http(served: HttpServer) -> None:
    for path in ("/", "/placements/ClusterResourcePlacement/web", "/clusters/prod-1", "/runs"):
        page = request(served.port, "GET", path)
        assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8", path
        assert "<h1>" in page.text
        twin = request(served.port, "GET", "/api" + path)
        assert twin.status == 200 and twin.headers["content-type"] == "application/json"
        json.loads(twin.body)
    assert request(served.port, "GET", "/clusters/nope").status == 404
    assert request(served.port, "HEAD", "/").body == b""


def test_the_probes_and_metrics_are_still_served_beside_the_pages(served: HttpServer) -> None:
    assert request(served.port, "GET", "/healthz").status == 200
    ready = request(served.port, "GET", "/readyz")
    assert ready.status == 200 and "read of the hub refs" in ready.text
    assert request(served.port, "GET", "/metrics").status == 200


def test_the_view_is_read_only_a_post_to_a_page_is_405_and_to_anything_else_404(served: HttpServer) -> None:
    for path in ("/", "/placements/ClusterResourcePlacement/web", "/runs", "/api/clusters/prod-1"):
        reply = request(served.port, "POST", path, b"{}")
        assert (reply.status, reply.headers.get("allow")) == (405, "GET, HEAD"), path
        assert reply.headers["content-type"].startswith("text/plain"), path
    assert request(served.port, "POST", "/nope", b"{}").status == 404
    assert request(served.port, "POST", "/hook", b"{}").status == 404  # fleetsync ui has no webhook


def test_the_repo_url_is_shown_without_its_credentials(served: HttpServer) -> None:
    page = request(served.port, "GET", "/").text
    assert "https://***@git.example.com/fleet.git" in page
    assert TOKEN not in page


def test_the_pages_follow_the_status_branch_when_it_moves(
    served: HttpServer, mirror: Path, ticks: Ticks
) -> None:
    tip = git(mirror, "rev-parse", "fleet/status")
    assert f'title="{tip}"' in request(served.port, "GET", "/").text
    parent = git(mirror, "rev-parse", "fleet/status~1")
    git(mirror, "update-ref", "refs/heads/fleet/status", parent)
    assert f'title="{tip}"' in request(served.port, "GET", "/").text  # checked at most every 5 s
    ticks.now += 6
    page = request(served.port, "GET", "/").text
    assert f'title="{parent}"' in page and f'title="{tip}"' not in page


def test_fleetsync_ui_binds_the_loopback_by_default() -> None:
    assert DEFAULT_ADDRESS.startswith("127.0.0.1:")


@pytest.mark.parametrize(
    "args",
    [
        ["--commit-url", "https://git.example.com/fleet/commit/"],  # no {sha}
        ["--commit-url", "javascript:alert(1)//{sha}"],
        ["--address", "nowhere"],
    ],
)
def test_fleetsync_ui_refuses_bad_flags_with_exit_code_2(args: list[str], mirror: Path) -> None:
    result = CliRunner().invoke(cli, ["ui", "--repo", str(mirror), *args])
    assert result.exit_code == 2, result.output


def test_hub_run_ui_needs_the_http_port(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["hub", "run", "--repo", str(tmp_path), "--ui"])
    assert result.exit_code == 2 and "--http-address" in result.output


def test_the_hubs_port_serves_the_view_beside_its_probes(mirror: Path) -> None:
    health = Health("reconcile", 30)
    server = HttpServer(("127.0.0.1", 0), health, CollectorRegistry())
    server.bind()
    try:
        with hub_view(
            server,
            str(mirror),
            hub_remote=None,
            state_dir=None,
            credentials=NO_CREDENTIALS,
            timeout=30,
            links=CommitLinks(None),
        ):
            server.serve()
            page = request(server.port, "GET", "/clusters/prod-1")
            assert page.status == 200 and "<h1>Cluster prod-1</h1>" in page.text
            assert request(server.port, "GET", "/healthz").status == 503  # the hub's loop is not running
    finally:
        server.stop()
