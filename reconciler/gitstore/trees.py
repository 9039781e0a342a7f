"""Reading a commit without a checkout: files, blobs, a bounded ``git log``, and the export the
loader reads a fleet commit from.

Split from reconciler/gitstore/repo.py by subject: this half only reads (``TreeReader``), the
other half (``HubRepo``, which is a ``TreeReader``) fetches, writes objects and moves refs. The
design choice is to read through the cheapest path for the size at hand: a few objects through
gitpython's long-lived ``cat-file`` process (no process spawned), many with one ``ls-tree`` and one
``cat-file --batch`` process. ``export`` never materialises a symlink or a submodule (a link could
lead the loader out of the tree), checks paths component by component and bounds size and file
count; what it leaves out comes back as ``Skipped`` values, and the words a user reads are made
only where a finding is written (reconciler/hub/inputs.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.errors import UserError
from reconciler.gitstore.history import MAX_PATH_HISTORY
from reconciler.gitstore.objects import ObjectWriter, parse_batch, parse_ls_tree, parse_tree
from reconciler.gitstore.refs import GitFailure, _check_sha, _git_env

MAX_EXPORT_BYTES = 256 * 1024 * 1024
MAX_EXPORT_FILES = 100_000
MAX_READ_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path ``export`` left out, and why (``submodule``, ``symbolic link``, ``unsafe path``)."""

    path: str
    reason: str


