"""One object, one placement's applyStrategy, one outcome: KubeFleet's work-applier decision table.

For each object of a bundle the applier reads the live object and walks the table of
kubefleet-api.md §6:

==========================  =========================================================================
live object                 what happens
==========================  =========================================================================
(any), type ReportDiff      never modified: compare → ``NoDiff`` / ``DiffReported`` (missing → diff)
missing                     create → ``Applied``
placed by another placement ``ApplyConflictBetweenPlacements`` (even with allowCoOwnership)
other ownerReferences       ``ManifestsAlreadyOwnedByOthers`` unless allowCoOwnership
not ours, takeover Never    ``SkippedTakeOverNever``
not ours, IfNoDiff          compare: differences → ``DiffReported`` (reason FailedToTakeOver); none → take over
not ours, Always            apply with our marks → ``TakenOver``
ours, IfNotDrifted          hub manifest unchanged (spec-hash) and drifted → ``Drifted``, not applied
ours                        apply → ``Applied`` or ``Unchanged`` (nothing but server fields moved)
==========================  =========================================================================

Applying is server-side apply as field manager ``fleetsync``. ``ServerSideApply`` forces only when
``serverSideApplyConfig.force``. ``ClientSideApply`` is mapped onto server-side apply *with
force*: KubeFleet's client-side apply is a three-way merge against its last-applied annotation,
whose observable behaviour — the hub's values win over any other writer, fields dropped from the
manifest are removed when nobody else set them, fields set only by others are left alone — is
exactly what a forced apply by a dedicated field manager does, without storing a second copy of
the manifest in an annotation (KubeFleet itself falls back to SSA past 256 KiB).

With ``FullComparison`` the applied object is compared with the manifest after the apply and
any difference (defaulted or foreign fields) is reported as drift, as KubeFleet does.

Errors arrive classified (agent/errors.py), transient ones already retried by the client
(agent/apply/kube.py): a 409 becomes ``FailedToTakeOver`` on a takeover and ``Drifted`` on an
object we own (someone else now manages a field we set); 403/422/400 and webhook denials fail
this object only, with the server's message (only field names for a Secret), and hold it with
exponential backoff across passes (``ObjectBackoff``, agent/apply/backoff.py) until its time
comes or its desired content changes, the next retry time in its message; a kind the server
does not serve yet is ``WaitingForCRD``. The sleep, the clock and the random source are injected.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from agent.apply.backoff import DEFAULT_RETRY, ObjectBackoff, RetryPolicy
from agent.apply.compare import FULL, Comparison, compare, patch_details, satisfies
from agent.apply.decrypt import REASON as DECRYPTION_FAILED
from agent.apply.decrypt import DecryptFailed, Decryptor, opened
from agent.apply.kube import FIELD_MANAGER, KindRef
from agent.apply.takeover import BUNDLE_ID, SPEC_HASH, Ownership, marks, ownership, spec_hash, stamped
from agent.errors import AccessDenied, Conflict, KindNotServed, KubeError, NotFound
from fleetsync_contract.report import DriftType, Envelope, Outcome, PatchDetail

Obj = dict[str, Any]
T = TypeVar("T")

MAX_MESSAGE = 1024
RETRY_NOTE = "; next retry after 2026-01-01T00:00:00Z"  # its length: room kept in a held message
WHOLE_OBJECT = PatchDetail("/", "(the whole object)", None)


class Cluster(Protocol):
    """The part of the API server the applier uses (agent/apply/kube.py's KubeClient)."""

    def kind(self, api_version: str, kind: str) -> KindRef: ...

    def get(self, ref: KindRef, name: str, namespace: str = "") -> Obj | None: ...

    def apply(self, manifest: Obj, *, force: bool = False, dry_run: bool = False) -> Obj: ...


class Kube(Cluster, Protocol):
    """All the agent needs of the API server (KubeClient implements it)."""

    def list(self, ref: KindRef, namespace: str = "", label_selector: str | None = None) -> list[Obj]: ...

    def delete(self, ref: KindRef, name: str, namespace: str = "", uid: str | None = None) -> bool: ...

    def refresh_discovery(self) -> None: ...

    def ready(self) -> tuple[bool, str]: ...


@dataclass(frozen=True, slots=True)
class Strategy:
    """A placement's applyStrategy, KubeFleet's defaults filled in."""

    type: str = "ClientSideApply"
    comparison: str = "PartialComparison"
    when_to_apply: str = "Always"
    when_to_take_over: str = "Always"
    allow_co_ownership: bool = False
    force: bool = False

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> Strategy:
        ssa = doc.get("serverSideApplyConfig") or {}
        return cls(
            str(doc.get("type") or "ClientSideApply"),
            str(doc.get("comparisonOption") or "PartialComparison"),
            str(doc.get("whenToApply") or "Always"),
            str(doc.get("whenToTakeOver") or "Always"),
            bool(doc.get("allowCoOwnership", False)),
            bool(ssa.get("force", False)) if isinstance(ssa, Mapping) else False,
        )


@dataclass(frozen=True, slots=True)
class Work:
    placement: str
    identity: str
    manifest: Obj
    strategy: Strategy
    envelope: Envelope | None = None


@dataclass(frozen=True, slots=True)
class Result:
    placement: str
    identity: str
    api_version: str
    outcome: Outcome
    reason: str = ""
    message: str = ""
    live: Obj | None = None  # the object as last seen (after our write, if any)
    owned: bool = False  # the live object carries this placement's marks
    wrote: bool = False  # this sync changed the object
    details: tuple[PatchDetail, ...] = ()
    drift_type: DriftType | None = None
    envelope: Envelope | None = None

    @property
    def observed_generation(self) -> int | None:
        gen = ((self.live or {}).get("metadata") or {}).get("generation")
        return gen if isinstance(gen, int) else None


class Applier:
    """Processes one object at a time; safe to call from several threads at once."""

    def __init__(
        self,
        cluster: Cluster,
        cluster_name: str,
        bundle_id: str,
        placements: Collection[str],
        *,
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        backoff: ObjectBackoff | None = None,
        decryptor: Decryptor | None = None,
    ):
        self.cluster = cluster
        self.cluster_name = cluster_name
        self.bundle_id = bundle_id
        self.placements = frozenset(placements)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retry = retry  # for a path that lags just after its namespace was created
        self.backoff = backoff  # None: no memory of failures across passes
        self.decryptor = decryptor  # SOPS-encrypted Secrets (agent/apply/decrypt.py)
        # Live objects listed in bulk before a wave (identity → object, None = absent); an
        # identity not in here is read with a GET. KubeFleet reads through an informer cache too.
        self.prefetched: Mapping[str, Obj | None] = {}

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], *, not_found_retries: bool = False) -> T:
        """``fn()``, retried on a 404 where a just-created path may lag (``not_found_retries``).
        Transient answers (429/5xx) were retried by the client already."""
        attempt = 0
        while True:
            try:
                return fn()
            except NotFound:
                attempt += 1
                if not not_found_retries or attempt >= self.retry.attempts:
                    raise
                delay = min(self.retry.cap, self.retry.base * 2 ** (attempt - 1))
                self.sleep(delay * (0.5 + self.rng.random()))

    def _result(self, w: Work, outcome: Outcome, **kw: Any) -> Result:
        return Result(
            w.placement, w.identity, str(w.manifest.get("apiVersion", "")), outcome, envelope=w.envelope, **kw
        )

    def _dry_run(self, body: Obj) -> Callable[[Obj], Obj]:
        return lambda _manifest: self._call(lambda: self.cluster.apply(body, force=True, dry_run=True))

    def _compare(self, w: Work, body: Obj, live: Obj) -> Comparison:
        return compare(w.manifest, live, w.strategy.comparison, self._dry_run(body))

    # -- the decision table -----------------------------------------------------------------
    def process(self, w: Work) -> Result:
        key = (w.placement, w.identity)
        held = self.backoff.holding(key, lambda: _desired(w)) if self.backoff is not None else None
        if held is not None:  # failed the same way before and its time has not come: not sent
            return self._result(w, Outcome.FAILED_TO_APPLY, reason=held.reason, message=held.message)
        try:
            w = opened(w, self.decryptor)  # the plaintext lives in this call only
        except DecryptFailed as e:
            return self._result(
                w, Outcome.FAILED_TO_APPLY, reason=DECRYPTION_FAILED, message=str(e)[:MAX_MESSAGE]
            )
        try:
            result = self._process(w)
        except KindNotServed as e:
            return self._result(
                w, Outcome.WAITING_FOR_CRD, reason="ManifestApplyFailed", message=_message(e, w)
            )
        except KubeError as e:
            message = _message(e, w)
            if self.backoff is not None:
                held = self.backoff.failed(
                    key,
                    _desired(w),
                    e,
                    reason="ManifestApplyFailed",
                    message=message[: MAX_MESSAGE - len(RETRY_NOTE)],
                )
            return self._result(
                w,
                Outcome.FAILED_TO_APPLY,
                reason="ManifestApplyFailed",
                message=held.message if held is not None else message,
            )
        if self.backoff is not None:
            self.backoff.succeeded(key)
        return result

    def _process(self, w: Work) -> Result:
        m, s = w.manifest, w.strategy
        meta = m.get("metadata") or {}
        ref = self._call(lambda: self.cluster.kind(str(m.get("apiVersion")), str(m.get("kind"))))
        name, namespace = (
            str(meta.get("name", "")),
            str(meta.get("namespace") or "") if ref.namespaced else "",
        )
        if w.identity in self.prefetched:
            live = self.prefetched[w.identity]
        else:
            live = self._call(lambda: self.cluster.get(ref, name, namespace))
        body = stamped(m, self.cluster_name, w.placement, _delivered_by(live, m, self.bundle_id))

        if s.type == "ReportDiff":
            return self._report_diff(w, body, live)
        if live is None:
            return self._apply(w, body, None, Outcome.APPLIED)
        own = ownership(live, self.cluster_name, w.placement, self.placements, s.allow_co_ownership)
        if own == Ownership.OTHER_PLACEMENT:
            other = marks(live).placement
            return self._result(
                w,
                Outcome.APPLY_CONFLICT_BETWEEN_PLACEMENTS,
                reason="ApplyConflictBetweenPlacements",
                message=f"the object is already placed by {other}; an object can be placed by one placement only",
                live=live,
            )
        if own == Ownership.OTHER_OWNERS:
            return self._result(
                w,
                Outcome.MANIFESTS_ALREADY_OWNED_BY_OTHERS,
                reason="ManifestsAlreadyOwnedByOthers",
                message="the object is already owned by other sources and co-ownership is disallowed",
                live=live,
            )
        if own == Ownership.TAKE_OVER:
            if s.when_to_take_over == "Never":
                return self._result(
                    w,
                    Outcome.SKIPPED_TAKE_OVER_NEVER,
                    reason="SkippedTakeOverNever",
                    message="the object exists and whenToTakeOver is Never",
                    live=live,
                )
            if s.when_to_take_over == "IfNoDiff":
                cmp = self._compare(w, body, live)
                if cmp.details:
                    return self._result(
                        w,
                        Outcome.DIFF_REPORTED,
                        reason="FailedToTakeOver",
                        message=_degraded("the object differs from the hub manifest; not taken over", cmp),
                        live=live,
                        details=cmp.details,
                        drift_type=DriftType.DIFF,
                    )
            return self._apply(w, body, live, Outcome.TAKEN_OVER)
        if s.when_to_apply == "IfNotDrifted" and marks(live).spec_hash == spec_hash(m):
            cmp = self._compare(w, body, live)
            if cmp.details:
                return self._result(
                    w,
                    Outcome.DRIFTED,
                    reason="FoundDrifts",
                    message=_degraded(
                        "the object drifted from the hub manifest; not applied (IfNotDrifted)", cmp
                    ),
                    live=live,
                    owned=True,
                    details=cmp.details,
                    drift_type=DriftType.DRIFT,
                )
        return self._apply(w, body, live, Outcome.APPLIED)

    def _report_diff(self, w: Work, body: Obj, live: Obj | None) -> Result:
        if live is None:
            return self._result(
                w,
                Outcome.DIFF_REPORTED,
                reason="DiffReported",
                message="the object does not exist on the member",
                details=(WHOLE_OBJECT,),
                drift_type=DriftType.DIFF,
            )
        m = marks(live)
        owned = m.cluster == self.cluster_name and m.placement == w.placement
        cmp = self._compare(w, body, live)
        if not cmp.details:
            return self._result(w, Outcome.NO_DIFF, reason="NoDiffFound", live=live, owned=owned)
        return self._result(
            w,
            Outcome.DIFF_REPORTED,
            reason="DiffReported",
            message=_degraded("", cmp),
            live=live,
            owned=owned,
            details=cmp.details,
            drift_type=DriftType.DIFF,
        )

    def _apply(self, w: Work, body: Obj, live: Obj | None, outcome: Outcome) -> Result:
        s = w.strategy
        if outcome == Outcome.APPLIED and live is not None and satisfies(live, body):
            # Every field we apply already has our value, the manifest is the one we applied last
            # (spec-hash is part of body) and so nothing of ours was dropped: the apply would be a
            # no-op on the server. Skipping it saves a request per object per sync.
            found = patch_details(w.manifest, live) if s.comparison == FULL else ()
            return self._result(
                w,
                Outcome.UNCHANGED,
                reason="ManifestAlreadyUpToDate",
                live=live,
                owned=True,
                details=found,
                drift_type=DriftType.DRIFT if found else None,
            )
        force = True if s.type == "ClientSideApply" else s.force
        try:
            out = self._call(lambda: self.cluster.apply(body, force=force), not_found_retries=True)
        except Conflict as e:
            if outcome == Outcome.TAKEN_OVER:
                return self._result(
                    w,
                    Outcome.FAILED_TO_TAKE_OVER,
                    reason="FailedToTakeOver",
                    message=_message(e, w),
                    live=live,
                )
            if live is not None:
                return self._result(
                    w,
                    Outcome.DRIFTED,
                    reason="FoundDrifts",
                    message=_message(e, w),
                    live=live,
                    owned=True,
                    details=self._compare(w, body, live).details,
                    drift_type=DriftType.DRIFT,
                )
            raise
        wrote = live is None or _content(live) != _content(out)
        if outcome == Outcome.APPLIED and not wrote:
            outcome = Outcome.UNCHANGED
        details: tuple[PatchDetail, ...] = ()
        if s.comparison == FULL:
            details = patch_details(w.manifest, out)
        return self._result(
            w,
            outcome,
            reason="ManifestApplied" if wrote else "ManifestAlreadyUpToDate",
            live=out,
            owned=True,
            wrote=wrote,
            details=details,
            drift_type=DriftType.DRIFT if details else None,
        )


