"""The template's CI (GitHub Actions and GitLab CI) runs commands the real CLI accepts, and its
shell logic does what the comments promise: labels become ``--label``, exit code 2 or more
fails the job, the plan note is posted once and then updated.

The commands are read out of the YAML and checked against the click command tree behind
``fleetsync`` (so a renamed flag or output format breaks this test), and the job scripts are run
with bash against stub ``fleetsync``/``git``/``curl`` executables: no network, no GitLab.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML
from typer.testing import CliRunner

from fleetsync.cli import app
from tests.support import TEMPLATE

GITHUB = TEMPLATE / ".github" / "workflows" / "fleetsync.yaml"
GITLAB = TEMPLATE / ".gitlab-ci.yml"
MARKER = "<!-- fleetsync-plan -->"


def load(path: Path) -> dict[str, Any]:
    doc = YAML(typ="safe", pure=True).load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def github_steps() -> dict[str, str]:
    """step name -> its ``run`` script, over every job."""
    return {
        str(s.get("name", "")): str(s["run"])
        for job in load(GITHUB)["jobs"].values()
        for s in job["steps"]
        if "run" in s
    }


def gitlab_job() -> dict[str, Any]:
    jobs = [
        v for k, v in load(GITLAB).items() if isinstance(v, dict) and "script" in v and not k.startswith(".")
    ]
    assert len(jobs) == 1
    return jobs[0]


def shell_texts() -> dict[str, str]:
    job = gitlab_job()
    return {
        "github": "\n".join(github_steps().values()),
        "gitlab": "\n".join(job.get("before_script", []) + job["script"]),
    }


def invocations(script: str) -> list[list[str]]:
    """Every ``fleetsync SUBCOMMAND ...`` in a shell script, as tokens up to a redirection/pipe."""
    out: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        if line.strip().startswith("#"):
            continue
        for m in re.finditer(r"(?<![\w/.=-])fleetsync\s+([a-z][a-z-]*)([^|;&>]*)", line):
            out.append([m.group(1), *shlex.split(m.group(2))])
    return out


def params(name: str) -> list[Any]:
    """The click parameters of ``fleetsync NAME`` (typer's own click: duck-typed, not imported)."""
    root: Any = typer.main.get_command(app)
    assert name in root.commands, f"fleetsync has no command {name!r}"
    return list(root.commands[name].params)


def check_invocation(tokens: list[str], workdir: Path) -> set[str]:
    """Fail when the real CLI would reject the invocation; return the options it uses.

    Flags are looked up in the command's parameters, then the command is run through typer's
    CliRunner in an empty directory (shell variables replaced by placeholders) so that values
    the parser checks (``-o`` formats) are checked too: a usage error prints "Usage:"."""
    options = {
        opt: p
        for p in params(tokens[0])
        if not p.opts[0].isidentifier()
        for opt in (*p.opts, *p.secondary_opts)
    }
    used: set[str] = set()
    argv = [tokens[0]]
    rest = iter(tokens[1:])
    for tok in rest:
        if tok.startswith("$"):  # an expanded array of options ("${args[@]}"): checked where it is built
            continue
        if not tok.startswith("-"):
            argv.append(str(workdir) if tok == "." else tok)
            continue
        flag, _, inline = tok.partition("=")
        assert flag in options, f"fleetsync {tokens[0]} has no option {flag} (it has {sorted(options)})"
        param = options[flag]
        used.add(param.opts[0])
        argv.append(flag)
        if not param.is_flag:
            value = inline or next(rest)
            argv.append("placeholder" if value.startswith("$") else value)
    result = CliRunner().invoke(app, argv)
    assert "Usage:" not in result.output, f"fleetsync {' '.join(argv)}: {result.output}"
    return used


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_every_fleetsync_command_in_ci_exists_with_the_flags_it_uses(ci: str, tmp_path: Path) -> None:
    calls = invocations(shell_texts()[ci])
    assert sorted({c[0] for c in calls}) == ["plan", "validate"]
    used = {c[0]: check_invocation(c, tmp_path) for c in calls}
    assert {"--base", "--head", "--output"} <= used["plan"]
    for name, opts in used.items():  # and the help a user reads names them too
        result = CliRunner().invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert all(o in result.output for o in opts), (name, opts)


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_labels_reach_plan_through_an_option_the_cli_has(ci: str, tmp_path: Path) -> None:
    text = shell_texts()[ci]
    built = re.findall(r"\+=\((--[a-z-]+) ", text)  # the array the labels are collected into
    assert built == ["--label"]
    assert check_invocation(["plan", ".", *built, "team-a"], tmp_path) == {"--label"}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["plan", ".", "--base-rev", "x"], "has no option --base-rev"),
        (["plan", ".", "-o", "html"], "Usage:"),
        (["validate", ".", ".", "."], "Usage:"),
        (["plans", "."], "no command 'plans'"),
    ],
    ids=["renamed-flag", "unknown-format", "extra-argument", "renamed-command"],
)
def test_a_command_the_cli_would_reject_is_caught(tokens: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=message):
        check_invocation(tokens, tmp_path)


