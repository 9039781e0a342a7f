"""Which files of a checked-out fleet repo are read, and how, without trusting the repo.

The walk is sorted (the same tree always loads in the same order), skips ``.git``, hidden
files and directories and the settings file, and honours the repo's include/exclude globs. A
directory holding a kustomization contributes ``kubectl kustomize`` output instead of its raw
files; a kustomization that another kustomization of the repo includes (a ``base``) is rendered
only as part of the one that includes it, so a base and its overlay do not load twice.

Hostile trees are refused file by file with located findings: symlinks that leave the repo,
files that are not regular files (a FIFO would hang a reader), files over the size cap (each a
file-scope finding: that file fails), and a repo over the total-size or file-count cap (repo
scope: the commit is held, as the files left unread are unknown).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import SCOPE_REPO, Finding
from reconciler.load.kustomize import KUSTOMIZATION_FILES, find_kustomization, path_entries
from reconciler.load.settings import SETTINGS_FILE
from reconciler.load.yamldoc import MAX_FILE_BYTES, YamlError, parse_documents

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep a hostile repo from exhausting the hub; ours, never the repo's to change."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = 256 * 1024 * 1024
    max_files: int = 100_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RepoInputs:
    """What the walk found: raw YAML files and kustomize roots (both repo-relative), and problems."""

    files: tuple[str, ...]
    kustomize_dirs: tuple[str, ...]
    findings: tuple[Finding, ...]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A repo-path glob → regex: ``*`` and ``?`` stay inside one path segment, ``**`` spans any.

    A pattern without ``/`` matches a file name anywhere (``*.tmpl.yaml``), as in .gitignore.
    """
    if "/" not in pattern:
        pattern = "**/" + pattern
    out = ""
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        for ch in part:
            out += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
        if not last:
            out += "/"
    return re.compile(out + r"\Z")


def selected(rel: str, include: Sequence[re.Pattern[str]], exclude: Sequence[re.Pattern[str]]) -> bool:
    """Is ``rel`` read, given the include and exclude globs (compiled once per walk by ``glob_regex``)?"""
    if include and not any(p.match(rel) for p in include):
        return False
    return not any(p.match(rel) for p in exclude)


def inside(root: Path, path: Path) -> bool:
    """Does ``path`` (symlinks followed) stay inside the resolved ``root``?"""
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def walk(
    root: Path, include: Iterable[str] = (), exclude: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS
) -> RepoInputs:
    """Sorted walk of ``root`` (already resolved) → the YAML files and kustomize roots to load."""
    files: list[str] = []
    kdirs: list[str] = []
    findings: list[Finding] = []
    inc, exc = [glob_regex(p) for p in include], [glob_regex(p) for p in exclude]
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        kfile = find_kustomization(here)
        if kfile is not None:
            dirnames[:] = []
            krel = f"{rel_dir}/{kfile.name}" if rel_dir else kfile.name
            if selected(krel, inc, exc):
                kdirs.append(rel_dir)
            continue
        keep: list[str] = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if name.startswith("."):
                continue
            path = here / name
            if path.is_symlink():
                if not inside(root, path):
                    findings.append(
                        Finding(rel, 0, 0, "", "symlinked directory leaves the repo; refusing to read it")
                    )
                continue  # a link to a directory inside the repo would load it twice: not followed
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(YAML_SUFFIXES):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel == SETTINGS_FILE or not selected(rel, inc, exc):
                continue
            count += 1
            if count > limits.max_files:
                findings.append(
                    Finding(
                        rel,
                        0,
                        0,
                        "",
                        f"the repo has more than {limits.max_files} YAML files; refusing the rest",
                        scope=SCOPE_REPO,  # the files left unread are unknown: hold the commit
                    )
                )
                return RepoInputs(tuple(files), tuple(kdirs), tuple(findings))
            files.append(rel)
    return RepoInputs(tuple(files), tuple(_roots_only(root, kdirs)), tuple(findings))


def _roots_only(root: Path, kdirs: list[str]) -> list[str]:
    """Drop kustomize dirs that another kustomize dir of the repo includes (bases, components)."""
    included: set[Path] = set()
    for rel in kdirs:
        directory = root / rel if rel else root
        _collect_included(root, directory, included, 0)
    return [rel for rel in kdirs if (root / rel).resolve() not in included or rel == ""]


def _collect_included(root: Path, directory: Path, out: set[Path], depth: int) -> None:
    if depth > 20:
        return
    kfile = find_kustomization(directory)
    if kfile is None or not inside(root, kfile):
        return
    try:
        docs = parse_documents(kfile.read_bytes(), kfile.name, max_bytes=1024 * 1024)
    except (YamlError, OSError):
        return  # the kustomize step reports it
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        return
    for _path, entry, may_be_dir in path_entries(docs[0].data):
        if not may_be_dir or "://" in entry or os.path.isabs(entry):
            continue
        target = directory / entry
        if inside(root, target) and target.is_dir():
            resolved = target.resolve()
            if resolved not in out:
                out.add(resolved)
                _collect_included(root, target, out, depth + 1)


def read_file(root: Path, rel: str, limits: Limits, budget: list[int]) -> tuple[bytes | None, Finding | None]:
    """A repo file's bytes, or why it is refused; ``budget`` holds the bytes still allowed in total."""
    path = root / rel
    if not inside(root, path):
        return None, Finding(rel, 0, 0, "", "symlink leaves the repo; only files inside the repo are read")
    try:
        st = os.stat(path)
    except OSError as e:
        return None, Finding(rel, 0, 0, "", f"cannot read: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return None, Finding(
            rel, 0, 0, "", "not a regular file (a FIFO, device or socket); refusing to read it"
        )
    if st.st_size > limits.max_file_bytes:
        return None, Finding(
            rel, 0, 0, "", f"file is {st.st_size} bytes; the limit is {limits.max_file_bytes}"
        )
    if st.st_size > budget[0]:
        return None, Finding(
            rel,
            0,
            0,
            "",
            f"the repo's YAML exceeds {limits.max_total_bytes} bytes in total; refusing the rest",
            scope=SCOPE_REPO,
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except OSError as e:
        return None, Finding(rel, 0, 0, "", f"cannot read: {e.strerror}")
    if len(data) > limits.max_file_bytes:
        return None, Finding(rel, 0, 0, "", f"file is over {limits.max_file_bytes} bytes; the limit")
    budget[0] -= len(data)
    return data, None


__all__ = [
    "DEFAULT_LIMITS",
    "KUSTOMIZATION_FILES",
    "Limits",
    "RepoInputs",
    "glob_regex",
    "read_file",
    "selected",
    "walk",
]
