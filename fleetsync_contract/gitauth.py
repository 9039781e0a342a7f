"""Git credentials for the hub and the agent: an HTTPS token or an SSH key, handed to git through
its environment only.

Both sides talk to the same private Git host, so both take the same settings (a token file or
``FLEETSYNC_GIT_TOKEN``, a username, an SSH key file, a known_hosts file) and turn them into the
same environment for every git process their door starts, gitpython's included. The design
choice is that a secret never reaches a command line, a log, an error or a file we write: the
token goes to git through a credential helper given in ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/
``GIT_CONFIG_VALUE_n`` (the helper is a shell function that *reads* the mounted token file, or
the ``FLEETSYNC_GIT_TOKEN`` variable, each time git asks, so a rotated Secret is picked up and
the token is in no argv, not even the helper's), and only for the hosts of the URLs the door
was given, so a redirect elsewhere never receives it; the SSH key goes through ``GIT_SSH_COMMAND``
with the host key pinned (``StrictHostKeyChecking=yes`` against the given known_hosts file). A
URL with credentials in it (``https://user:token@host/x``) is accepted: ``with_url`` splits them
off, so git sees the bare URL and the token travels like any other. Whatever is printed goes
through ``redact`` (URL userinfo and the token's value masked). This module is a leaf of the wire
contract: it reads files and builds strings, it never starts a process.

``remote_env`` is the whole environment a door gives a git process that talks to a remote: the
credentials' entries plus git's own HTTP low-speed limits, appended to the same
``GIT_CONFIG_COUNT`` list (never replacing it), so a stalled HTTP transfer ends by itself. The
wall-clock deadline per git process (``GIT_TIMEOUT_SECONDS``, every transport) is each door's
to enforce: it starts the processes.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_USERNAME = "x-access-token"  # GitHub (PATs and App tokens); GitLab accepts any, or oauth2
TOKEN_ENV = "FLEETSYNC_GIT_TOKEN"  # the token's value; the child git reads it, never its argv
MASK = "***"
GIT_TIMEOUT_SECONDS = 120.0  # default wall-clock bound of one fetch / push / ls-remote
LOW_SPEED_LIMIT = 1000  # bytes a second: an HTTP transfer slower than this ...
LOW_SPEED_SECONDS = 30  # ... for this long is aborted by git (http.lowSpeedLimit/lowSpeedTime)

# scheme://userinfo@ up to the last "@" before the path (a password may hold a raw "@"); the
# userinfo has no "/", so a path with an "@" is left alone
_URL_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]+@")


class CredentialsError(ValueError):
    """A credential setting that cannot work (a missing or unreadable file, an empty token):
    a configuration mistake, reported in one line before anything runs."""


def mask_url_credentials(text: str) -> str:
    """``https://user:token@host/x`` → ``https://***@host/x``; anything else unchanged."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _readable(path: Path, flag: str) -> Path:
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise CredentialsError(f"{flag} {path}: {e.strerror or 'cannot be read'}") from None
    if not path.is_file():
        raise CredentialsError(f"{flag} {path}: not a file")
    return path