_SERVER_METADATA = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid", "selfLink")


def _content(obj: Obj) -> Obj:
    """What an apply can change, without what the server or other writers move on their own:
    status, resourceVersion, generation and managedFields except our own manager's field sets
    (without their times). Comparing the object read before an apply with the apply's answer this
    way says whether the apply wrote anything, even when a controller wrote status in between
    (which moves the resourceVersion)."""
    meta = dict(obj.get("metadata") or {})
    ours = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in meta.get("managedFields") or []
        if isinstance(entry, Mapping)
        and entry.get("manager") == FIELD_MANAGER
        and not entry.get("subresource")
    ]
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    return {
        **{k: v for k, v in obj.items() if k not in ("status", "metadata")},
        "metadata": meta,
        "ours": ours,
    }


def _desired(w: Work) -> str:
    """What the hub wants of an object: its manifest and its placement's strategy. When it
    changes, a held object is tried at once."""
    return f"{spec_hash(w.manifest)} {w.strategy}"


def _delivered_by(live: Obj | None, manifest: Obj, bundle_id: str) -> str:
    """The bundle id to stamp: the one that first delivered this version of the manifest.

    Re-stamping every object with each new bundle id would rewrite all of them whenever any one
    changed; keeping the id while the spec-hash is unchanged makes an unchanged object's apply a
    no-op on the server."""
    if live is not None:
        ann = (live.get("metadata") or {}).get("annotations") or {}
        if ann.get(SPEC_HASH) == spec_hash(manifest) and ann.get(BUNDLE_ID):
            return str(ann[BUNDLE_ID])
    return bundle_id


def _degraded(message: str, cmp: Comparison) -> str:
    if not cmp.degraded:
        return message
    note = "compared in full: the server refused the dry run as invalid"
    return f"{message} ({note})" if message else note


def _message(e: KubeError, w: Work) -> str:
    """The server's message, bounded; for a Secret only the status and the fields it names."""
    m = w.manifest
    if isinstance(e, AccessDenied):  # composed by the agent from its request: no server text
        return e.message[:MAX_MESSAGE]
    if m.get("apiVersion") == "v1" and m.get("kind") == "Secret":
        fields = sorted({c.split(":", 1)[0] for c in e.causes if c})
        head = e.reason or (f"HTTP {e.status}" if e.status else type(e).__name__)
        return f"{head} (Secret message withheld)" + (f"; fields: {', '.join(fields)}" if fields else "")
    text = e.message
    if e.causes and not all(c in text for c in e.causes):
        text = f"{text} ({'; '.join(e.causes)})"
    return text[:MAX_MESSAGE]
