"""A fork's work tree taking a template's history: fetch a release tag, split the template's
directory out of it, merge it on a new branch, and read and settle the conflicts one path at a time.

``fleetsync template update`` (fleetsync/cli/template.py) decides what to do with each conflict;
this module only does what git must do, as docs/forking.md does it by hand: ``git subtree split``
of ``fleet-repo-template/`` at a tag (deterministic, so a fork made from an earlier split shares
its history and the merge finds its base), then ``git merge --no-commit`` so a person can finish
what the rules leave. It lives with the other work-tree door (reconciler/gitstore/worktree.py,
whose ``WorkTree`` it extends) because the module map lets only reconciler/gitstore/ start git.
Every argument that comes from outside is checked before it reaches a command line: tags are
release tags (``vX.Y.Z``), branches pass ``check_branch``, paths read from the index pass
``_relative`` and follow ``--``, and the template URL is never printed unmasked. Each git process
has a timeout; a split or a fetch of a whole repository gets a longer one than a local step.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetsync_contract.gitauth import mask_url_credentials
from reconciler.errors import UserError
from reconciler.gitstore.refs import GitFailure, _check_sha, check_branch
from reconciler.gitstore.worktree import WorkTree, WorkTreeError, _relative

LOCAL_TIMEOUT = 60  # seconds for a step in the fork's own repository
REMOTE_TIMEOUT = 600  # a fetch of the template's history, or a split of it
TEMPLATE_REFS = "refs/fleetsync/template"  # where fetched release tags are kept in the fork
MAX_UNMERGED = 10_000  # index entries of conflicts read
_RELEASE = re.compile(r"^v(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")
_UNMERGED = re.compile(r"^[0-7]{6} [0-9a-f]{40} ([123])\t(.+)$", re.DOTALL)


class TagNotFound(UserError):
    """The template repository has no such release tag."""


def check_release(tag: str) -> tuple[int, int, int]:
    """``vX.Y.Z`` → (X, Y, Z); UserError for anything else (a release is exactly such a tag)."""
    found = _RELEASE.match(tag)
    if not found:
        raise UserError(f"{tag!r} is not a release tag: give vX.Y.Z, e.g. v0.2.0 (docs/releasing.md)")
    return int(found[1]), int(found[2]), int(found[3])


@dataclass(frozen=True, slots=True)
class Done:
    """One git process that ran to its end."""

    code: int
    out: str
    err: str


class ForkTree(WorkTree):
    """A fork's checkout, with the steps of a template update."""

    def _proc(self, args: Sequence[str], timeout: float = LOCAL_TIMEOUT, stdin: bytes | None = None) -> Done:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **self._env}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.top), *args],
                input=stdin,
                capture_output=True,
                env=env,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GitFailure(mask_url_credentials(f"git {args[0]} did not finish: {e}")) from e
        err = done.stderr.decode(errors="replace").strip()
        return Done(done.returncode, done.stdout.decode(errors="replace").strip(), mask_url_credentials(err))

    @staticmethod
    def _last(done: Done) -> str:
        lines = done.err.splitlines()
        return lines[-1] if lines else f"exit code {done.code}"

    # -- reading ------------------------------------------------------------------------------
    def clean(self) -> bool:
        """No tracked file differs from HEAD, and no merge is in progress."""
        return not self._git("status", "--porcelain", "--untracked-files=no") and not self.merging()

    def merging(self) -> bool:
        return self._proc(["rev-parse", "-q", "--verify", "MERGE_HEAD"]).code == 0

    def remote_url(self, name: str) -> str | None:
        done = self._proc(["remote", "get-url", "--", name])
        return done.out if done.code == 0 and done.out else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        done = self._proc(["merge-base", "--is-ancestor", _check_sha(older), _check_sha(newer)])
        if done.code not in (0, 1):
            raise WorkTreeError(f"git merge-base failed: {self._last(done)}")
        return done.code == 0

    def merge_base(self, a: str, b: str) -> str | None:
        done = self._proc(["merge-base", _check_sha(a), _check_sha(b)])
        return _check_sha(done.out) if done.code == 0 and done.out else None

    def show_file(self, rev: str, path: str) -> bytes | None:
        """``path`` at ``rev`` (a commit id, or ``:N`` for index stage N), None if it is not there."""
        spec = f"{rev if rev.startswith(':') else _check_sha(rev)}:{_relative(path)}"
        done = subprocess.run(
            ["git", "-C", str(self.top), "cat-file", "blob", spec],
            capture_output=True,
            env={**os.environ, **self._env},
            timeout=LOCAL_TIMEOUT,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    def changed_paths(self, a: str, b: str) -> list[str]:
        """Paths that differ between two commits."""
        out = self._git("diff", "--name-only", "-z", _check_sha(a), _check_sha(b), "--")
        return sorted(p for p in out.split("\0") if p)

    def unmerged(self) -> dict[str, frozenset[int]]:
        """Each conflicted path and the index stages it has (1 base, 2 ours, 3 theirs):
        {1, 3} you deleted it and upstream changed it, {1, 2} the reverse, {1, 2, 3} both changed."""
        out: dict[str, set[int]] = {}
        for entry in self._git("ls-files", "--unmerged", "-z").split("\0")[: MAX_UNMERGED * 3]:
            found = _UNMERGED.match(entry)
            if found:
                out.setdefault(_relative(found[2]), set()).add(int(found[1]))
        return {p: frozenset(s) for p, s in sorted(out.items())}

    # -- the template's history ---------------------------------------------------------------
    def fetch_tag(self, url: str, tag: str) -> str:
        """The commit the template repository's release tag names, fetched into this repository
        (kept as ``refs/fleetsync/template/TAG``); TagNotFound when the repository has no such tag."""
        check_release(tag)
        if url.startswith("-"):
            raise UserError("the template repository URL must not start with '-'")
        listed = self._proc(["ls-remote", "--tags", "--", url, f"refs/tags/{tag}"], REMOTE_TIMEOUT)
        if listed.code != 0:
            raise GitFailure(f"cannot read {mask_url_credentials(url)}: {self._last(listed)}")
        if not listed.out:
            raise TagNotFound(f"{mask_url_credentials(url)} has no tag {tag}")
        ref = f"{TEMPLATE_REFS}/{tag}"
        done = self._proc(
            ["fetch", "--quiet", "--no-tags", "--", url, f"+refs/tags/{tag}:{ref}"], REMOTE_TIMEOUT
        )
        if done.code != 0:
            raise GitFailure(f"cannot fetch {tag} from {mask_url_credentials(url)}: {self._last(done)}")
        return _check_sha(self._git("rev-parse", "--verify", f"{ref}^{{commit}}"))

    def split(self, prefix: str, commit: str) -> str:
        """``git subtree split``: the history of ``prefix`` at ``commit``, the directory as root.

        git 2.39's subtree refuses to split a prefix its work tree does not have (a fork has no
        ``fleet-repo-template/``), though it reads only history: an empty directory, which git
        does not track, stands in for the split and is removed after it."""
        stand_in = self.top / _relative(prefix)
        made = not stand_in.exists()
        if made:
            stand_in.mkdir()
        try:
            done = self._proc(
                ["subtree", "split", "-q", f"--prefix={_relative(prefix)}", _check_sha(commit)],
                REMOTE_TIMEOUT,
            )
        finally:
            if made:
                stand_in.rmdir()
        if done.code != 0:
            raise GitFailure(f"git subtree split failed: {self._last(done)}")
        return _check_sha(done.out.splitlines()[-1] if done.out else "")

    # -- the merge ----------------------------------------------------------------------------
    def start_merge(self, branch: str, commit: str) -> None:
        """Create ``branch`` at HEAD, switch to it and merge ``commit`` without committing (the
        merge stays in progress, conflicts and all). WorkTreeError, and back on the old branch
        with ``branch`` gone, if the merge cannot even start."""
        previous = self.current_branch()
        self._git("switch", "--quiet", "-c", check_branch(branch))
        done = self._proc(["merge", "--no-ff", "--no-commit", "--quiet", _check_sha(commit)])
        if done.code != 0 and not self.merging():
            self._proc(
                ["switch", "--quiet", "--", previous] if previous != "HEAD" else ["switch", "--quiet", "-"]
            )
            self._proc(["branch", "-D", "--", branch])
            raise WorkTreeError(f"git merge failed: {self._last(done)}")

    def keep_deleted(self, path: str) -> None:
        self._git("rm", "--quiet", "--force", "--", _relative(path))

    def take_ours(self, path: str) -> None:
        self._git("checkout", "--ours", "--", _relative(path))
        self._git("add", "--", _relative(path))

    def write(self, files: Mapping[str, bytes]) -> None:
        """Write ``files`` into the work tree and stage them (a path settled by content)."""
        root = self.top.resolve()
        for rel, data in sorted(files.items()):
            target = (root / _relative(rel)).resolve()
            if root not in target.parents:
                raise UserError(f"{rel}: outside the repository")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self._git("add", "--", rel)

    def set_merge_message(self, message: bytes) -> None:
        """The message ``git commit`` offers for the merge in progress (a person's commit too)."""
        path = Path(self._git("rev-parse", "--path-format=absolute", "--git-path", "MERGE_MSG"))
        path.write_bytes(message)

    def conclude(self, message: bytes) -> str:
        """Commit the merge in progress (the user's identity, hooks and signing settings)."""
        self._git("commit", "--quiet", "--no-edit", "--file=-", stdin=message)
        return self.head()


def open_fork(path: Path) -> ForkTree:
    """The fork's work tree that ``path`` is in; WorkTreeError if none."""
    return ForkTree(WorkTree.open(path).top)
