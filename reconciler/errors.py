"""One exception tree for fleetsync, sorted by what the caller should do about it.

::

    FleetsyncError
     ├── UserError            the user must fix something (a file, a flag, a reference)
     │    └── ValidationError one or more located Findings (file:line:col, field path)
     ├── TransientError       retry later (a remote is unreachable, an API server says 429/5xx)
     └── InternalError        a bug in fleetsync

Library errors (gitpython, ruamel.yaml, the kubernetes client) are wrapped at the module that
owns the library and chained with ``raise ... from``; nothing downstream classifies errors by
matching message strings.

A ``Finding`` is the unit of user-facing error reporting: it names the file, line and column,
the object, the field path and what would be valid, so ``fleetsync validate`` can print every
problem of a repo at once instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in user input, located as precisely as the input allows."""

    file: str
    line: int
    column: int
    field: str
    message: str
    object: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        parts = [where]
        if self.object:
            parts.append(self.object)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) + f": {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "object": self.object,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }


class FleetsyncError(Exception):
    """Root of every error fleetsync raises on purpose."""


class UserError(FleetsyncError):
    """The input (a file, a flag, a reference) is wrong; retrying will not help."""


class ValidationError(UserError):
    """One or more located problems in the fleet repo."""

    def __init__(self, findings: list[Finding] | tuple[Finding, ...]):
        self.findings: tuple[Finding, ...] = tuple(findings)
        first = str(self.findings[0]) if self.findings else "invalid input"
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        super().__init__(first + more)


class TransientError(FleetsyncError):
    """Something outside fleetsync failed in a way that may pass: retry with backoff."""


class InternalError(FleetsyncError):
    """A bug: an invariant of fleetsync itself does not hold."""


@dataclass(slots=True)
class Findings:
    """Collects findings while parsing so that every error of a repo is reported at once."""

    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.items.append(finding)

    def extend(self, findings: list[Finding] | tuple[Finding, ...]) -> None:
        self.items.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity == "error"]

    def __bool__(self) -> bool:
        return bool(self.errors)
