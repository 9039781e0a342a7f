"""Git objects written straight into a repository's object store, without a process per object.

The hub writes thousands of blobs and trees per reconcile (one tree per bundle, most blobs
shared between clusters). Spawning ``git hash-object`` for each would dominate a reconcile, so
loose objects are written here in Python exactly as git writes them (zlib of ``"<type> <size>\\0"
+ content``, named by its SHA-1), skipping any object already written or present. Trees are
built from a flat ``path → bytes`` map in git's canonical entry order. No refs move here: that is
reconciler/gitrepo.py's atomic update, so objects written by a hub that then dies are simply
unreachable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

HUB_AUTHOR = "fleetsync-hub <hub@fleetsync.invalid>"


class ObjectWriter:
    def __init__(self, objects: Path):
        self.objects = objects
        self._known: set[str] = set()

    def _store(self, kind: str, data: bytes) -> str:
        """Write one loose object (pure Python: no process per object); return its id.

        Objects already written by this process or present as loose objects are skipped, so
        rewriting an unchanged tree costs hashing only.
        """
        raw = f"{kind} {len(data)}".encode() + b"\0" + data
        sha = hashlib.sha1(raw).hexdigest()
        if sha in self._known:
            return sha
        path = self.objects / sha[:2] / sha[2:]
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp_obj_")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(zlib.compress(raw, 1))
                os.chmod(tmp, 0o444)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self._known.add(sha)
        return sha

    def write_tree(self, files: Mapping[str, bytes]) -> str:
        """Blobs and trees for ``files`` (path → bytes) in the object store; the root tree id."""
        root: dict[str, object] = {}
        for path, data in files.items():
            parts = path.split("/")
            if any(p in ("", ".", "..", ".git") for p in parts):
                raise ValueError(f"refusing to write unsafe path {path!r}")
            node = root
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"{path!r} clashes with a file of the same name")
                node = child
            if parts[-1] in node:
                raise ValueError(f"{path!r} clashes with a directory of the same name")
            node[parts[-1]] = data
        return self._write_node(root)

    def _write_node(self, node: Mapping[str, object]) -> str:
        entries: list[tuple[bytes, bytes]] = []
        for name, value in node.items():
            if isinstance(value, dict):
                sha = self._write_node(value)
                entries.append((name.encode() + b"/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(sha)))
            else:
                assert isinstance(value, bytes)
                sha = self._store("blob", value)
                entries.append((name.encode(), b"100644 " + name.encode() + b"\0" + bytes.fromhex(sha)))
        entries.sort(key=lambda e: e[0])  # git orders trees as if their name ended in "/"
        return self._store("tree", b"".join(e[1] for e in entries))

    def write_commit(self, tree: str, parents: Iterable[str], message: str, now: datetime) -> str:
        """A commit object (no ref moves); same inputs give the same id."""
        stamp = f"{int(now.timestamp())} +0000"
        lines = [f"tree {tree}"]
        lines += [f"parent {p}" for p in parents]
        lines += [f"author {HUB_AUTHOR} {stamp}", f"committer {HUB_AUTHOR} {stamp}", "", message.rstrip("\n"), ""]
        return self._store("commit", "\n".join(lines).encode())
