"""The Dockerfile builds from a clean checkout, and its runtime stage carries nothing for tests.

No container engine runs on the development machines, so the image is checked at the level
below it: the Dockerfile is read (stages, COPY sources, the runtime stage's installs), exactly
the paths its build stage copies are copied from the checkout into an empty directory, and the
wheel is built there offline, as ``pip wheel .`` in the build stage would. A build context that
misses a directory pyproject needs (the template's data-files, a package) fails here, not on
the first real ``docker build``; one that lets kubesim or tests/ in fails too. The wheel is then
installed into a prefix and run as the image runs it, with kubesim made unimportable: the hub
reconciles the shipped template and an agent syncs once, so "kubesim stays out of the image"
is shown not to break the two commands the image exists for.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubesim.testing import running_sim
from tests.support import REPO_ROOT
from tests.support.wheels import PIP, install_into_prefix

DOCKERFILE = REPO_ROOT / "Dockerfile"
TEMPLATE = "fleet-repo-template"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, RUN, ...
    args: str  # the rest, continuation lines joined


@dataclass(frozen=True, slots=True)
class Stage:
    name: str  # the AS name, or "" for an unnamed (the last, runtime) stage
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, ``\\`` continuations joined (no heredocs used)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(name, ()))
        else:
            assert stages, f"{line!r} before the first FROM"
            stages[-1] = Stage(stages[-1].name, (*stages[-1].instructions, instruction))
    return stages


STAGES = parse_dockerfile(DOCKERFILE.read_text())
BUILD = next(s for s in STAGES if s.name == "build")
RUNTIME = STAGES[-1]


def copy_sources(stage: Stage) -> list[str]:
    """What the stage's COPY lines take from the build context (not ``--from=`` another stage)."""
    out: list[str] = []
    for args in stage.all("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from=") for w in words):
            continue
        out += [w.removesuffix("/") for w in words[:-1] if not w.startswith("--")]
    return out


def checkout_files(under: str) -> list[str]:
    """Files of the checkout a clean clone has (tracked, or new and not ignored) under ``under``."""
    args = [
        "git",
        "-C",
        str(REPO_ROOT),
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "--",
        under,
    ]
    out = subprocess.run(args, check=True, capture_output=True, timeout=30).stdout.decode()
    return sorted(p for p in out.split("\0") if p and (REPO_ROOT / p).is_file() and "__pycache__" not in p)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory holding exactly what the build stage copies from a clean checkout."""
    root = tmp_path_factory.mktemp("context")
    for source in copy_sources(BUILD):
        for rel in checkout_files(source):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes((REPO_ROOT / rel).read_bytes())
    return root


def build_version() -> str:
    """What the build stage hands setuptools-scm: its ENV from the FLEETSYNC_VERSION build arg."""
    args = dict(a.split("=", 1) for a in BUILD.all("ARG") if "=" in a)
    assert "SETUPTOOLS_SCM_PRETEND_VERSION=${FLEETSYNC_VERSION}" in BUILD.all("ENV")
    return args["FLEETSYNC_VERSION"]


@pytest.fixture(scope="module")
def wheel(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(context)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION": build_version()},  # the stage's ENV
    )
    assert run.returncode == 0, f"pip wheel on the Dockerfile's build context failed:\n{run.stderr}"
    [built] = out.glob("fleetsync-*.whl")
    return built


def test_the_build_stage_copies_the_packages_and_the_data_files_pyproject_needs() -> None:
    sources = set(copy_sources(BUILD))
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert {"pyproject.toml", "README.md", "fleetsync", TEMPLATE, "policies"} <= sources
    assert set(packages) - {"kubesim"} <= sources
    assert not sources & {"kubesim", "tests", "bench", ".git", ".venv"}


def test_dockerignore_admits_exactly_what_the_build_stage_copies() -> None:
    lines = [ln.strip() for ln in (REPO_ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything is ignored first"
    admitted = {p.removeprefix("!").removesuffix("/") for p in patterns if p.startswith("!")}
    assert admitted == set(copy_sources(BUILD))


def test_the_wheel_from_exactly_the_build_context_has_the_cli_and_every_template_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = zf.read(entry_points).decode()
    assert re.search(r"^fleetsync = fleetsync\.cli:main$", scripts, re.MULTILINE), scripts
    assert "fleetsync/cli/__init__.py" in names
    [data] = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".data")}
    shipped = {
        n.removeprefix(f"{data}/data/share/fleetsync/") for n in names if n.startswith(f"{data}/data/")
    }
    assert set(checkout_files(TEMPLATE)) <= shipped
    assert f"{TEMPLATE}/.gitlab-ci.yml" in shipped and any(s.startswith("policies/") for s in shipped)


def test_the_images_wheel_holds_no_kubesim_and_no_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
    assert not {t for t in tops if t in {"kubesim", "tests", "bench"}}, tops
    assert {"fleetsync", "reconciler", "agent", "fleetsync_contract"} <= tops


_PROBE = """
import sys
from pathlib import Path
sys.modules["kubesim"] = None  # the image has no kubesim: any import of it fails, as it would there
sys.prefix = str(Path(sys.argv[1]).parents[2])  # the image installs into its own prefix: data-files there
import fleetsync.cli
assert fleetsync.cli.__file__.startswith(sys.argv[1]), fleetsync.cli.__file__
sys.argv = ["fleetsync", *sys.argv[2:]]
fleetsync.cli.main()
"""


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-packages of a prefix the image's wheel was installed into (its dependencies are this
    environment's: --no-deps)."""
    return install_into_prefix(wheel, tmp_path_factory.mktemp("prefix"))