def ci_pins() -> dict[str, dict[str, str]]:
    """FLEETSYNC_VERSION and FLEETSYNC_SOURCE of each CI file."""
    github = load(GITHUB)["jobs"]["validate-and-plan"]["env"]
    gitlab = gitlab_job()["variables"]
    keys = ("FLEETSYNC_VERSION", "FLEETSYNC_SOURCE")
    return {"github": {k: github[k] for k in keys}, "gitlab": {k: gitlab[k] for k in keys}}


INSTALL = 'pip install "fleetsync @ git+${FLEETSYNC_SOURCE}@v${FLEETSYNC_VERSION}"'
CHECK = 'test "$(fleetsync --version)" = "$FLEETSYNC_VERSION"'


def test_both_ci_files_pin_the_same_fleetsync_release_and_install_it() -> None:
    pins = ci_pins()
    assert pins["github"] == pins["gitlab"] and re.fullmatch(
        r"\d+\.\d+\.\d+", pins["github"]["FLEETSYNC_VERSION"]
    )
    for text in shell_texts().values():  # from the release's tag, then checked to be that release
        assert INSTALL in text.replace("pip install --quiet", "pip install")
        assert CHECK in text and text.index("fleetsync @ git+") < text.index(CHECK)


def install_script(ci: str) -> str:
    if ci == "github":
        return github_steps()["Install fleetsync"]
    return "\n".join(line for line in gitlab_job()["before_script"] if "fleetsync" in line)


@pytest.mark.parametrize("ci", ["github", "gitlab"])
@pytest.mark.parametrize(
    ("installed", "ok"),
    [("0.1.0", True), ("0.1.0.dev7+gabc1234", False), ("", False)],
    ids=["release", "dev", "none"],
)
def test_the_install_step_fails_unless_the_pinned_release_is_what_got_installed(
    tmp_path: Path, ci: str, installed: str, ok: bool
) -> None:
    pip = tmp_path / "bin" / "pip"
    pip.parent.mkdir()
    pip.write_text('#!/bin/bash\necho "pip $*" >> "$STUB_LOG"\n')
    pip.chmod(0o755)
    code, calls = run_script(tmp_path, install_script(ci), {**ci_pins()[ci], "STUB_VERSION": installed})
    assert (code == 0) is ok
    [install] = [c for c in calls if c.startswith("pip install ")]
    assert install.endswith(" fleetsync @ git+https://github.com/example/fleetsync@v0.1.0")


def test_gitlab_job_runs_only_for_merge_requests_with_full_history() -> None:
    job = gitlab_job()
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert job["variables"]["GIT_DEPTH"] == "0"


# -- the scripts themselves, against stubs --------------------------------------------------------
STUB_FLEETSYNC = """#!/bin/bash
echo "fleetsync $*" >> "$STUB_LOG"
case "$1" in
  --version) echo "$STUB_VERSION" ;;
  validate) exit "${VALIDATE_EXIT:-0}" ;;
  plan) echo "### fleetsync plan"; exit "${PLAN_EXIT:-1}" ;;
esac
"""
STUB_CURL = """#!/bin/bash
echo "curl $*" >> "$STUB_LOG"
case " $* " in *" -X "*) exit 0 ;; esac
printf '%s' "$NOTES_JSON"
"""
STUB_LOGGER = '#!/bin/bash\necho "$(basename "$0") $*" >> "$STUB_LOG"\n'


