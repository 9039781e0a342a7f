"""Faults on demand: make chosen requests fail or stall the way a real API server can.

A fault matches by verb, kind and name (``*`` for any) and fires ``times`` times (``0`` = until
cleared). It answers with the Status body kube-apiserver would send for that situation — 429 with
``Retry-After``, 500/503, 403 (RBAC, quota exceeded), 422 (immutable field), 400 (admission webhook
denial), 403 as the RBAC authorizer words it (``rbac_denial``) — or, with ``status=0`` and a
``delay``, only slows the request down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from kubesim.status import ApiError, status

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: simulated fault",
    503: "the server is currently unable to handle the request",
    403: "forbidden: simulated fault",
    422: "the object is invalid: simulated fault",
    400: "bad request: simulated fault",
}


@dataclass(slots=True)
class Fault:
    verb: str
    kind: str
    name: str
    status: int
    retry_after: int | None
    message: str
    reason: str
    times: int
    delay: float

    def matches(self, verb: str, kind: str, name: str) -> bool:
        return self.verb in ("*", verb) and self.kind in ("*", kind) and self.name in ("*", name)

    def error(self) -> ApiError | None:
        if not self.status:
            return None
        reason = self.reason or _REASONS.get(self.status, "")
        message = self.message or _MESSAGES.get(self.status, "simulated fault")
        details = {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        return ApiError(self.status, status(self.status, reason, message, details), headers)


class Faults:
    """The fault table of one simulated cluster (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        verb: str = "*",
        kind: str = "*",
        name: str = "*",
        status: int = 429,
        retry_after: int | None = 1,
        message: str = "",
        reason: str = "",
        times: int = 1,
        delay: float = 0.0,
    ) -> Fault:
        if status not in (0, *range(400, 600)):
            raise ValueError(f"fault status must be 0 or an HTTP error code, not {status}")
        if status != 429 and retry_after == 1:
            retry_after = None
        fault = Fault(verb, kind, name, status, retry_after, message, reason, times, delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def webhook_denial(
        self,
        verb: str = "*",
        kind: str = "*",
        name: str = "*",
        webhook: str = "deny.example.com",
        message: str = "denied by policy",
        times: int = 1,
    ) -> Fault:
        return self.add(
            verb,
            kind,
            name,
            status=400,
            retry_after=None,
            reason="BadRequest",
            times=times,
            message=f'admission webhook "{webhook}" denied the request: {message}',
        )

    def rbac_denial(
        self,
        verb: str,
        kind: str,
        name: str = "*",
        *,
        resource: str,
        group: str = "",
        namespace: str = "",
        user: str = "system:serviceaccount:fleetsync-system:fleetsync-agent",
        times: int = 1,
    ) -> Fault:
        """403 with kube-apiserver's RBAC wording: what ``kubectl auth can-i`` would say no to."""
        qualified = f"{resource}.{group}" if group else resource
        subject = f'{qualified} "{name}"' if name != "*" else qualified
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return self.add(
            verb,
            kind,
            name,
            status=403,
            retry_after=None,
            reason="Forbidden",
            times=times,
            message=(
                f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}"'
                f' in API group "{group}"{where}'
            ),
        )

    def quota_exceeded(
        self, verb: str = "create", kind: str = "*", name: str = "*", quota: str = "quota", times: int = 1
    ) -> Fault:
        return self.add(
            verb,
            kind,
            name,
            status=403,
            retry_after=None,
            reason="Forbidden",
            times=times,
            message=f"exceeded quota: {quota}, requested: pods=1, used: pods=10, limited: pods=10",
        )

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, verb: str, kind: str, name: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(verb, kind, name):
                    if f.times > 0:
                        f.times -= 1
                        if f.times == 0:
                            self._faults.remove(f)
                    return f
        return None
