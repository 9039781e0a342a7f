"""The README's command table lists every CLI command, and nothing that is not one: the table is
what a new user reads first, so it must not fall behind the CLI (it once left out ``drift list``
and ``drift show``)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from fleetsync.cli import app

README = Path(__file__).resolve().parents[3] / "README.md"


def cli_commands(group: object, prefix: tuple[str, ...] = ()) -> set[str]:
    subcommands = getattr(group, "commands", None)
    if subcommands is None:
        return {" ".join(prefix)}
    return {c for name, sub in subcommands.items() for c in cli_commands(sub, (*prefix, name))}


def readme_commands() -> set[str]:
    """The command of each row of the README's command table: the words after `fleetsync` up to
    the first argument or option."""
    table = README.read_text().split("| command | what it does |", 1)[1].split("\n\n", 1)[0]
    found: set[str] = set()
    for row in re.findall(r"^\| `fleetsync ([^`]*)`", table, re.MULTILINE):
        words = [w for w in re.split(r"\s+", row) if re.fullmatch(r"[a-z][a-z-]*", w)]
        found.add(
            " ".join(
                words[:2]
                if words[0] in ("hub", "agent", "drift", "dev", "secret", "team", "template")
                else words[:1]
            )
        )
    return found


def test_the_readme_command_table_lists_every_cli_command() -> None:
    assert readme_commands() == cli_commands(typer.main.get_command(app))


ROOT = README.parent
DOCS = [README, ROOT / "fleet-repo-template" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_docs_name_only_commands_that_exist() -> None:
    """`fleetsync status` was promised by the template README; there is no such command."""
    commands = {c.split()[0] for c in cli_commands(typer.main.get_command(app))}
    for doc in DOCS:
        for word in re.findall(r"`fleetsync ([a-z][a-z-]*)", doc.read_text()):
            assert word in commands, f"{doc.relative_to(ROOT)} names `fleetsync {word}`"


def test_the_readme_links_nothing_outside_the_repository() -> None:
    """A clone has no ../shared/design.md."""
    assert "../" not in README.read_text()


def test_the_demo_docs_select_placed_objects_by_the_label_the_agent_sets() -> None:
    from agent.apply.takeover import OWNED_BY

    text = (ROOT / "docs" / "demo.md").read_text()
    assert f"kubectl get all -A -l {OWNED_BY}`" in text and "managed-by=fleetsync" not in text


def test_the_readme_and_the_demo_docs_agree_on_how_long_the_demo_takes() -> None:
    said = {
        m
        for doc in (README, ROOT / "docs" / "demo.md")
        for m in re.findall(r"about (\w+) seconds", doc.read_text())
    }
    assert len(said) == 1, said


def test_the_readme_get_row_names_every_kind_of_fleetsync_get() -> None:
    from fleetsync.cli.get import KINDS

    table = README.read_text().split("| command | what it does |", 1)[1].split("\n\n", 1)[0]
    rows = [r for r in table.splitlines() if r.startswith("| `fleetsync get ")]
    named = {k for r in rows for k in r.split("`")[1].split()[2].replace("\\|", "|").split("|")}
    assert named == set(KINDS)