def run_script(tmp_path: Path, script: str, env: dict[str, str]) -> tuple[int, list[str]]:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for name, text in (("fleetsync", STUB_FLEETSYNC), ("curl", STUB_CURL), ("git", STUB_LOGGER)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    (stubs / "python3").unlink(missing_ok=True)
    (stubs / "python3").symlink_to(sys.executable)
    log = tmp_path / "calls.log"
    log.write_text("")
    full = {"PATH": f"{stubs}:/usr/bin:/bin", "STUB_LOG": str(log), "HOME": str(tmp_path), **env}
    proc = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, log.read_text().splitlines()


GITLAB_ENV = {
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA": "b" * 40,
    "CI_API_V4_URL": "https://gitlab.example/api/v4",
    "CI_PROJECT_ID": "7",
    "CI_MERGE_REQUEST_IID": "12",
    "NOTES_JSON": "[]",
}


def gitlab(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    return run_script(tmp_path, "\n".join(gitlab_job()["script"]), {**GITLAB_ENV, **env})


def github_plan(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    out = tmp_path / "github_output"
    return run_script(
        tmp_path,
        github_steps()["Plan"],
        {"BASE_SHA": "b" * 40, "LABELS_JSON": "[]", "GITHUB_OUTPUT": str(out), **env},
    )


@pytest.mark.parametrize(
    ("plan_exit", "validate_exit", "job_exit"),
    [(0, 0, 0), (1, 0, 0), (2, 0, 2), (3, 0, 3), (4, 0, 4), (2, 1, 2), (1, 1, 1)],
    ids=[
        "no-change",
        "changes",
        "checks-fail",
        "runtime-error",
        "runtime-error-4",
        "invalid-head",
        "validate-findings",
    ],
)
def test_gitlab_job_fails_on_plan_exit_2_or_more_and_on_validate_findings(
    tmp_path: Path, plan_exit: int, validate_exit: int, job_exit: int
) -> None:
    code, _ = gitlab(tmp_path, PLAN_EXIT=str(plan_exit), VALIDATE_EXIT=str(validate_exit))
    assert code == job_exit


@pytest.mark.skipif(
    not Path("/usr/bin/jq").exists(), reason="the GitHub step uses jq, as ubuntu-latest has it"
)
@pytest.mark.parametrize(("plan_exit", "step_exit"), [(0, 0), (1, 0), (2, 2), (3, 3)])
def test_github_plan_step_fails_on_exit_2_or_more(tmp_path: Path, plan_exit: int, step_exit: int) -> None:
    code, _ = github_plan(tmp_path, PLAN_EXIT=str(plan_exit))
    assert code == step_exit
    assert (tmp_path / "github_output").read_text() == f"exit-code={plan_exit}\n"


@pytest.mark.skipif(
    not Path("/usr/bin/jq").exists(), reason="the GitHub step uses jq, as ubuntu-latest has it"
)
def test_github_passes_every_pr_label_to_plan(tmp_path: Path) -> None:
    _, calls = github_plan(tmp_path, LABELS_JSON=json.dumps(["team a", "fleetsync/approve-blast-radius"]))
    plan = next(c for c in calls if c.startswith("fleetsync plan"))
    assert plan.endswith("--label team a --label fleetsync/approve-blast-radius")
    assert f"--base {'b' * 40} --head HEAD -o markdown" in plan


def test_gitlab_passes_every_mr_label_to_plan_against_the_mr_base(tmp_path: Path) -> None:
    _, calls = gitlab(tmp_path, CI_MERGE_REQUEST_LABELS="team a,fleetsync/approve-blast-radius")
    plan = next(c for c in calls if c.startswith("fleetsync plan"))
    assert plan == (
        f"fleetsync plan . --base {'b' * 40} --head HEAD -o markdown "
        "--label team a --label fleetsync/approve-blast-radius"
    )
    assert calls[0].startswith("git fetch --no-tags origin main +refs/heads/fleet/*:refs/heads/fleet/*")


def test_gitlab_posts_the_plan_as_a_new_note_the_first_time(tmp_path: Path) -> None:
    code, calls = gitlab(tmp_path, FLEETSYNC_GITLAB_TOKEN="t0ken", PLAN_EXIT="1")
    assert code == 0
    notes = "https://gitlab.example/api/v4/projects/7/merge_requests/12/notes"
    curls = [c for c in calls if c.startswith("curl")]
    assert len(curls) == 2 and curls[0].endswith(f"{notes}?sort=asc&order_by=created_at&per_page=100")
    assert "-X POST" in curls[1] and curls[1].endswith(f"--data-urlencode body@note.md {notes}")
    assert (tmp_path / "note.md").read_text() == f"{MARKER}\n### fleetsync plan\n"


def test_gitlab_updates_its_own_note_on_a_new_push_and_still_fails_a_failed_check(tmp_path: Path) -> None:
    notes = [{"id": 5, "body": "LGTM"}, {"id": 42, "body": f"{MARKER}\n### old plan"}]
    code, calls = gitlab(
        tmp_path, FLEETSYNC_GITLAB_TOKEN="t0ken", PLAN_EXIT="2", NOTES_JSON=json.dumps(notes)
    )
    assert code == 2
    writes = [c for c in calls if c.startswith("curl") and " -X " in c]
    assert len(writes) == 1 and "-X PUT" in writes[0] and writes[0].endswith("/merge_requests/12/notes/42")


def test_gitlab_without_a_token_posts_nothing_and_keeps_the_verdict(tmp_path: Path) -> None:
    code, calls = gitlab(tmp_path, PLAN_EXIT="2")
    assert code == 2
    assert not [c for c in calls if c.startswith("curl")]
    assert os.path.getsize(tmp_path / "plan.md") > 0
