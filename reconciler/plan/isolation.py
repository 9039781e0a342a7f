"""Objects that fail in head, and what the hub does then: it keeps their previous version.

The hub renders a commit with failed objects (reconciler/hub/pipeline.py ``isolate``,
reconciler/load/lastgood.py): an object with an error, or every object of a file that does not
parse, keeps its last good state, and the rest of the commit goes out. Plan runs that very rule
with base as the last good state (base itself is isolated against the hub's memory when the hub
rendered one of its ancestors), so a typo in one placement shows as that placement's failure next
to everything else the change does, not as "head does not load". What is left here is the
account of it: per failed object (or broken file) its errors, scope and outcome, and whether the
change introduced it. An error is "the same" in base and head when it names the same object (or
file), field and message — never the line, which an unrelated edit above it moves — so a failure
base already had is shown but does not block the merge, as for policy violations and placement
failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import Finding
from reconciler.load.fleet import LoadResult
from reconciler.load.lastgood import Isolated, defines

KEEPS = "keeps its previous version"
NOT_RENDERED = "not rendered: it has no previous version"
REDEFINED = "its other definition in this commit counts"

ErrorKey = tuple[str, str, str, str]
FileOf = Callable[[str, str], str]  # (identity, commit of its kept definition) -> its file ("" unknown)


def error_key(f: Finding) -> ErrorKey:
    """What makes two findings the same error across commits (not its line)."""
    return (f.object or f.file, f.field, f.message, f.severity)


def new_errors(head: Iterable[Finding], base: Iterable[Finding]) -> tuple[Finding, ...]:
    """The errors of ``head`` that ``base`` did not have: the ones the change introduces."""
    old = {error_key(f) for f in base}
    return tuple(f for f in head if f.severity == "error" and error_key(f) not in old)


@dataclass(frozen=True, slots=True)
class FailedObject:
    """An object (``scope`` object) or a file (``scope`` file) that fails in head."""

    identity: str  # "" for a file
    file: str
    scope: str
    errors: tuple[Finding, ...]
    outcome: str  # KEEPS | NOT_RENDERED | REDEFINED
    new: bool  # an error base did not have: the change causes it, and it blocks the merge
    kept: tuple[str, ...] = ()  # a file: the objects it held that keep their previous version

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "file": self.file,
            "scope": self.scope,
            "errors": [f.to_dict() for f in self.errors],
            "outcome": self.outcome,
            "new": self.new,
            "kept": list(self.kept),
        }


def _under(path: str, label: str) -> bool:
    return path == label or (label.endswith("/") and path.startswith(label))


def failed_objects(
    loaded: LoadResult, isolated: Isolated, old: Iterable[Finding], file_of: FileOf
) -> tuple[FailedObject, ...]:
    """Every failed object of ``loaded`` and every broken file, with what ``isolated`` (the
    hub's rendering of it) does with them; ``old``: base's findings (what is not new)."""
    old_keys = {error_key(f) for f in old}

    def fresh(errors: Iterable[Finding]) -> bool:
        return any(error_key(f) not in old_keys for f in errors if f.severity == "error")

    out: list[FailedObject] = []
    for ident, errors in sorted(loaded.failed.items()):
        outcome = (
            KEEPS if ident in isolated.kept else REDEFINED if defines(isolated.spec, ident) else NOT_RENDERED
        )
        file = errors[0].file if errors else ""
        out.append(FailedObject(ident, file, "object", tuple(errors), outcome, fresh(errors)))
    from_files = {i: c for i, c in isolated.kept.items() if i not in loaded.failed}
    for label in sorted(loaded.broken):
        errors = tuple(f for f in loaded.errors if _under(f.file, label) or f.file.rstrip("/") + "/" == label)
        kept = tuple(sorted(i for i, c in from_files.items() if _under(file_of(i, c), label)))
        outcome = KEEPS if kept else NOT_RENDERED
        out.append(FailedObject("", label, "file", errors, outcome, fresh(errors), kept))
    return tuple(out)


def kept_file(load: Callable[[str], LoadResult | None]) -> FileOf:
    """The file a kept object's definition comes from, read from that commit's load."""

    def file_of(ident: str, commit: str) -> str:
        loaded = load(commit) if commit else None
        doc = loaded.documents.get(ident) if loaded is not None else None
        return doc.file if doc is not None else ""

    return file_of


def frozen_is_new(
    key: str, head: Mapping[str, tuple[Finding, ...]], base: Mapping[str, tuple[Finding, ...]]
) -> bool:
    """A placement frozen in head (its definition fails) is a new failure unless base froze it
    for the same errors."""
    if key not in base:
        return True
    return {error_key(f) for f in head.get(key, ())} != {error_key(f) for f in base[key]}
