"""Liveness and readiness of a run loop, as ``/healthz`` and ``/readyz`` answer them.

Live means the loop's scheduler is running (a callable the wiring supplies: the loop is not
ours to reach into). Ready means the last pass *finished* — whatever its outcome — within
``intervals`` times ``interval`` seconds: a pass that ended in an error still shows a loop that
works (the error is in the metrics), while a hung pass, a stopped scheduler or a loop that
never got its first pass done leaves the process unready. The clock is monotonic and injected,
so a test moves it instead of sleeping.

A standby replica of a leader-elected hub (``hub run --leader-elect`` while another replica holds
the Lease) reconciles nothing, so it could never pass that test; it is ready while its loop runs,
as every replica of a controller-runtime or Flux manager is (their readiness check is a ping,
leader or not). Without that a Deployment's rolling update would wait forever for its new,
standby pod, and a PodDisruptionBudget would never let the leader be drained. A replica that is
elected gets the same ``intervals`` to finish its first reconcile, counted from when it was last
seen standing by.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str  # one line, what /healthz or /readyz prints


class Health:
    """Thread-safe: the loop's thread calls ``finished()``, the HTTP threads ask."""

    def __init__(
        self,
        what: str,
        interval: float,
        intervals: int = 3,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        if intervals < 1:
            raise ValueError(f"readiness needs at least 1 interval, not {intervals}")
        self.what = what  # "reconcile" (hub) or "sync" (agent), for the reasons
        self.interval = interval
        self.intervals = intervals
        self.clock = clock
        self._alive: Callable[[], bool] = lambda: False
        self._last: float | None = None
        self._standby: Callable[[], bool] = lambda: False
        self._standby_seen: float | None = None  # when ready() last saw a standby
        self._lock = threading.Lock()

    def watch(self, alive: Callable[[], bool]) -> None:
        """The loop is live while ``alive()`` says so (its scheduler is running)."""
        self._alive = alive

    def standby(self, standing_by: Callable[[], bool]) -> None:
        """Another replica leads while ``standing_by()`` says so (leader election)."""
        self._standby = standing_by

    def finished(self) -> None:
        """A pass ended (successfully or not)."""
        with self._lock:
            self._last = self.clock()

    def live(self) -> Verdict:
        if self._alive():
            return Verdict(True, f"ok: the {self.what} loop is running")
        return Verdict(False, f"the {self.what} loop is not running")

    def ready(self) -> Verdict:
        if not (live := self.live()).ok:
            return live
        now = self.clock()
        with self._lock:
            if self._standby():
                self._standby_seen = now
                return Verdict(True, "ok: standing by, another replica leads")
            last, seen = self._last, self._standby_seen
        if seen is not None and (last is None or last < seen):  # elected since it last stood by
            elected = now - seen
            if elected <= self.intervals * self.interval:
                return Verdict(True, f"ok: elected {elected:.0f}s ago, its first {self.what} is running")
            return Verdict(False, f"elected {elected:.0f}s ago and no {self.what} has finished since")
        if last is None:
            return Verdict(False, f"no {self.what} has finished yet")
        age = now - last
        limit = self.intervals * self.interval
        if age > limit:
            return Verdict(
                False,
                f"the last {self.what} finished {age:.0f}s ago, more than "
                f"{self.intervals} x {self.interval:g}s",
            )
        return Verdict(True, f"ok: the last {self.what} finished {age:.0f}s ago")