def image_fleetsync(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fleetsync ARGS`` run from the image's wheel, as the image would, with kubesim unimportable."""
    return subprocess.run(
        [sys.executable, "-c", _PROBE, str(site), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=site.parent,  # not the checkout: -c imports from the cwd
        env={"PYTHONPATH": str(site), "PATH": os.environ["PATH"], "HOME": str(site.parent), "COLUMNS": "120"},
    )


@pytest.mark.parametrize("args", [["demo"], ["dev", "kube-server", "--kubeconfig", "sim.kubeconfig"]])
def test_the_simulator_commands_of_that_wheel_say_in_one_line_that_kubesim_is_left_out(
    installed: Path, args: list[str]
) -> None:
    run = image_fleetsync(installed, *args)
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    [line] = [x for x in run.stderr.splitlines() if x.strip()]
    assert "needs kubesim" in line and "leaves out" in line


@pytest.mark.parametrize(
    "args", [["--help"], ["hub", "run", "--help"], ["agent", "run", "--help"], ["--version"]]
)
def test_the_hub_and_agent_commands_of_that_wheel_start_without_kubesim(
    installed: Path, args: list[str]
) -> None:
    assert not (installed / "kubesim").exists()
    run = image_fleetsync(installed, *args)
    assert run.returncode == 0, run.stderr
    assert "kubesim" not in run.stderr


@pytest.mark.slow
def test_the_hub_and_an_agent_from_that_wheel_reconcile_and_report_without_kubesim(
    installed: Path, tmp_path: Path
) -> None:
    """The hub renders the shipped template (policies from the data-files, kustomize by kubectl)
    and an agent syncs once against a simulated member (served by this test process: only the
    image's code has no kubesim)."""
    repo = tmp_path / "fleet"
    shutil.copytree(REPO_ROOT / TEMPLATE, repo)
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for step in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fleet"]):
        subprocess.run([*git, *step], check=True, capture_output=True, timeout=30)
    hub = image_fleetsync(installed, "hub", "reconcile", "--repo", str(repo))
    assert hub.returncode == 0, hub.stdout + hub.stderr
    with running_sim(controllers="instant") as sim:
        sim.write_kubeconfig(tmp_path / "kubeconfig")
        agent = image_fleetsync(
            installed,
            "agent",
            "run",
            "--repo",
            str(repo),
            "--cluster",
            "dev-eu-1",
            "--once",
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            "--state-dir",
            str(tmp_path / "state"),
        )
    assert agent.returncode == 0, agent.stderr
    refs = subprocess.run(
        [*git, "for-each-ref", "--format=%(refname)"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.split()
    assert {
        "refs/heads/fleet/status",
        "refs/heads/fleet/reports/dev-eu-1",
        "refs/fleet/heartbeats/dev-eu-1",
    } <= set(refs)


def _test_extra() -> set[str]:
    extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "test"
    ]
    return {re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0].lower() for spec in extra}


def test_the_runtime_stage_installs_no_test_only_package(wheel: Path) -> None:
    test_only = _test_extra() - {"setuptools"}  # setuptools is also in the base image's Python
    assert {"pytest", "hypothesis", "mypy", "ruff"} <= test_only
    runs = " ".join(RUNTIME.all("RUN"))
    installed = set(re.findall(r"[A-Za-z0-9_.\-]+", runs.lower()))
    assert not installed & test_only, installed & test_only
    assert "[" not in runs, "no extras ([test]) in the runtime stage"
    pip_installs = [r for r in RUNTIME.all("RUN") if "pip install" in r]
    assert pip_installs and all(
        "--no-index /wheels/*.whl" in r for r in pip_installs
    )  # nothing from an index
    assert copy_sources(RUNTIME) == [], "the runtime stage takes nothing from the build context"
    taken = {shlex.split(a)[-2] for a in RUNTIME.all("COPY")}
    assert taken == {"/wheels", "/kubectl"}
    # the wheels pip builds in the build stage are fleetsync's runtime requirements only
    with zipfile.ZipFile(wheel) as zf:
        [meta] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            ln.removeprefix("Requires-Dist: ")
            for ln in zf.read(meta).decode().splitlines()
            if ln.startswith("Requires-Dist: ") and "extra ==" not in ln
        ]
    required = {re.split(r"[\s<>=!~\[;(]", r, maxsplit=1)[0].lower() for r in requires}
    assert required and not required & test_only


def test_the_image_runs_as_a_fixed_numeric_non_root_user_with_home_and_tmp_set() -> None:
    [user] = RUNTIME.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0
    env = " ".join(RUNTIME.all("ENV"))
    assert "HOME=/home/fleetsync" in env and "TMPDIR=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert RUNTIME.all("ENTRYPOINT") == ['["fleetsync"]']


def test_kubectl_is_a_pinned_release_checked_by_sha256_before_use() -> None:
    [stage] = [s for s in STAGES if s.name == "kubectl"]
    args = dict(a.partition("=")[::2] for a in stage.all("ARG"))
    assert re.fullmatch(r"v\d+\.\d+\.\d+", args["KUBECTL_VERSION"])
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", args[f"KUBECTL_SHA256_{arch}"]), arch
    [add] = stage.all("ADD")
    assert "${KUBECTL_VERSION}" in add and "${TARGETARCH}" in add and add.endswith(" /kubectl")
    [check] = stage.all("RUN")
    assert "sha256sum -c" in check and "KUBECTL_SHA256_AMD64" in check and "exit 1" in check
    assert any(a.startswith("--from=kubectl /kubectl /usr/local/bin/") for a in RUNTIME.all("COPY"))


def test_the_parser_joins_continuations_and_names_stages() -> None:
    stages = parse_dockerfile("# c\nFROM a AS one\nRUN x \\\n  # inner\n  && y\nFROM b\nCOPY p q ./\n")
    assert [s.name for s in stages] == ["one", ""]
    assert stages[0].all("RUN") == ["x && y"]
    assert copy_sources(stages[1]) == ["p", "q"]


def test_the_image_says_the_version_it_was_built_as(wheel: Path) -> None:
    """The context has no .git for setuptools-scm: the version comes from the build arg."""
    assert wheel.name.startswith(f"fleetsync-{build_version()}-")
