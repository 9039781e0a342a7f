"""git's reason in one line, from raw stderr or from gitpython's wrapped text."""

from __future__ import annotations

import pytest

from fleetsync_contract.gitreason import git_reason, unwrap

HINTS = ((("does not appear to be a git repository",), "check --repo"),)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("", "git failed without saying why"),
        (
            "fatal: 'x.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\n"
            "Please make sure you have the correct access rights\nand the repository exists.\n",
            "'x.git' does not appear to be a git repository (check --repo)",
        ),
        (
            "To /srv/fleet.git\n ! [rejected]        main -> main (stale info)\nerror: failed to push some refs\n",
            "[rejected]        main -> main (stale info)",
        ),
        ("error: unable to create file:\nPermission denied\n", "unable to create file: Permission denied"),
        ("hint: some advice only\n", "hint: some advice only"),
    ],
)
def test_the_reason_is_gits_first_fatal_or_rejected_line_with_the_fix(stderr: str, expected: str) -> None:
    assert git_reason(stderr, HINTS) == expected


def test_gitpythons_wrapping_is_taken_off_so_a_lone_quote_is_never_the_reason() -> None:
    wrapped = (
        "Cmd('git') failed due to: exit code(128)\n  cmdline: git fetch origin\n"
        "  stderr: 'fatal: repository 'http://h/x.git/' not found\n'"
    )
    assert git_reason(unwrap(wrapped)) == "repository 'http://h/x.git/' not found"
    assert unwrap("plain text") == "plain text"
