"""fleet-repo-template/ ships with the wheel, and ``fleetsync demo`` finds it from an install.

pyproject.toml lists the template as data-files, one entry per directory (setuptools has no
recursive form). A hand-kept list silently misses a new directory or a hidden file, so the
list is checked against Git: every file of the template that ``git ls-files`` reports (tracked,
or new and not ignored) must map to the same relative path under share/fleetsync, and the
wheel itself is built (offline, no build isolation) and read. Then the wheel is installed into
a prefix and the demo's default template is looked up by the installed code, which has no
source tree beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from contextlib import chdir
from pathlib import Path, PurePosixPath

import pytest
from setuptools.config.expand import canonic_data_files  # type: ignore[import-untyped,unused-ignore]
from typer.testing import CliRunner

import fleetsync.demo.story
from fleetsync.cli import app
from fleetsync.demo.story import TEMPLATE_NAME, default_template
from reconciler.errors import UserError
from reconciler.load.shipped import SHARE
from tests.support import REPO_ROOT
from tests.support.wheels import PIP, install_into_prefix

ROOT = REPO_ROOT
DATA = PurePosixPath(SHARE.as_posix())  # where data-files land under the install prefix


def checkout_files(root: Path, under: str = "") -> list[str]:
    """Files of the checkout a build would see: tracked or new-and-not-ignored, still on disk."""
    args = ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    out = subprocess.run(
        [*args, *([under] if under else [])], check=True, capture_output=True, timeout=30
    ).stdout
    return sorted({p for p in out.decode().split("\0") if p and (root / p).is_file()})


def configured_destinations(root: Path) -> dict[str, str]:
    """Source file → installed path (under the prefix), as setuptools expands pyproject's data-files."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    with chdir(root):  # setuptools takes the entries without a glob relative to the working directory
        expanded = canonic_data_files(config)
    return {src: f"{dest}/{PurePosixPath(src).name}" for dest, files in expanded for src in files}


def unshipped(root: Path) -> list[str]:
    """Template files the data-files do not install at share/fleetsync/<same path>."""
    shipped = configured_destinations(root)
    return [f for f in checkout_files(root, TEMPLATE_NAME) if shipped.get(f) != str(DATA / f)]


def test_pyproject_ships_every_template_file_git_knows_at_its_own_path() -> None:
    template = checkout_files(ROOT, TEMPLATE_NAME)
    assert {
        ".gitlab-ci.yml",
        ".github/workflows/fleetsync.yaml",
        "apps/web/overlays/production/replicas.yaml",
    } <= {f.removeprefix(TEMPLATE_NAME + "/") for f in template}
    assert unshipped(ROOT) == [], "add a [tool.setuptools.data-files] entry in pyproject.toml for these"


@pytest.mark.parametrize(
    ("new_file", "caught"),
    [
        ("apps/payments/payments.yaml", True),  # a new directory needs its own data-files entry
        (".env.example", True),  # hidden files are not matched by the root's glob
        ("Makefile", True),  # nor files without an extension at the root
        ("clusters/prod-ap-1.yaml", False),  # a new file in a listed directory ships by the glob
        ("fleetsync-notes.md", False),
    ],
)
def test_a_new_template_file_the_data_files_miss_is_reported(
    tmp_path: Path, new_file: str, caught: bool
) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / TEMPLATE_NAME, tmp_path / TEMPLATE_NAME)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    added = tmp_path / TEMPLATE_NAME / new_file
    added.parent.mkdir(parents=True, exist_ok=True)
    added.write_text("kind: ConfigMap\n")
    assert unshipped(tmp_path) == ([f"{TEMPLATE_NAME}/{new_file}"] if caught else [])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout (the build writes build/ and
    *.egg-info beside its sources: not into the shared work tree)."""
    src = tmp_path_factory.mktemp("src")
    for rel in checkout_files(ROOT):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    [built] = out.glob("fleetsync-*.whl")
    return built


def test_the_wheel_holds_every_template_file_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        [data] = {n.split("/", 1)[0] for n in zf.namelist() if n.split("/", 1)[0].endswith(".data")}
        under = f"{data}/data/{DATA}/{TEMPLATE_NAME}/"
        in_wheel = {n.removeprefix(under): zf.read(n) for n in zf.namelist() if n.startswith(under)}
    expected = [f.removeprefix(TEMPLATE_NAME + "/") for f in checkout_files(ROOT, TEMPLATE_NAME)]
    assert sorted(in_wheel) == expected
    assert all(in_wheel[f] == (ROOT / TEMPLATE_NAME / f).read_bytes() for f in expected)


_PROBE = """
import json, sys
sys.prefix = sys.argv[1]  # as if this interpreter were the one the wheel was installed into
import fleetsync.demo.story, reconciler.load.shipped
from reconciler.load.fleet import load_directory
found = fleetsync.demo.story.default_template()
print(json.dumps({"module": reconciler.load.shipped.__file__, "found": str(found),
                  "ok": load_directory(found).ok}))
"""


def test_the_installed_wheel_finds_its_template_under_the_prefix(wheel: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    site = install_into_prefix(wheel, prefix)
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(prefix)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": os.environ["PATH"]},
    )
    assert run.returncode == 0, run.stderr
    probe = json.loads(run.stdout)
    assert Path(probe["module"]).is_relative_to(site)  # the installed copy, not the checkout
    assert not (site / TEMPLATE_NAME).exists()
    assert probe["found"] == str(prefix / SHARE / TEMPLATE_NAME)
    still = subprocess.run(
        [*PIP, "show", "fleetsync"], capture_output=True, text=True, timeout=60, check=False
    )
    assert still.returncode == 0, "installing into a prefix must leave this environment's fleetsync alone"
    assert probe["ok"]


def _template_in(directory: Path) -> Path:
    (directory / TEMPLATE_NAME / "clusters").mkdir(parents=True)
    return directory / TEMPLATE_NAME


@pytest.mark.parametrize(
    ("in_source", "in_prefix", "expected"),
    [
        (True, True, "source"),  # a checkout runs what is being edited
        (True, False, "source"),
        (False, True, "prefix"),  # an installed wheel: the data-files copy
    ],
)
def test_default_template_prefers_the_checkout_then_the_install_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_source: bool, in_prefix: bool, expected: str
) -> None:
    source, prefix = tmp_path / "site-packages", tmp_path / "venv"
    source.mkdir()
    places = {
        "source": _template_in(source) if in_source else None,
        "prefix": _template_in(prefix / SHARE) if in_prefix else None,
    }
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setattr("site.ENABLE_USER_SITE", False)
    assert default_template(source_root=source) == places[expected]


def test_default_template_finds_a_user_install_when_the_user_site_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tmp_path / "user"
    installed = _template_in(user / SHARE)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr("site.ENABLE_USER_SITE", True)
    monkeypatch.setattr("site.getuserbase", lambda: str(user))
    assert default_template(source_root=tmp_path) == installed


def test_without_a_shipped_template_the_user_is_told_to_pass_template(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"--template DIR") as info:
        default_template(source_root=tmp_path / "src", prefixes=[tmp_path / "venv"])
    assert str(tmp_path / "venv" / SHARE / TEMPLATE_NAME) in str(info.value)


def test_demo_without_a_shipped_template_exits_2_naming_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        fleetsync.demo.story,
        "default_template",
        lambda: default_template(source_root=tmp_path, prefixes=[tmp_path]),
    )
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "--template DIR" in result.output
