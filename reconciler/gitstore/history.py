"""Who committed a file: the commit that made a file say what it says now.

Staged-run approvals (reconciler/rollout/staged/approver.py) trust an approval file by the commit that
introduced its current content — its author and, when asked, its signature as checked by git
with the repository's own gpg/ssh configuration. This module decides which commit that is; it
does not talk to git itself (gitpython stays in reconciler/gitstore/trees.py and repo.py): it asks
``TreeReader.log`` for a bounded, read-only ``git log`` over one checked path and reads file
contents through ``TreeReader.read_file``, so the walk is at most ``MAX_PATH_HISTORY`` commits long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.gitstore.refs import _check_sha

if TYPE_CHECKING:
    from reconciler.gitstore.trees import TreeReader

MAX_PATH_HISTORY = 100  # commits of one file's history looked at


@dataclass(frozen=True, slots=True)
class PathCommit:
    """The commit that introduced a file's current state: author, and signature when checked."""

    commit: str
    author_name: str
    author_email: str
    author_time: str  # ISO 8601, as git prints %aI
    signature: str = (
        ""  # git's %G?: G good, U good (unknown validity), B bad, N none, E/X/Y/R …; "" unchecked
    )
    signer: str = ""  # %GS
    key: str = ""  # %GK


def introducing_commit(
    repo: TreeReader, commit: str, path: str, holds: Callable[[bytes], bool], verify: bool = False
) -> PathCommit | None:
    """The oldest commit of the newest unbroken run of commits touching ``path`` (in ``commit``'s
    history) after each of which ``holds(file content)`` — i.e. the commit that made the file
    say what it says now (later edits that keep it true do not count). ``verify`` asks git for
    that commit's signature with the repository's own gpg/ssh configuration. None: no such commit."""
    out = repo.log(commit, "%H%x00%an%x00%ae%x00%aI", path=path, max_count=MAX_PATH_HISTORY)
    found: PathCommit | None = None
    for line in out.decode(errors="replace").splitlines():
        parts = line.split("\0")
        if len(parts) != 4:
            continue
        data = repo.read_file(parts[0], path)
        if data is None or not holds(data):
            break
        found = PathCommit(_check_sha(parts[0]), parts[1], parts[2], parts[3])
    if found is None or not verify:
        return found
    sig = repo.log(found.commit, "%G?%x00%GS%x00%GK", max_count=1).decode(errors="replace")
    letter, signer, key = (*sig.strip().split("\0"), "", "")[:3]
    return PathCommit(
        found.commit, found.author_name, found.author_email, found.author_time, letter or "N", signer, key
    )
