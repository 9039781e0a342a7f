"""Git credentials: what git is handed (environment only), what a user sees (masked), and what a
bad setting says (one line)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from fleetsync_contract.gitauth import (
    NO_CREDENTIALS,
    TOKEN_ENV,
    CredentialsError,
    GitCredentials,
    credentials_from,
    mask_url_credentials,
    split_url_credentials,
    with_url,
)

TOKEN = "ghp_s3cr3t-T0ken"


def run_helper(creds: GitCredentials, action: str, extra_env: dict[str, str] | None = None) -> str:
    """Run the credential helper exactly as git runs a ``!`` helper: ``sh -c '<helper> <action>'``."""
    env = creds.env()
    helper = env["GIT_CONFIG_VALUE_1"]
    assert helper.startswith("!")
    done = subprocess.run(
        ["sh", "-c", f"{helper[1:]} {action}"],
        env={
            "PATH": "/usr/bin:/bin",
            **{k: v for k, v in env.items() if k == TOKEN_ENV},
            **(extra_env or {}),
        },
        capture_output=True,
        check=True,
        text=True,
    )
    return done.stdout


def test_no_credentials_change_nothing_in_gits_environment() -> None:
    assert NO_CREDENTIALS.env() == {}


def test_a_token_file_is_read_by_the_helper_and_never_put_in_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "my token"  # a space: the path is quoted for the shell
    token_file.write_text(TOKEN + "\n")
    creds = credentials_from(token_file=token_file, username="oauth2")
    env = creds.env()
    assert TOKEN not in repr(env) and TOKEN not in repr(creds)
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_VALUE_0"] == ""  # earlier helpers reset
    assert run_helper(creds, "get") == f"username=oauth2\npassword={TOKEN}\n"
    assert run_helper(creds, "store") == "" and run_helper(creds, "erase") == ""
    token_file.write_text("rotated-token")  # a rotated Secret, no trailing newline, is read next time
    assert run_helper(creds, "get") == "username=oauth2\npassword=rotated-token\n"


def test_a_token_value_travels_in_the_environment_not_in_the_helper_text() -> None:
    creds = credentials_from(token=TOKEN)
    env = creds.env()
    assert env[TOKEN_ENV] == TOKEN
    assert TOKEN not in env["GIT_CONFIG_VALUE_1"]
    assert run_helper(creds, "get") == f"username=x-access-token\npassword={TOKEN}\n"


def test_the_helper_answers_only_for_the_hosts_the_door_was_given(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(TOKEN)
    creds = credentials_from(token_file=tmp_path / "t")
    _, creds = with_url("https://git.example.com/fleet.git", creds)
    _, creds = with_url("https://bot:x@git.example.com/other.git", creds)  # the same host once
    _, creds = with_url("http://127.0.0.1:8080/hub.git", creds)
    _, creds = with_url("ssh://git@git.example.com/fleet.git", creds)  # no helper for ssh
    env = creds.env()
    keys = [env[f"GIT_CONFIG_KEY_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))]
    assert keys == [
        "credential.helper",  # reset, empty
        "credential.https://git.example.com.helper",
        "credential.http://127.0.0.1:8080.helper",
    ]
    assert env["GIT_CONFIG_VALUE_0"] == ""


def test_a_token_file_wins_over_a_token_value(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("from-file")
    creds = credentials_from(token_file=tmp_path / "t", token="from-env")
    assert creds.token is None and TOKEN_ENV not in creds.env()


def test_ssh_command_pins_the_host_key_and_uses_only_the_given_key(tmp_path: Path) -> None:
    key = tmp_path / "it's a key"  # a quote and a space survive the shell
    known = tmp_path / "known hosts"
    key.write_text("k")
    known.write_text("h")
    creds = credentials_from(ssh_key_file=key, known_hosts_file=known)
    argv = shlex.split(creds.env()["GIT_SSH_COMMAND"])
    assert argv[0] == "ssh"
    assert argv[argv.index("-i") + 1] == str(key)
    options = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert "StrictHostKeyChecking=yes" in options
    assert "IdentitiesOnly=yes" in options
    assert f'UserKnownHostsFile="{known}"' in options  # quoted for ssh: one file, not a list
    assert "BatchMode=yes" in options  # never a passphrase or host-key prompt
    assert "GIT_CONFIG_COUNT" not in creds.env()  # no token, no helper


@pytest.mark.parametrize(
    ("flag", "kwargs"),
    [
        ("--git-token-file", "token_file"),
        ("--git-ssh-key-file", "ssh_key_file"),
        ("--git-known-hosts-file", "known_hosts_file"),
    ],
)
def test_a_missing_file_is_a_one_line_error_naming_flag_and_path(
    tmp_path: Path, flag: str, kwargs: str
) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(CredentialsError) as e:
        credentials_from(**{kwargs: missing})  # type: ignore[arg-type]
    assert str(e.value) == f"{flag} {missing}: No such file or directory"


def test_a_known_hosts_path_without_whitespace_is_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "kh").write_text("h")
    argv = shlex.split(credentials_from(known_hosts_file=tmp_path / "kh").ssh_command())
    assert f"UserKnownHostsFile={tmp_path / 'kh'}" in argv and "-i" not in argv


@pytest.mark.parametrize("name", ["", "  ", "bot\npassword=x"])
def test_a_username_that_is_not_one_is_refused(name: str) -> None:
    with pytest.raises(CredentialsError, match="--git-username"):
        credentials_from(username=name)


def test_an_empty_token_variable_is_an_error_not_anonymous_access() -> None:
    with pytest.raises(CredentialsError, match=TOKEN_ENV):
        credentials_from(token="  ")


@pytest.mark.parametrize(
    ("url", "clean", "user", "token"),
    [
        (
            "https://bot:tok%40en@git.example.com/fleet.git",
            "https://git.example.com/fleet.git",
            "bot",
            "tok@en",
        ),
        (
            "https://oauth2@gitlab.example.com/f.git",
            "https://oauth2@gitlab.example.com/f.git",
            "oauth2",
            None,
        ),
        ("https://git.example.com/fleet.git", "https://git.example.com/fleet.git", None, None),
        ("ssh://git@git.example.com/fleet.git", "ssh://git@git.example.com/fleet.git", None, None),
        ("git@github.com:org/fleet.git", "git@github.com:org/fleet.git", None, None),
        ("/srv/fleet.git", "/srv/fleet.git", None, None),
    ],
)
def test_split_url_credentials(url: str, clean: str, user: str | None, token: str | None) -> None:
    assert split_url_credentials(url) == (clean, user, token)


def test_a_password_in_the_url_becomes_the_token_unless_one_is_configured(tmp_path: Path) -> None:
    url, creds = with_url(f"https://bot:{TOKEN}@git.example.com/fleet.git", NO_CREDENTIALS)
    assert url == "https://git.example.com/fleet.git"
    assert creds.token == TOKEN and creds.login == "bot"
    (tmp_path / "t").write_text("configured")
    configured = credentials_from(token_file=tmp_path / "t", username="me")
    _, kept = with_url(f"https://bot:{TOKEN}@git.example.com/fleet.git", configured)
    assert kept.token is None and kept.token_file == tmp_path / "t" and kept.login == "me"


def test_redact_masks_url_credentials_and_the_token_wherever_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "t").write_text(TOKEN + "\n")
    creds = credentials_from(token_file=tmp_path / "t")
    text = f"fatal: unable to access 'https://u:{TOKEN}@h/x': and {TOKEN} again"
    assert creds.redact(text) == "fatal: unable to access 'https://***@h/x': and *** again"
    assert credentials_from(token=TOKEN).redact(f"echo {TOKEN}") == "echo ***"
    assert (
        mask_url_credentials("see https://h/x@y and http://a:b@c/") == "see https://h/x@y and http://***@c/"
    )
