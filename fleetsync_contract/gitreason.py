"""git's own reason for a failure, in one line a person can act on, for the hub and the agent.

git's stderr ends in advice, progress or a fragment as often as in the reason (and gitpython
wraps it as ``\\n  stderr: '...'``, whose last line is a lone quote), so the last line is the
wrong one to keep. The reason is the first rejected-ref, ``fatal:`` or ``error:`` line; the fix
comes from a table of what git says, which each side fills with its own words (the hub's
credentials are not the agent's). Credentials are not masked here: callers redact the line they
build (fleetsync_contract/gitauth.py).
"""

from __future__ import annotations

# (substrings of stderr, the fix to append): the first entry with a match wins
Hints = tuple[tuple[tuple[str, ...], str], ...]

_WRAPPED = "stderr: '"

# What git (and its transports) say, by cause: each side pairs them with its own fix.
REPO_MISSING = (
    "does not appear to be a git repository",
    "repository not exported",
    "no such repository",
    "Repository not found",
    "not found",
    "does not exist",
    "No such file or directory",
)
AUTH_FAILED = (
    "Authentication failed",
    "could not read Username",
    "could not read Password",
    "returned error: 401",
)
ACCESS_DENIED = ("Permission denied", "returned error: 403", "access denied", "not allowed")
HOST_KEY = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED")
UNREACHABLE = (
    "Could not resolve host",
    "Could not resolve hostname",
    "Connection refused",
    "unable to connect",
    "Failed to connect",
    "Couldn't connect",
    "Network is unreachable",
    "No route to host",
    "timed out",
)
REJECTED = ("[rejected]", "stale info", "non-fast-forward")


def unwrap(text: str) -> str:
    """git's stderr out of gitpython's ``GitCommandError`` text (``cmdline ... stderr: '...'``)."""
    at = text.find(_WRAPPED)
    if at < 0:
        return text
    inner = text[at + len(_WRAPPED) :]
    return inner[:-1] if inner.rstrip().endswith("'") else inner


def git_reason(stderr: str, hints: Hints = ()) -> str:
    """git's reason for a failure in one line, plus the fix when ``hints`` knows one: the first
    rejected-ref, ``fatal:`` or ``error:`` line (continued by the next when it ends with ``:``)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and ln.strip() != "'"]
    if not lines:
        return "git failed without saying why"
    pick = next((i for i, ln in enumerate(lines) if "[rejected]" in ln or "[remote rejected]" in ln), None)
    if pick is None:
        pick = next((i for i, ln in enumerate(lines) if ln.startswith(("fatal:", "error:"))), len(lines) - 1)
    reason = lines[pick]
    if reason.endswith(":") and pick + 1 < len(lines):
        reason += " " + lines[pick + 1]
    for prefix in ("fatal: ", "error: "):
        reason = reason.removeprefix(prefix)
    reason = reason.lstrip("! ")[:400]
    hint = next((fix for needles, fix in hints if any(n in stderr for n in needles)), "")
    return f"{reason} ({hint})" if hint else reason
