"""One exception tree for the hub and the composition root, sorted by what the caller should do.

::

    FleetsyncError
     ├── UserError              the user must fix something (a file, a flag, a reference)
     │    ├── ValidationError   one or more located Findings (file:line:col, field path)
     │    │    └── YamlError    a file is not safe YAML (load/yamldoc.py)
     │    ├── CompileError      a CEL expression does not compile (policy/cel.py)
     │    ├── StatusFormatError status.yaml is not a file this hub wrote (status/memory.py)
     │    ├── AdoptionRefused   a drift cannot be adopted as asked (drift/values.py)
     │    ├── NotFound          what was asked for does not exist: a finding, like kubectl's NotFound
     │    │    └── DriftNotFound  no report or drift matches what was asked (drift/reports.py)
     │    ├── NoSuchTarget      an approval names a run, stage or gate that does not exist (rollout/staged/approve.py)
     │    ├── UsageError        a drift command line is ambiguous or impossible (drift/reports.py)
     │    ├── Refused           a drift cannot be adopted as asked, at the command (drift/adopt.py)
     │    ├── WorkTreeError     a person's work tree cannot take the commit asked for (gitstore/worktree.py)
     │    ├── TagNotFound       the template repository has no such release tag (gitstore/subtree.py)
     │    ├── SelectorError     a label selector Kubernetes would refuse (fleetsync/labelselector.py)
     │    ├── TeamFileError     a Team file the hub would refuse (fleetsync/teamfile.py)
     │    └── TrustSetupError   the demo's keys could not be made (fleetsync/demo/trust.py)
     ├── TransientError         retry later (a remote is unreachable, an API server says 429/5xx)
     │    ├── RefRace           another writer moved a ref: re-read, try again (gitstore/refs.py)
     │    ├── GitFailure        git could not do what was asked (gitstore/refs.py)
     │    ├── LeaseConflict     another replica wrote the leader-election Lease first (hub/lease.py)
     │    ├── LeaseUnavailable  the hub's own API server cannot be asked about the Lease (hub/lease.py)
     │    ├── DemoGitError      git failed in the demo's fleet repo (fleetsync/demo/fleet.py)
     │    ├── DaemonError       the loopback git daemon could not be started (gitstore/daemon.py)
     │    └── Interrupted       kubectl kustomize stopped by a stopping hub or a signal (load/kustomize.py)
     ├── StageFailed            the demo's story: a stage did not reach its goal (fleetsync/demo/story.py)
     ├── RunFailed              the demo's staged run failed or did not finish (fleetsync/demo/staged.py)
     ├── TrustNotShown          the demo's --secure checks: a promise did not hold (fleetsync/demo/verified.py)
     ├── TeamStepFailed         the demo's teams chapter: a step did not reach its goal (fleetsync/demo/teams.py)
     └── InternalError          a bug in fleetsync
          └── StageSignal       control flow inside one pure stage, never an error to its caller:
               │                the stage catches it and turns it into a result
               ├── CostExceeded, ObjectTooLarge   the policy gate: a violation (policy/cel.py)
               ├── VariableError                  overrides: the cluster's override fails (hub/overrides.py)
               ├── SnapshotUnavailable            an older snapshot is gone: the run's status (hub/snapshots.py)
               ├── InitFailed                     a staged run does not initialize (rollout/staged/init.py)
               └── Aborted                        a staged run aborts (rollout/staged/work.py)

A ``StageSignal`` derives from ``InternalError`` because one that escapes its stage is a bug.
Errors of the wire contract (``fleetsync_contract``: ``CanonicalError``, ``BundleError``,
``ReportFormatError``, ``QuantityError``) derive from ``ValueError``, as the contract is a leaf
that imports neither side; the hub catches them where it reads and turns them into findings, problems
or "no value". The agent has its own tree (agent/errors.py).

Library errors (gitpython, ruamel.yaml, the kubernetes client) are wrapped at the module that
owns the library and chained with ``raise ... from``; nothing downstream classifies errors by
matching message strings.

A ``Finding`` is the unit of user-facing error reporting: it names the file, line and column,
the object, the field path and what would be valid, so ``fleetsync validate`` can print every
problem of a repo at once instead of stopping at the first. Its ``scope`` says how far an error
reaches, one classification for ``validate`` and the hub (docs/hub.md, "Failure isolation"):
``object`` fails that object only (it keeps its last good state), ``file`` fails every object the
file held at the last good commit (a file that does not parse), ``repo`` holds the whole commit
(settings, size limits, cluster membership).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCOPE_OBJECT = "object"  # the one object fails; it keeps its last good state
SCOPE_FILE = "file"  # the objects the file held at the last good commit keep that state
SCOPE_REPO = "repo"  # the whole commit is held
SCOPES = (SCOPE_OBJECT, SCOPE_FILE, SCOPE_REPO)


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
    scope: str = ""  # SCOPE_OBJECT, SCOPE_FILE or SCOPE_REPO once the loader classified it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        parts = [where]
        if self.object:
            parts.append(self.object)
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) + f": {self.message}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "object": self.object,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }
        if self.scope:
            out["scope"] = self.scope
        return out


class FleetsyncError(Exception):
    """Root of every error fleetsync raises on purpose."""


class UserError(FleetsyncError):
    """The input (a file, a flag, a reference) is wrong; retrying will not help."""


class NotFound(UserError):
    """The object asked for (a placement on the status branch, a drift) does not exist: the
    command found something to say rather than being used wrongly (exit 1, not 2)."""


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


class StageSignal(InternalError):
    """Raised inside a pure stage to stop early and caught by that stage, which makes it a result
    (a condition, a violation, a failed override); its text is the result's message."""


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
