"""One exit-code rule for every command (fleetsync/cli/conventions.py), through the real entry
point ``fleetsync.cli.main`` (which applies the rule to errors no command caught):

  0 ok · 1 findings (something found, or not found) · 2 usage or configuration error · 3+ runtime

The table has a row for every command (``test_the_table_covers_every_command`` keeps it so)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer

from fleetsync.cli import app, main
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import base_files, joined_fleet

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

# (command line with {missing}, {fleet} (a fleet repo the hub has rendered) and {plain} (a
# directory that is not a git repository) filled in, expected exit code)
TABLE: list[tuple[str, int]] = [
    ("version", 0),
    ("validate {fleet}", 0),
    ("validate {missing}", 2),
    ("validate {fleet} -o widgets", 2),
    ("schedule {fleet} --assume-healthy", 0),
    ("schedule {missing}", 2),
    ("plan {fleet} --base HEAD --head HEAD", 0),
    ("plan {missing}", 2),
    ("plan {plain}", 2),
    ("plan {fleet} --base no-such-commit", 2),
    ("plan {fleet} --base HEAD --head HEAD --reports-from upstream", 2),
    ("plan {fleet} --base HEAD --head HEAD --platform {missing}", 2),
    ("get placements --repo {fleet}", 0),
    ("get placements --repo {missing}", 2),
    ("get placements --repo {plain}", 2),
    ("get widgets --repo {fleet}", 2),
    ("get placements nothing-like-it --repo {fleet}", 1),
    ("get drift --repo {fleet}", 0),
    ("get bindings --repo {fleet}", 0),
    ("get bindings web -o json --repo {fleet}", 0),
    ("get bindings nothing-like-it --repo {fleet}", 1),
    ("get policysnapshots --repo {fleet}", 0),
    ("get csps web -o yaml --repo {fleet}", 0),
    ("get policysnapshots nothing-like-it --repo {fleet}", 1),
    ("get teams --repo {fleet}", 0),
    ("get teams nothing-like-it --repo {fleet}", 1),
    ("approve a-run canary --repo {missing}", 2),
    ("approve a-run canary --repo {fleet}", 2),
    ("demo --no-such-flag", 2),
    ("dev kube-server --no-such-flag", 2),
    ("hub reconcile --repo {fleet}", 0),
    ("hub reconcile --repo {missing}", 2),
    ("hub run --repo {missing}", 2),
    ("agent run --repo {missing}", 2),
    ("drift list --repo {fleet}", 0),
    ("drift list --repo {missing}", 2),
    ("drift show eu-1 ConfigMap/web/settings --repo {missing}", 2),
    ("drift show eu-1 ConfigMap/web/settings --repo {fleet}", 1),
    ("drift adopt eu-1 ConfigMap/web/settings --repo {missing}", 2),
    ("drift adopt eu-1 ConfigMap/web/settings --repo {fleet}", 1),
    ("drift adopt eu-1 ConfigMap/web/settings --repo {fleet} --reports origin", 2),
    ("diff --cluster eu-1 --repo {missing} --live {missing}", 2),
    ("diff --cluster eu-1 --repo {fleet} --live {missing}", 2),
    ("diff --cluster eu-1 --repo {fleet} -o widgets", 2),
    ("ui --repo {missing}", 2),
    ("secret encrypt --cluster eu-1 {missing}", 2),
    ("ui --repo {fleet} --commit-url ftp://host/{{sha}}", 2),
    ("team list --dir {plain}", 0),
    ("team list --dir {missing}", 2),
    ("team add a --repo /srv/a.git --namespaces kube-system --dir {plain}", 2),
    ("team remove nothing-like-it --dir {plain}", 1),
    ("template update --to latest --dir {fleet}", 2),
    ("template update --to v0.1.0 --dir {plain}", 2),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("exit-codes")
    fleet = joined_fleet(root / "fleet", NOW, base_files())
    with HubRepo.local(fleet.path) as repo:
        reconcile_once(repo, NOW)
    (root / "plain").mkdir()
    return {"fleet": str(fleet.path), "missing": str(root / "missing"), "plain": str(root / "plain")}


def exit_code(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["fleetsync", *args])
    with pytest.raises(SystemExit) as done:
        main()
    code = done.value.code
    return code if isinstance(code, int) else (0 if code is None else 1)


@pytest.mark.parametrize(("line", "expected"), TABLE, ids=[line for line, _ in TABLE])
def test_every_command_follows_the_exit_code_rule(
    line: str, expected: int, places: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # any cache of a remote goes here, not to the real home
    args = [a.format(**places) for a in line.split()]
    assert exit_code(args, monkeypatch) == expected


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[str]:
    subcommands = getattr(group, "commands", None)
    if subcommands is None:
        return [" ".join(prefix)]
    return [c for name, sub in subcommands.items() for c in _commands(sub, (*prefix, name))]


def test_the_table_covers_every_command() -> None:
    listed = {
        " ".join(
            line.split()[
                : 2
                if line.split()[0] in ("dev", "hub", "agent", "drift", "secret", "team", "template")
                else 1
            ]
        )
        for line, _ in TABLE
    }
    assert set(_commands(typer.main.get_command(app))) <= listed
