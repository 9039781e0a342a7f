"""The template CI's "install fleetsync" step, run for real against a clone of this repository.

The step is ``pip install "fleetsync @ git+${FLEETSYNC_SOURCE}@v${FLEETSYNC_VERSION}"`` followed by
a check that ``fleetsync --version`` prints the pin. Here FLEETSYNC_SOURCE is a clone of this
checkout in which the release tag is made (this repository's own tags are left alone: tagging is
the release procedure's step, docs/releasing.md), and the real pip builds the package from it
with setuptools-scm: the tag the procedure cuts is what the step installs, and it reports itself
as the release. Without the tag the step fails instead of installing something else. pip is
wrapped only to install offline (no dependencies, no build isolation) into a scratch prefix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.support import REPO_ROOT, TEMPLATE

GITHUB = TEMPLATE / ".github" / "workflows" / "fleetsync.yaml"

pytestmark = pytest.mark.skipif(
    not (REPO_ROOT / ".git").exists() or shutil.which("git") is None,
    reason="needs this repository's git history (a clone, not an unpacked archive)",
)


def install_step() -> tuple[str, dict[str, str]]:
    """The GitHub job's install script and its pins (the GitLab job's are the same:
    tests/fleetsync/cli/test_template_ci.py)."""
    job = YAML(typ="safe", pure=True).load(GITHUB.read_text())["jobs"]["validate-and-plan"]
    [script] = [s["run"] for s in job["steps"] if s.get("name") == "Install fleetsync"]
    return str(script), {k: str(job["env"][k]) for k in ("FLEETSYNC_VERSION", "FLEETSYNC_SOURCE")}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, timeout=120).stdout


def run_step(tmp_path: Path, source: Path) -> subprocess.CompletedProcess[str]:
    script, pins = install_step()
    prefix, bin_dir = tmp_path / "prefix", tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "pip").write_text(
        "#!/bin/bash\n"
        f'exec "{sys.executable}" -m pip "$@" --disable-pip-version-check --no-input --no-deps'
        f' --no-build-isolation --ignore-installed --no-warn-script-location --prefix "{prefix}"\n'
    )
    (bin_dir / "pip").chmod(0o755)
    site = sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SETUPTOOLS_SCM", "PIP_"))},
        **pins,
        "FLEETSYNC_SOURCE": f"file://{source}",  # where the user's CI reaches fleetsync's repository
        "PATH": f"{bin_dir}:{prefix / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": site,  # the installed fleetsync before this environment's own
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=tmp_path,
    )


def test_the_ci_install_step_installs_the_pinned_release_from_its_tag(tmp_path: Path) -> None:
    clone = tmp_path / "fleetsync"
    git("clone", "-q", "--no-local", str(REPO_ROOT), str(clone))
    version = install_step()[1]["FLEETSYNC_VERSION"]
    if git("-C", str(clone), "tag", "--list", f"v{version}").strip():  # the release was cut already
        git("-C", str(clone), "tag", "-d", f"v{version}")
    assert run_step(tmp_path / "untagged", clone).returncode != 0  # no tag v<pin>: nothing installed
    git("-C", str(clone), "tag", "-a", f"v{version}", "-m", f"fleetsync {version}")  # the release step
    done = run_step(tmp_path / "tagged", clone)
    assert done.returncode == 0, done.stderr  # the step's own check: --version printed the pin
    [dist] = (tmp_path / "tagged" / "prefix").glob("lib/python*/site-packages/fleetsync-*.dist-info")
    assert dist.name == f"fleetsync-{version}.dist-info"  # the release, from git, not a dev version
