"""The agent's exception tree (the agent never imports the hub's), sorted by what to do.

::

    AgentError
     ├── SourceError            the Git source: unreachable (transient) or a bad bundle (refused)
     │    └── BundleRefused     a bundle failed verification or does not descend from the last one
     │         ├── Unrelated    the bundle's history does not contain the last accepted commit
     │         └── SignatureRefused  the bundle commit is not signed by a trusted hub key
     ├── NotAMember             ``--cluster`` names no MemberCluster of the fleet (a usage error)
     ├── ClaimRefused           the member is claimed by another fleet or cluster name (hand it over)
     └── KubeError              an API server answer, classified once at the client boundary
          ├── Conflict          409: a field manager conflict or a stale resourceVersion
          ├── Forbidden         403 (quota, a terminating namespace, an admission plugin)
          │    └── AccessDenied 403 from RBAC: names the verb and resource to grant
          ├── Invalid           422 / 400: the object is wrong (immutable field, schema), or a webhook denied it
          ├── NotFound          404 for an object
          ├── KindNotServed     the kind is not (yet) served: wait for its CRD
          └── Retryable         429 / 5xx / no answer: retried within the pass (agent/apply/backoff.py)

Only agent/apply/kube.py raises KubeErrors (it owns the kubernetes client). Callers branch on
the class, never on message text. ``message`` is one line and never contains Secret data: the
API server's error messages name fields, not values, and we keep only the message and field
causes; an ``AccessDenied`` message is composed by the agent from its own request.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error the agent raises on purpose."""


class SourceError(AgentError):
    """The Git source could not be read; keep enforcing the last good bundle."""


class BundleRefused(SourceError):
    """A fetched bundle is not acceptable (bad hashes, missing files, rewritten history).

    ``reason`` is the report's ``source.reason`` (closed vocabulary, docs/formats.md §2)."""

    reason = "VerificationFailed"
    commit = ""  # the refused bundle commit, where the raiser knows it (the report's refusedCommit)


class Unrelated(BundleRefused):
    """The fetched bundle does not descend from the commit the member's inventory names: a
    rewritten hub branch, or (the loop decides, agent/apply/inventory.py) another fleet's claim."""

    reason = "HistoryRewritten"


class SignatureRefused(BundleRefused):
    """The bundle commit is unsigned, signed by an untrusted key, or its signature does not match
    (agent/signatures.py); ``reason``: Unsigned, UnknownSigner or BadSignature."""

    def __init__(self, message: str, reason: str, commit: str = ""):
        super().__init__(message)
        self.reason = reason
        self.commit = commit


class NotAMember(AgentError):
    """``--cluster`` is not a MemberCluster of the fleet: fix the flag; retrying will not help."""


class ClaimRefused(AgentError):
    """The member is owned by another (fleet, cluster name): nothing is applied, pruned or
    reported until it is handed over (docs/agent.md, "Ownership and hand-over")."""


class KubeError(AgentError):
    def __init__(self, message: str, *, status: int = 0, reason: str = "", causes: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.causes = causes


class Conflict(KubeError):
    """409: another field manager owns a field, or the object changed underneath us."""


class Forbidden(KubeError):
    """403: RBAC or admission refused; fails this object only."""


class AccessDenied(Forbidden):
    """403 from the RBAC authorizer. The message is the agent's own (verb, resource, namespace,
    where to grant it), never the server's text: one line an operator can act on."""


class Invalid(KubeError):
    """422/400: the object or the request is invalid; fails this object only."""


class NotFound(KubeError):
    """404 for an object (the kind is served)."""


class KindNotServed(KubeError):
    """The API server does not serve this kind (yet): wait for its CRD to be established."""


class Retryable(KubeError):
    """429, 5xx, no answer: retried with backoff; ``retry_after`` seconds when the server said."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", retry_after: float | None = None):
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after
