"""``fleetsync drift adopt`` end to end: reports → planned change → validated tree → a commit for review.

The change is computed against the committed ``HEAD`` (exported, never the work tree, so what is
validated is exactly what is committed), reloaded with reconciler/load/fleet.py and checked by
``drift.adopt.verify``; only then is anything written. The commit goes on a new branch
(``drift/<cluster>/<name>`` unless ``--branch`` names another) built from ``HEAD`` with a
temporary index, so the user's work tree and index are untouched; ``--branch`` naming the
checked-out branch commits there instead (only the adopted files, and only when they have no
uncommitted changes). The commit goes through reconciler/gitstore/worktree.py, the same door
``fleetsync approve`` uses: fixed argument lists, names checked before they reach a command line,
content on stdin. Reports are read through reconciler/gitstore/repo.py, from the same repository or
from ``--reports URL|PATH``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fleetsync_contract import parse_identity
from reconciler.drift.adopt import Adoption, Mode, Refused, plan, verify
from reconciler.drift.reports import (
    UsageError,
    clusters_by_placement,
    find_drift,
    printable,
    read_all,
    read_memory,
)
from reconciler.errors import UserError
from reconciler.gitstore.refs import check_branch, check_ref_component
from reconciler.gitstore.repo import HubRepo, open_hub_repo
from reconciler.gitstore.worktree import WorkTree
from reconciler.load.fleet import LoadResult, load_directory

MAX_MESSAGE = 4096
MAX_PATHS = 100
_COMPONENT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class AdoptOptions:
    cluster: str
    obj: str
    placement: str | None = None
    mode: Mode = Mode.OVERRIDE
    paths: tuple[str, ...] = ()
    branch: str | None = None
    message: str | None = None
    reports: str | None = None  # where the report branches are (default: the repository itself)
    state_dir: Path | None = None


def default_branch(cluster: str, identity: str) -> str:
    name = _COMPONENT_UNSAFE.sub("-", parse_identity(identity)[3]).strip(".-")[:200] or "object"
    return check_branch(f"drift/{cluster}/{name}")


def commit_message(a: Adoption, text: str | None) -> bytes:
    body = (text or "").strip()
    if len(body) > MAX_MESSAGE:
        raise UserError(f"--message is longer than {MAX_MESSAGE} characters")
    lines = [f"drift: adopt {a.cluster} {a.identity} as {a.target}", ""]
    if body:
        lines += [body, ""]
    lines.append(
        f"The member's values, observed on {a.cluster} under {a.placement}, become the desired ones:"
    )
    for d in a.details:
        lines.append(
            f"  {printable(d.path, 256)}: {printable(d.value_in_hub, 200)} -> "
            f"{printable(d.value_in_member, 200)}"
        )
    lines += [*(f"Note: {n}" for n in a.notes), "", f"Adopted-from: fleet/reports/{a.cluster}"]
    return ("\n".join(lines) + "\n").encode()


def _load_with(
    repo: HubRepo, commit: str, changes: Mapping[str, bytes]
) -> tuple[LoadResult, Path, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory(prefix="fleetsync-adopt-")
    root = Path(tmp.name)
    repo.export(commit, root)
    for rel, data in changes.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return load_directory(root), root, tmp


def _commit_current(work: WorkTree, base: str, files: Mapping[str, bytes], message: bytes) -> str:
    if work.head() != base:
        raise UserError("HEAD moved while adopting; run the command again")
    paths = sorted(files)
    if work.changed(paths):
        raise Refused(
            f"{', '.join(paths)} has uncommitted changes; commit or discard them first, "
            "or adopt onto a new branch (leave out --branch)"
        )
    return work.commit(dict(files), message)


def adopt(repo: Path, o: AdoptOptions) -> str:
    """Adopt one drift as a commit; returns what to tell the user (and how to open a pull request)."""
    try:
        check_ref_component(o.cluster)
        if o.branch is not None:
            check_branch(o.branch)
    except UserError as e:
        raise UsageError(str(e)) from e
    if len(o.paths) > MAX_PATHS:
        raise UsageError(f"at most {MAX_PATHS} --path options")
    work = WorkTree.open(repo)
    top = work.top
    base = work.head()
    current = work.current_branch()
    with open_hub_repo(o.reports or str(top), cache_root=o.state_dir) as reports:
        reports.refresh(source=False)
        # DriftNotFound when the cluster has no report branch; only a source edit needs every cluster's view
        entries, all_reports = read_all(reports, o.cluster)
        reach: dict[str, frozenset[str]] = {}
        if o.mode == Mode.SOURCE:
            entries, all_reports = read_all(reports)
            reach = clusters_by_placement(read_memory(reports), all_reports)
    entry = find_drift(entries, o.cluster, o.obj, o.placement)
    branch = o.branch or default_branch(o.cluster, entry.drift.identity)
    on_current = branch == current
    if not on_current and work.has_branch(branch):
        raise Refused(f"branch {branch!r} already exists: choose another with --branch")
    with HubRepo.local(top) as local:
        before, root, tmp_before = _load_with(local, base, {})
        with tmp_before:
            adoption = plan(root, before, entry, o.mode, o.paths, reach, entries)
        after, _, tmp_after = _load_with(local, base, adoption.files)
        with tmp_after:
            verify(before, after, adoption, sorted(after.spec.members))
    message = commit_message(adoption, o.message)
    if on_current:
        commit = _commit_current(work, base, adoption.files, message)
    else:
        commit = work.commit_to_new_branch(branch, base, adoption.files, message)
    return _report(work, adoption, branch, current, commit, on_current)


def _report(work: WorkTree, a: Adoption, branch: str, current: str, commit: str, on_current: bool) -> str:
    files = ", ".join(sorted(a.files))
    lines = [f"adopted {len(a.details)} drifted path(s) of {a.identity} on {a.cluster} as {a.target}"]
    lines += [f"  {op.op} {op.path}" for op in a.ops]
    lines += [f"note: {n}" for n in a.notes]
    remote = work.default_remote()
    if on_current:
        lines.append(
            f"committed {files} on {branch} ({commit[:12]}); push it (git push) so the hub renders it"
        )
    else:
        lines += [
            f"committed {files} on new branch {branch} ({commit[:12]}); your work tree is unchanged",
            f"open a pull request from {branch} into {current}:",
            f"  git push -u {remote} {branch}",
            f'  gh pr create --head {branch} --base {current} --title "adopt drift of {a.identity} on {a.cluster}"'
            "   (or your forge's UI)",
            "once merged, the hub renders the member's values and the agent stops reporting this drift",
        ]
    return "\n".join(lines) + "\n"
