"""Work a pass does off its critical path: health and the property providers' input, read at once.

The three reads (``/readyz``, Nodes, Pods) are independent of each other and of the prune and the
inventory write that come before the report, so they go out at once on threads of their own as soon
as the apply phase is done and are joined when the report is built. On a real API server each read
is a round trip of tens of milliseconds; this way they cost none on the pass's critical path.
``in_background`` runs any other such step (the inventory write, while the report is built).
``detached`` is for a step a pass may leave behind unfinished (the bundle fetch, agent/loop.py):
a daemon thread, so that a stop never waits for a remote that does not answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from agent.apply.manager import Kube
from agent.errors import KubeError
from agent.properties import Collected, PropertyProvider, collect_all

log = logging.getLogger("fleetsync.agent")

Obj = dict[str, Any]
T = TypeVar("T")


def in_background(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """``fn(*args, **kwargs)`` on a thread of its own; the future holds its result or exception."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background")
    try:
        return pool.submit(fn, *args, **kwargs)
    finally:
        pool.shutdown(wait=False)  # the thread ends with ``fn``


def detached(fn: Callable[..., T], *args: Any, name: str = "detached") -> Future[T]:
    """``fn(*args)`` on a daemon thread; the future holds its result or exception. Unlike
    ``in_background``'s pool threads, the interpreter's exit does not wait for it."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # handed to whoever takes the result
            future.set_exception(e)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _list(kube: Kube, kind: str) -> list[Obj]:
    return kube.list(kube.kind("v1", kind))


class Observing:
    """Reads started on construction; ``result`` waits for them."""

    def __init__(self, kube: Kube):
        pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="observe")
        try:
            self._ready: Future[tuple[bool, str]] = pool.submit(kube.ready)
            self._nodes: Future[list[Obj]] = pool.submit(_list, kube, "Node")
            self._pods: Future[list[Obj]] = pool.submit(_list, kube, "Pod")
        finally:
            pool.shutdown(wait=False)  # the threads end with their read

    def result(
        self, providers: Sequence[PropertyProvider], now: datetime, errors: list[str]
    ) -> tuple[Collected, bool, str]:
        """(properties and resource usage, healthy, why not); a failed list is added to ``errors``."""
        healthy, why = self._ready.result()
        try:
            nodes, pods = self._nodes.result(), self._pods.result()
        except KubeError as e:
            errors.append(f"cannot list nodes and pods for properties: {e.message}")
            return Collected(), healthy, why
        collected = collect_all(providers, nodes, pods, now)
        for problem in collected.problems:
            log.info("property provider: %s", problem)
        return collected, healthy, why