class TreeReader:
    """Reads of one repository's object store; no refs move and no work tree is touched."""

    def __init__(self, repo: git.Repo):
        self._repo = repo
        self._repo.git.update_environment(**_git_env())
        self._writer = ObjectWriter(Path(repo.common_dir) / "objects")

    @property
    def path(self) -> Path:
        return Path(self._repo.git_dir)

    def tree_id(self, commit: str) -> str:
        self._writer.flush_for(commit)
        return _check_sha(str(self._repo.git.rev_parse(f"{_check_sha(commit)}^{{tree}}")))

    def _git(self, args: Sequence[str], data: bytes = b"") -> bytes:
        """One plain git process in this repository (pathspecs literal, no prompts)."""
        env = {**os.environ, **_git_env(), "GIT_DIR": str(self.path), "GIT_LITERAL_PATHSPECS": "1"}
        done = subprocess.run(["git", *args], input=data, env=env, capture_output=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise GitFailure(f"git {args[0]} failed: " + (lines[-1] if lines else f"exit {done.returncode}"))
        return done.stdout

    def log(self, commit: str, fmt: str, *, path: str | None = None, max_count: int = 1) -> bytes:
        """``git log -n<max_count> --format=<fmt> <commit> -- [<path>]`` (read-only): its output.

        ``path`` is repo content, so it must be repo-relative (no leading ``-`` or ``/``, no
        ``..``); ``commit`` must be a commit id; at most ``MAX_PATH_HISTORY`` commits.
        """
        if path is not None and (
            not path or path.startswith(("-", "/")) or "\0" in path or ".." in path.split("/")
        ):
            raise ValueError(f"not a repo-relative path: {path!r}")
        if not 1 <= max_count <= MAX_PATH_HISTORY or "\0" in fmt:
            raise ValueError(f"git log of {max_count} commits in format {fmt!r} is not allowed")
        args = ["log", f"-n{max_count}", f"--format={fmt}", _check_sha(commit), "--"]
        return self._git(args if path is None else [*args, path])

    def _ls_tree(self, commit: str, prefix: str = "") -> list[tuple[str, str, str, int, str]]:
        """(mode, type, id, size, path) of every entry of ``commit`` under ``prefix``: one process."""
        self._writer.flush_for(commit)
        args = ["ls-tree", "-r", "-z", "-l", "--full-tree", _check_sha(commit)]
        if prefix:
            args += ["--", prefix.rstrip("/") + "/"]
        return parse_ls_tree(self._git(args))

    def _cat_blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """Blob contents by id: one ``git cat-file --batch`` process for all of them."""
        if not shas:
            return {}
        try:
            return parse_batch(
                self._git(["cat-file", "--batch"], "".join(f"{_check_sha(s)}\n" for s in shas).encode())
            )
        except ValueError as e:
            raise GitFailure(str(e)) from e

    def _object(self, sha: str) -> tuple[str, bytes]:
        """One object through gitpython's long-lived ``cat-file`` process (no process spawned)."""
        stream = self._repo.odb.stream(bytes.fromhex(sha))
        return stream.type.decode(), stream.read()

    def _walk(self, commit: str, prefix: str = "") -> list[tuple[str, str, str]]:
        """(mode, id, path) of every non-tree entry of ``commit`` under ``prefix``, reading only
        the tree objects (a few round trips to the long-lived cat-file process)."""
        self._writer.flush_for(commit)
        kind, data = self._object(_check_sha(commit))
        if kind != "commit":
            raise GitFailure(f"{commit[:12]} is not a commit")
        tree = data[5:45].decode()  # "tree <id>\n" comes first
        base = ""
        for part in [p for p in prefix.strip("/").split("/") if p]:
            entries = {name: (mode, sha) for mode, name, sha in self._tree_entries(tree)}
            if part not in entries or entries[part][0] != "40000":
                return []
            tree, base = entries[part][1], f"{base}{part}/"
        out: list[tuple[str, str, str]] = []
        todo = [(tree, base)]
        while todo:
            sha, at = todo.pop()
            for mode, name, child in self._tree_entries(sha):
                if mode == "40000":
                    todo.append((child, f"{at}{name}/"))
                else:
                    out.append((mode, child, at + name))
        return out

    def _tree_entries(self, tree: str) -> list[tuple[str, str, str]]:
        kind, data = self._object(tree)
        if kind != "tree":
            raise GitFailure(f"{tree[:12]} is not a tree")
        return parse_tree(data)

    def read_files(self, commit: str, prefix: str = "", max_bytes: int = MAX_READ_BYTES) -> dict[str, bytes]:
        """Every regular file of ``commit`` (under ``prefix``) → bytes, without a checkout.

        A few files are read through the long-lived cat-file process; many (a status branch
        of a big fleet) with one ``ls-tree`` and one ``cat-file --batch`` process.
        """
        regular = [
            (sha, path) for mode, sha, path in self._walk(commit, prefix) if mode in ("100644", "100755")
        ]
        if len(regular) > 32:
            entries = [e for e in self._ls_tree(commit, prefix) if e[1] == "blob" and e[0] != "120000"]
            if sum(e[3] for e in entries) > max_bytes:
                raise UserError(f"{commit[:12]}:{prefix} holds more than {max_bytes} bytes")
            blobs = self._cat_blobs(sorted({e[2] for e in entries}))
            return {path: blobs[sha] for _, _, sha, _, path in entries}
        files: dict[str, bytes] = {}
        total = 0
        for sha, path in sorted(regular, key=lambda e: e[1]):
            total += self._repo.odb.info(bytes.fromhex(sha)).size
            if total > max_bytes:
                raise UserError(f"{commit[:12]}:{prefix} holds more than {max_bytes} bytes")
            files[path] = self._object(sha)[1]
        return files

    def list_files(self, commit: str, prefix: str = "") -> dict[str, str]:
        """Regular files of ``commit`` under ``prefix`` → blob id, reading no content."""
        return {path: sha for mode, sha, path in self._walk(commit, prefix) if mode in ("100644", "100755")}

    def read_blob(self, blob: str, max_bytes: int = MAX_READ_BYTES) -> bytes:
        self._writer.flush_for(blob)
        info = self._repo.odb.info(bytes.fromhex(_check_sha(blob)))
        if info.size > max_bytes:
            raise UserError(f"blob {blob[:12]} is larger than {max_bytes} bytes")
        data: bytes = self._repo.odb.stream(bytes.fromhex(blob)).read()
        return data

    def read_file(self, commit: str, path: str, max_bytes: int = MAX_READ_BYTES) -> bytes | None:
        self._writer.flush_for(commit)
        try:
            item = self._repo.commit(_check_sha(commit)).tree / path
        except KeyError:
            return None
        if not isinstance(item, git.Blob) or item.mode == 0o120000:
            return None
        if item.size > max_bytes:
            raise UserError(f"{commit[:12]}:{path} is larger than {max_bytes} bytes")
        data: bytes = item.data_stream.read()
        return data

    def export(
        self, commit: str, dest: Path, max_bytes: int = MAX_EXPORT_BYTES, max_files: int = MAX_EXPORT_FILES
    ) -> list[Skipped]:
        """Write ``commit``'s regular files under ``dest``; return the paths left out and why.

        Symlinks and submodules are never materialised (a link could lead the loader out of the
        tree); paths are checked component by component; size and file count are bounded.
        """
        skipped: list[Skipped] = []
        total = 0
        count = 0
        root = dest.resolve()
        wanted: list[tuple[str, list[str]]] = []
        for mode, kind, sha, size, path in self._ls_tree(commit):
            if kind != "blob":
                skipped.append(Skipped(path, "submodule"))
                continue
            if mode == "120000":
                skipped.append(Skipped(path, "symbolic link"))
                continue
            parts = path.split("/")
            if any(p in ("", ".", "..", ".git") or "\0" in p or "\\" in p for p in parts):
                skipped.append(Skipped(path, "unsafe path"))
                continue
            count += 1
            total += size
            if count > max_files or total > max_bytes:
                raise UserError(
                    f"commit {commit[:12]} is larger than the hub reads ({max_files} files, {max_bytes} bytes)"
                )
            wanted.append((sha, parts))
        blobs = self._cat_blobs(sorted({sha for sha, _ in wanted}))
        for sha, parts in wanted:
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blobs[sha])
        return skipped
