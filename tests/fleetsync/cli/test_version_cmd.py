"""Releases: ``fleetsync --version``, shell completion, and the version scheme the template pins.

The version comes from git through setuptools-scm, configured in pyproject.toml: a tag vX.Y.Z is
release X.Y.Z, anything else a dev version of the next release. The scheme is checked by running
setuptools-scm with the project's own settings on scratch repositories, and the template's CI pin
against it: a user who forks the template installs a release that exists under that scheme.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version
from ruamel.yaml import YAML
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support import TEMPLATE

ROOT = Path(__file__).resolve().parents[3]
SCM: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools_scm"]


def scm_version(repo: Path) -> str:
    """The version setuptools-scm gives ``repo`` under this project's own settings (a copy of
    pyproject.toml in ``repo``: the config's directory is where the search for git starts)."""
    config = repo / "pyproject.toml"
    config.write_bytes((ROOT / "pyproject.toml").read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "setuptools_scm", "-r", str(repo), "-c", str(config)],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def commit(repo: Path, n: int) -> str:
    (repo / "f").write_text(str(n))
    git(repo, "add", "f")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", f"c{n}")
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_version_and_dash_dash_version_print_the_installed_version() -> None:
    runner = CliRunner()
    flag, command = runner.invoke(app, ["--version"]), runner.invoke(app, ["version"])
    assert flag.exit_code == command.exit_code == 0
    assert flag.output == command.output == dist_version("fleetsync") + "\n"
    Version(flag.output.strip())  # PEP 440, so pip and the template's CI check can compare it


def test_shell_completion_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # typer detects the user's shell from the parent processes; a test run with no parent shell
    # (CI, setsid) has none, so say it is bash as a terminal would.
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    runner = CliRunner()
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    script = runner.invoke(app, ["--show-completion"])
    assert script.exit_code == 0 and "_FLEETSYNC_COMPLETE" in script.output


def dev(base: str, n: int, sha: str) -> str:
    """setuptools-scm's dev version: the next release, the commit count, an abbreviated commit id."""
    return rf"{re.escape(base)}\.dev{n}\+g{sha[:7]}[0-9a-f]*"


def test_the_version_scheme_tags_are_releases_and_everything_else_a_dev_version(tmp_path: Path) -> None:
    assert scm_version(tmp_path) == "0.1.0.dev0"  # no git at all (a build context without .git)
    git(tmp_path, "init", "-q")
    sha = commit(tmp_path, 1)
    assert re.fullmatch(dev("0.1.0", 1, sha), scm_version(tmp_path))  # a fresh clone without tags
    sha = commit(tmp_path, 2)
    assert re.fullmatch(dev("0.1.0", 2, sha), scm_version(tmp_path))
    git(tmp_path, "tag", "v0.1.0")
    assert scm_version(tmp_path) == "0.1.0"  # the release
    sha = commit(tmp_path, 3)
    git(tmp_path, "tag", "nightly-3")  # not release tags: ignored
    git(tmp_path, "tag", "v0.9")
    assert re.fullmatch(dev("0.1.1", 1, sha), scm_version(tmp_path))
    git(tmp_path, "tag", "v0.2.0")
    assert scm_version(tmp_path) == "0.2.0"


def test_the_template_pins_a_release_of_this_projects_scheme_and_forking_splits_at_its_tag() -> None:
    doc = YAML(typ="safe", pure=True).load((TEMPLATE / ".github/workflows/fleetsync.yaml").read_text())
    pin = Version(doc["jobs"]["validate-and-plan"]["env"]["FLEETSYNC_VERSION"])
    assert not (pin.is_prerelease or pin.is_devrelease or pin.local), "the template must pin a release"
    assert re.fullmatch(SCM["tag"]["regex"], f"v{pin}"), "the pin's tag is not a release tag of the scheme"
    this = Version(dist_version("fleetsync"))  # this tree: a release, or a dev version of the next one
    assert pin.release[:2] == this.release[:2] and pin <= Version(this.base_version), (
        f"the template pins {pin}, this tree is {this}: pin the newest release of this series"
    )
    forking = (ROOT / "docs" / "forking.md").read_text()
    assert f"subtree split --prefix=fleet-repo-template -b template v{pin}" in forking


@pytest.mark.parametrize("tag", ["v0.1", "0.1.0", "v0.1.0-rc1", "release-0.1.0"])
def test_only_vx_y_z_tags_are_releases(tag: str) -> None:
    assert not re.fullmatch(SCM["tag"]["regex"], tag)
