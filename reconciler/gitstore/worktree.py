"""A person's work tree: committing a few files as a user would, the one place outside the hub's
object store where fleetsync changes a repository.

``fleetsync approve`` and ``fleetsync drift adopt`` commit into the user's own checkout (their
identity, their signing configuration, their hooks), and the demo builds a fleet repo with a
bare remote the same way a team would. None of that is the hub's store (reconciler/gitstore/repo.py
writes objects and moves refs without a work tree), but it is still Git, so it goes through this
door too: the commands are plain ``git`` processes with fixed argument lists, names are checked
(``check_branch``) and paths made repo-relative before they reach a command line, and file content
and messages go in on stdin. Two ways to commit: ``commit`` on the checked-out branch (only the
named paths, whatever else is staged, or everything for the demo), and ``commit_to_new_branch``,
which builds the commit from a base with a temporary index and creates the branch, leaving the
work tree and index untouched. Every failure is a ``WorkTreeError`` (a ``UserError``: the user's
hook, signing key or lock is theirs to fix).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.errors import UserError
from reconciler.gitstore.refs import ZERO, _check_sha, check_branch

GIT_TIMEOUT = 60  # seconds for one git process


class WorkTreeError(UserError):
    """git refused to read or change a work tree (not a repository, a hook, signing, a lock...)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A fixed author and committer; a work tree opened with one also ignores the user's and the
    system's git configuration (the demo's repositories behave the same on every machine)."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }


def _run(
    cwd: Path, args: Sequence[str], *, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> str:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args],
            input=stdin,
            capture_output=True,
            env=full_env,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise WorkTreeError(f"cannot run git: {e}") from e
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise WorkTreeError(
            f"git {args[0]} failed: {lines[-1] if lines else 'exit code ' + str(done.returncode)}"
        )
    return done.stdout.decode(errors="replace").strip()


def _relative(path: str) -> str:
    """``path`` if it is a plain repo-relative path (no leading ``-`` or ``/``, no ``..``)."""
    parts = PurePosixPath(path).parts
    if (
        not path
        or path.startswith(("-", "/"))
        or "\0" in path
        or "\\" in path
        or any(p in ("..", ".git") for p in parts)
    ):
        raise UserError(f"{path!r} is not a path inside the repository")
    return path


def init_bare(path: Path) -> None:
    """An empty bare repository at ``path`` (a local stand-in for a hosted remote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(
        path.parent,
        ["init", "-q", "--bare", str(path)],
        env={"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
    )


class WorkTree:
    """The checkout at ``top``; ``identity`` None means the user's own git identity and config."""

    def __init__(self, top: Path, identity: Identity | None = None):
        self.top = top
        self.identity = identity
        self._env = identity.env() if identity is not None else {}

    @classmethod
    def open(cls, path: Path, identity: Identity | None = None) -> WorkTree:
        """The work tree ``path`` is in (any directory inside it); WorkTreeError if none."""
        env = identity.env() if identity is not None else {}
        return cls(Path(_run(path, ["rev-parse", "--show-toplevel"], env=env)), identity)

    @classmethod
    def init(cls, path: Path, identity: Identity | None = None, branch: str = "main") -> WorkTree:
        """A new repository at ``path`` (which may hold files already) on ``branch``."""
        env = identity.env() if identity is not None else {}
        _run(path, ["init", "-q", "-b", check_branch(branch)], env=env)
        return cls(path, identity)

    def _git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        return _run(self.top, args, stdin=stdin, env={**self._env, **(env or {})})

    # -- reading ------------------------------------------------------------------------------
    def head(self) -> str:
        """The commit id HEAD points at."""
        return _check_sha(self._git("rev-parse", "--verify", "HEAD^{commit}"))

    def short(self, commit: str) -> str:
        """``commit`` abbreviated the way this repository abbreviates ids."""
        return self._git("rev-parse", "--short", _check_sha(commit))

    def current_branch(self) -> str:
        """The checked-out branch (``HEAD`` when detached)."""
        return self._git("rev-parse", "--abbrev-ref", "HEAD")

    def author(self) -> str:
        """``Name <email>`` of whoever git will record as a commit's author here."""
        ident = self._git("var", "GIT_AUTHOR_IDENT")
        return ident.rsplit(" ", 2)[0] if ident.count(" ") >= 2 else ident

    def has_branch(self, branch: str) -> bool:
        try:
            self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{check_branch(branch)}")
        except WorkTreeError:
            return False
        return True

    def default_remote(self) -> str:
        """The remote a user would push to: ``origin`` if there is one (or none), else the first."""
        remotes = self._git("remote").split()
        return "origin" if "origin" in remotes or not remotes else remotes[0]

    def changed(self, paths: Sequence[str]) -> bool:
        """Whether any of ``paths`` differs from HEAD in the index or the work tree."""
        return bool(self._git("status", "--porcelain", "--", *(_relative(p) for p in paths)))

    # -- committing ---------------------------------------------------------------------------
    def commit(
        self,
        files: Mapping[str, bytes | None],
        message: bytes,
        *,
        everything: bool = False,
        sign: bool = False,
    ) -> str:
        """Write (bytes) or delete (None) ``files`` in the work tree and commit them on the
        checked-out branch; the new commit id.

        Only ``files`` are committed, whatever else is staged; ``everything`` commits the whole
        work tree instead (and commits even when nothing changed).
        """
        root = self.top.resolve()
        paths = sorted(_relative(p) for p in files)
        for rel in paths:
            target = (root / rel).resolve()
            if root not in target.parents:
                raise UserError(f"{rel}: outside the repository")
            data = files[rel]
            if data is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        signing = ["-S"] if sign else []
        if everything:
            self._git("add", "-A")
            self._git("commit", "--quiet", "--allow-empty", *signing, "--file=-", stdin=message)
        else:
            self._git("add", "--", *paths)
            self._git("commit", "--quiet", *signing, "--file=-", "--", *paths, stdin=message)
        return self.head()

    def commit_to_new_branch(
        self, branch: str, base: str, files: Mapping[str, bytes], message: bytes, *, sign: bool = False
    ) -> str:
        """A commit on top of ``base`` that adds or replaces ``files``, as the new branch
        ``branch`` (WorkTreeError if it exists); the work tree and index stay untouched."""
        ref = f"refs/heads/{check_branch(branch)}"
        with tempfile.TemporaryDirectory(prefix="fleetsync-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", _check_sha(base), env=env)
            for rel, data in sorted(files.items()):
                blob = self._git("hash-object", "-w", "--stdin", stdin=data)
                self._git(
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    f"100644,{_check_sha(blob)},{_relative(rel)}",
                    env=env,
                )
            tree = self._git("write-tree", env=env)
        signing = ["-S"] if sign else []
        commit = _check_sha(
            self._git("commit-tree", *signing, _check_sha(tree), "-p", base, "-F", "-", stdin=message)
        )
        self._git("update-ref", ref, commit, ZERO)
        return commit

    def push(self, remote: Path, branch: str = "main") -> None:
        """Push ``branch`` to the same branch of the repository at ``remote``."""
        check_branch(branch)
        self._git("push", "-q", str(remote), f"{branch}:{branch}")