@dataclass(frozen=True, slots=True)
class GitCredentials:
    """How git authenticates: nothing (the default), an HTTPS token, an SSH key, or both.

    ``token`` holds a token's value (from the environment or a URL) and is left out of ``repr``;
    ``token_file`` is re-read by git's credential helper on every request.
    """

    username: str | None = None  # None: the URL's user, else DEFAULT_USERNAME
    token_file: Path | None = None
    token: str | None = field(default=None, repr=False)
    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    hosts: tuple[str, ...] = ()  # ``scheme://host[:port]`` the token is for; () any that asks

    @property
    def login(self) -> str:
        return self.username or DEFAULT_USERNAME

    @property
    def has_token(self) -> bool:
        return self.token_file is not None or bool(self.token)

    @property
    def uses_ssh(self) -> bool:
        return self.ssh_key_file is not None or self.known_hosts_file is not None

    def env(self) -> dict[str, str]:
        """The environment every git process of a door gets (merged over its own)."""
        out: dict[str, str] = {}
        if self.has_token:
            # An empty helper first resets any helper of the user's or the image's config; ours
            # then answers only for the hosts the door was given (``with_url``), so a redirect
            # to another host is never handed the token.
            keys = [f"credential.{h}.helper" for h in self.hosts] or ["credential.helper"]
            config = [("credential.helper", ""), *((k, self._helper()) for k in keys)]
            out["GIT_CONFIG_COUNT"] = str(len(config))
            for i, (key, value) in enumerate(config):
                out[f"GIT_CONFIG_KEY_{i}"] = key
                out[f"GIT_CONFIG_VALUE_{i}"] = value
            if self.token_file is None and self.token:
                out[TOKEN_ENV] = self.token
        if self.uses_ssh:
            out["GIT_SSH_COMMAND"] = self.ssh_command()
        return out

    def _helper(self) -> str:
        """A ``credential.helper`` shell function: answers ``get`` (ignores store/erase) with the
        username and the token, read from the file or ``$FLEETSYNC_GIT_TOKEN`` by shell builtins
        only (``read``, ``printf``), so no process is started with the token in its argv."""
        if self.token_file is not None:
            read = f'IFS= read -r t < {shlex.quote(str(self.token_file))} || test -n "$t" || exit 1'
        else:
            read = f't="${TOKEN_ENV}"'
        return (
            '!f() { test "$1" = get || return 0; '
            f"{read}; "
            f"printf 'username=%s\\npassword=%s\\n' {shlex.quote(self.login)} \"$t\"; }}; f"
        )

    def ssh_command(self) -> str:
        """``GIT_SSH_COMMAND``: our key only, the host key pinned, never a prompt (a shell string,
        every path quoted)."""
        argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        if self.ssh_key_file is not None:
            argv += ["-i", str(self.ssh_key_file), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file is not None:
            # ssh reads this option's value as a whitespace-separated list of files unless it
            # is in double quotes (ssh_config(5)); credentials_from refuses a '"' in the path
            path = str(self.known_hosts_file)
            quoted = f'"{path}"' if any(c.isspace() for c in path) else path
            argv += ["-o", f"UserKnownHostsFile={quoted}"]
        return shlex.join(argv)

    def redact(self, text: str) -> str:
        """``text`` with URL credentials and the token's value (wherever it came from) masked."""
        text = mask_url_credentials(text)
        for secret in self._secrets():
            text = text.replace(secret, MASK)
        return text

    def _secrets(self) -> list[str]:
        found = [self.token] if self.token else []
        if self.token_file is not None:
            try:
                line = self.token_file.read_text(errors="replace").strip()
            except OSError:
                line = ""
            if line:
                found.append(line)
        return [s for s in found if len(s) >= 4]  # never mask every "a" of a message


NO_CREDENTIALS = GitCredentials()


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:token@host/x`` → (``https://host/x``, user, token); a URL without a
    password keeps its user (``https://oauth2@host/x`` → unchanged, ``oauth2``, None).

    Only http(s) URLs are read: an ``ssh://git@host`` user is a login name, not a secret."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    if not sep:
        return url, unquote(user) or None, None
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) or None


def with_url(url: str, credentials: GitCredentials) -> tuple[str, GitCredentials]:
    """The URL git is given and the credentials it authenticates with: a password in ``url`` is
    taken out of it and used as the token unless one is configured; its user is the login unless
    one is configured; an http(s) URL's host joins the hosts the token is handed to. Every door
    passes each URL it is given through here."""
    clean, user, token = split_url_credentials(url)
    parts = urlsplit(clean)
    hosts = credentials.hosts
    if parts.scheme in ("http", "https"):
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        hosts = hosts if origin in hosts else (*hosts, origin)
    return clean, replace(
        credentials,
        username=credentials.username or user,
        token=credentials.token if credentials.has_token else token,
        hosts=hosts,
    )


def credentials_from(
    *,
    token_file: Path | None = None,
    token: str | None = None,
    username: str | None = None,
    ssh_key_file: Path | None = None,
    known_hosts_file: Path | None = None,
) -> GitCredentials:
    """Credentials from the settings (flags, then the environment, as the CLI read them);
    CredentialsError for one that cannot work. A token file wins over a token value."""
    if token is not None and not token.strip():
        raise CredentialsError(f"{TOKEN_ENV} is set but empty")
    if token_file is not None:
        _readable(token_file, "--git-token-file")
        token = None
    if username is not None and (not username.strip() or any(ord(c) < 32 for c in username)):
        raise CredentialsError(f"--git-username {username!r}: not a user name")
    if known_hosts_file is not None and '"' in str(known_hosts_file):
        raise CredentialsError(f"--git-known-hosts-file {known_hosts_file}: ssh cannot read a path with '\"'")
    for path, flag in ((ssh_key_file, "--git-ssh-key-file"), (known_hosts_file, "--git-known-hosts-file")):
        if path is not None:
            _readable(path, flag)
    return GitCredentials(
        username=username.strip() if username else None,
        token_file=token_file,
        token=token.strip() if token else None,
        ssh_key_file=ssh_key_file,
        known_hosts_file=known_hosts_file,
    )


def with_git_config(env: Mapping[str, str], config: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``env`` with ``config`` appended as further ``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``
    entries after the ones ``env`` already holds (``GIT_CONFIG_COUNT`` grows, nothing is lost)."""
    out = dict(env)
    start = int(out.get("GIT_CONFIG_COUNT", "0") or "0")
    for i, (key, value) in enumerate(config, start):
        out[f"GIT_CONFIG_KEY_{i}"] = key
        out[f"GIT_CONFIG_VALUE_{i}"] = value
    out["GIT_CONFIG_COUNT"] = str(start + len(config))
    return out


def remote_env(credentials: GitCredentials) -> dict[str, str]:
    """The environment of a git process that talks to a remote: ``credentials.env()`` plus
    git's HTTP low-speed limits (a transfer below ``LOW_SPEED_LIMIT`` bytes/s for
    ``LOW_SPEED_SECONDS`` is aborted by git itself)."""
    return with_git_config(
        credentials.env(),
        [("http.lowSpeedLimit", str(LOW_SPEED_LIMIT)), ("http.lowSpeedTime", str(LOW_SPEED_SECONDS))],
    )
