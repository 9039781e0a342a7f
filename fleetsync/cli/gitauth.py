"""The Git credential flags every command that talks to a remote takes, and their environment
fallbacks, turned into one ``GitCredentials`` (fleetsync_contract/gitauth.py).

Files, not values, on the command line: ``--git-token-file`` and ``--git-ssh-key-file`` name a
mounted Secret, because a process's argv is readable by every user of the machine (``ps``); a
token's value is taken only from the environment (``FLEETSYNC_GIT_TOKEN``). Each flag falls back
to a ``FLEETSYNC_GIT_*`` variable, so a Deployment can set them all from one Secret. A setting
that cannot work (a missing file) is a usage error: one line, exit 2, before anything starts.
docs/operations.md, "Git credentials", shows the set-up for GitHub, GitLab and a plain SSH server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_USAGE, fail
from fleetsync_contract.gitauth import (
    TOKEN_ENV,
    CredentialsError,
    GitCredentials,
    credentials_from,
)

TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--git-token-file",
        envvar="FLEETSYNC_GIT_TOKEN_FILE",
        help=f"File holding an HTTPS token for the Git host (or set {TOKEN_ENV}).",
    ),
]
UsernameOpt = Annotated[
    str | None,
    typer.Option(
        "--git-username",
        envvar="FLEETSYNC_GIT_USERNAME",
        help="User sent with the token (default x-access-token; GitLab: oauth2 or the token's name).",
    ),
]
SshKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--git-ssh-key-file",
        envvar="FLEETSYNC_GIT_SSH_KEY_FILE",
        help="Private key for ssh:// and git@host: URLs (no passphrase).",
    ),
]
KnownHostsOpt = Annotated[
    Path | None,
    typer.Option(
        "--git-known-hosts-file",
        envvar="FLEETSYNC_GIT_KNOWN_HOSTS_FILE",
        help="known_hosts pinning the SSH server's host key (checked strictly).",
    ),
]

TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--git-timeout",
        envvar="FLEETSYNC_GIT_TIMEOUT",
        min=1,
        help="Seconds one git fetch or push may take before it is killed and retried later.",
    ),
]


def git_credentials(
    token_file: Path | None, username: str | None, ssh_key_file: Path | None, known_hosts_file: Path | None
) -> GitCredentials:
    """The flags (and ``FLEETSYNC_GIT_TOKEN``) as credentials; a usage error (exit 2) if unusable."""
    try:
        return credentials_from(
            token_file=token_file,
            token=os.environ.get(TOKEN_ENV),
            username=username,
            ssh_key_file=ssh_key_file,
            known_hosts_file=known_hosts_file,
        )
    except CredentialsError as e:
        raise fail(str(e), EXIT_USAGE) from e
