"""When to try a Kubernetes request or an object again: two kinds of patience, as plain functions.

An API server says two different things with an error. A transient answer (429, 500, 502, 503,
504, a reset connection) means "this request, again, soon": it is retried *within the pass* a
bounded number of times, waiting as long as ``Retry-After`` asks (never less, and only up to a
bound: a server asking for minutes fails the object for this pass and the object waits that
long across passes), else an exponential delay with jitter — so one 503 on a read never aborts
a pass. A persistent answer (a webhook denial, a 403, a 422) means "not this object, not like
this": sending the same manifest on every pass only adds load, so the object is *held* with an
exponential, jittered delay across passes and reported failed with its reason and the time of
its next try; a new desired content (the manifest or its placement's strategy changed) is tried
at once. The functions here decide (delay, due or not) from an injected clock reading and random
source; ``retrying`` is the one loop, used at the client edge (agent/apply/kube.py), and
``ObjectBackoff`` the one memory of held objects, kept by the agent across passes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from agent.errors import Conflict, KindNotServed, KubeError, NotFound, Retryable
from fleetsync_contract.report import format_time

T = TypeVar("T")

# HTTP statuses worth the same request again (0: no answer, a reset or refused connection).
TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})
# Statuses whose Retry-After header we wait for (kube-apiserver sends it with 429, and with 503
# while it starts or drains).
RETRY_AFTER = frozenset({429, 503})
MAX_HELD = 10_000  # held objects remembered at most (more than any bundle the agent accepts)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one request within a pass: at most ``attempts`` tries, waiting
    ``base * 2**n`` seconds (jittered, capped at ``cap``) or ``Retry-After`` when the server
    sent one of at most ``max_retry_after`` seconds."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 5.0
    max_retry_after: float = 10.0


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long an object that keeps failing the same way is held: ``base * factor**(n-1)``
    seconds after its n-th failure in a row, capped at ``cap``, jittered down to half."""

    base: float = 10.0
    factor: float = 2.0
    cap: float = 900.0


def transient(e: KubeError) -> bool:
    """Whether the same request may well succeed if sent again."""
    return isinstance(e, Retryable) and e.status in TRANSIENT


def server_wait(e: KubeError) -> float | None:
    """The seconds the server asked us to wait (``Retry-After``), when it did."""
    if isinstance(e, Retryable) and e.status in RETRY_AFTER and e.retry_after is not None:
        return max(0.0, e.retry_after)
    return None


def retry_delay(policy: RetryPolicy, failed: int, e: KubeError, rng: random.Random) -> float | None:
    """Seconds to wait after ``failed`` failed tries of one request ending in ``e``, or None:
    do not retry within this pass (not transient, tries used up, or the server asked for more
    than ``max_retry_after``)."""
    if not transient(e) or failed >= policy.attempts:
        return None
    asked = server_wait(e)
    if asked is not None:
        if asked > policy.max_retry_after:
            return None
        return float(asked * (1 + rng.random() / 10))  # never sooner than asked: spread a little later
    return float(min(policy.cap, policy.base * 2 ** (failed - 1)) * (0.5 + rng.random() / 2))


def retrying(
    call: Callable[[], T], *, policy: RetryPolicy, sleep: Callable[[float], None], rng: random.Random
) -> T:
    """``call()``, retried on transient ``KubeError``s as ``retry_delay`` decides; the last
    error propagates."""
    failed = 0
    while True:
        try:
            return call()
        except KubeError as e:
            failed += 1
            delay = retry_delay(policy, failed, e, rng)
            if delay is None:
                raise
            sleep(delay)


def persistent(e: KubeError) -> bool:
    """Whether the same object is likely to fail the same way next pass (a denial, an invalid
    object); conflicts, a missing namespace and a CRD not yet served resolve on their own."""
    return not isinstance(e, (Retryable, NotFound, KindNotServed, Conflict))


def hold_delay(policy: BackoffPolicy, failures: int, rng: random.Random) -> float:
    """Seconds an object is held after its ``failures``-th failure in a row (>= 1)."""
    exponent = min(max(failures, 1) - 1, 64)
    return float(min(policy.cap, policy.base * policy.factor**exponent) * (0.5 + rng.random() / 2))


@dataclass(frozen=True, slots=True)
class Held:
    """An object failing the same way: what was wanted, how often it failed, until when it waits."""

    desired: str
    failures: int
    retry_at: datetime
    reason: str
    message: str


def due(held: Held | None, desired: str, now: datetime) -> bool:
    """Whether to try the object now: never held, its desired content changed, or its time came."""
    return held is None or held.desired != desired or now >= held.retry_at


def hold(
    previous: Held | None,
    desired: str,
    now: datetime,
    e: KubeError,
    *,
    policy: BackoffPolicy,
    rng: random.Random,
    reason: str,
    message: str,
) -> Held | None:
    """The hold after a failure ending in ``e``, or None when the object should be tried again
    next pass: a persistent failure backs off exponentially (counting failures of the same
    desired content in a row); a transient one is held only as long as the server asked."""
    if persistent(e):
        failures = previous.failures + 1 if previous is not None and previous.desired == desired else 1
        seconds = hold_delay(policy, failures, rng)
    else:
        asked = server_wait(e)
        if asked is None:
            return None
        failures, seconds = 0, asked
    retry_at = now + timedelta(seconds=seconds)
    return Held(desired, failures, retry_at, reason, f"{message}; next retry after {format_time(retry_at)}")


class ObjectBackoff:
    """The agent's memory of held objects across passes, keyed by (placement, identity);
    thread-safe (the applier's threads share it). The clock and the random source are injected."""

    def __init__(
        self,
        policy: BackoffPolicy = BackoffPolicy(),
        *,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
    ):
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self._held: dict[tuple[str, str], Held] = {}
        self._lock = threading.Lock()

    def holding(self, key: tuple[str, str], desired: Callable[[], str]) -> Held | None:
        """The hold that keeps the object from being tried now, if any (``desired`` is called
        only for an object that is held)."""
        with self._lock:
            held = self._held.get(key)
        if held is None:
            return None
        return None if due(held, desired(), self.clock()) else held

    def failed(
        self, key: tuple[str, str], desired: str, e: KubeError, *, reason: str, message: str
    ) -> Held | None:
        """Record a failure; returns the hold (None: tried again next pass)."""
        now = self.clock()
        with self._lock:
            held = hold(
                self._held.get(key),
                desired,
                now,
                e,
                policy=self.policy,
                rng=self.rng,
                reason=reason,
                message=message,
            )
            if held is None:
                self._held.pop(key, None)
                return None
            self._held[key] = held
            if len(self._held) > MAX_HELD:  # bounded: forget the hold that ends first
                del self._held[min(self._held, key=lambda k: self._held[k].retry_at)]
            return held

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._held.pop(key, None)
