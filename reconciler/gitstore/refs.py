"""Naming and checking what the hub hands to git: refs, branches, commit ids, remotes.

Split from reconciler/gitstore/repo.py so the rules that keep repo content off git's command line can
be read (and tested) without gitpython. The design choice: the hub never passes a ref name it
did not build itself, and builds every one only from components that pass
``check_ref_component`` — stricter than ``git check-ref-format`` (no leading dash or dot, no
``..``, no ``/``, no ``.lock``), so a component is safe both as one ref component and as one path
component, and can never be read as an option. A cluster name (a DNS subdomain) passes. The hub
writes only refs under ``HUB_REF_PREFIXES`` (``_check_ref``), and every commit id git prints
back is checked to be 40 hex digits (``_check_sha``) before it goes anywhere else.

The two git failures the hub tells apart live here too, so that modules without gitpython can
raise and catch them: ``RefRace`` (another writer moved a ref: re-read and recompute) and
``GitFailure`` (anything else git could not do); both are ``TransientError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import TransientError, UserError

ZERO = "0" * 40
HUB_REF_PREFIXES = ("refs/heads/fleet/", "refs/fleet/")

_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class RefRace(TransientError):
    """Another writer moved a ref this update expected unchanged: re-read and try again."""

    def __init__(self, refs: Sequence[str]):
        self.refs = tuple(refs)
        super().__init__("refs moved by another writer: " + ", ".join(self.refs))


class GitFailure(TransientError):
    """git could not do what was asked (remote unreachable, repository locked, ...)."""


def check_ref_component(name: str) -> str:
    """``name`` if it is safe as one ref component and one path component; UserError if not.

    Stricter than ``git check-ref-format``: no leading dash or dot (never read as an option or a
    hidden file), no ``..``, no ``.lock`` suffix, no ``/``; cluster names (DNS subdomains) pass.
    """
    if not _COMPONENT.match(name) or ".." in name or name.endswith((".lock", ".")):
        raise UserError(f"{name!r} cannot be used in a Git ref name (letters, digits, '.', '_', '-' only)")
    return name


def check_branch(name: str) -> str:
    """A branch name given by the user, each component checked like a ref component."""
    for part in name.split("/"):
        check_ref_component(part)
    return name


def _check_ref(ref: str) -> str:
    if not ref.startswith(HUB_REF_PREFIXES):
        raise ValueError(f"the hub writes only its own refs, not {ref!r}")
    for part in ref[len("refs/") :].split("/"):
        check_ref_component(part)
    return ref


def _check_sha(sha: str) -> str:
    if not _SHA.match(sha):
        raise GitFailure(f"git returned {sha!r} where a commit id was expected")
    return sha


def _git_env() -> dict[str, str]:
    # Never prompt for credentials in a daemon; never read the machine's system config.
    return {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ASKPASS": "true"}


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """Move ``ref`` (full name) to ``new``; ``old`` is the expected value (None: must not exist)."""

    ref: str
    new: str
    old: str | None


def is_url(location: str) -> bool:
    """A remote URL (``scheme://``, or scp-like ``host:path``) as opposed to a local path."""
    if "://" in location:
        return True
    head, sep, _ = location.partition(":")
    return bool(sep) and "/" not in head and len(head) > 1
