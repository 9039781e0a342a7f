"""Liveness and readiness of a run loop, as ``/healthz`` and ``/readyz`` answer them.

Live means the loop's scheduler is running (a callable the wiring supplies: the loop is not
ours to reach into). Ready means the last pass *finished* — whatever its outcome — within
``intervals`` times ``interval`` seconds: a pass that ended in an error still shows a loop that
works (the error is in the metrics), while a hung pass, a stopped scheduler or a loop that
never got its first pass done leaves the process unready. The clock is monotonic and injected,
so a test moves it instead of sleeping.
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
        self._lock = threading.Lock()

    def watch(self, alive: Callable[[], bool]) -> None:
        """The loop is live while ``alive()`` says so (its scheduler is running)."""
        self._alive = alive

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
        with self._lock:
            last = self._last
        if last is None:
            return Verdict(False, f"no {self.what} has finished yet")
        age = self.clock() - last
        limit = self.intervals * self.interval
        if age > limit:
            return Verdict(
                False,
                f"the last {self.what} finished {age:.0f}s ago, more than "
                f"{self.intervals} x {self.interval:g}s",
            )
        return Verdict(True, f"ok: the last {self.what} finished {age:.0f}s ago")
