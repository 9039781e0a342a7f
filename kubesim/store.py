"""The object store of one simulated cluster: objects, resourceVersion, uids, generations.

Like etcd behind kube-apiserver, there is one monotonically increasing revision; every write
stamps the object with the next one, and a list reports the current one. Objects are kept as
plain dicts and copied on the way in and out, so no caller can mutate stored state by accident.
Keys sort as etcd's do (namespace, then name), which fixes list order and pagination. Every write
also appends a watch event, which is what the (optional) watch endpoint streams.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name


@dataclass(frozen=True, slots=True)
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: Key
    obj: Obj


class Store:
    """Thread-safe; hold :attr:`lock` across a read-modify-write."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[Key, Obj] = {}
        self._rv = 100
        self.events: list[Event] = []
        self.listeners: list[Callable[[Key, Obj | None], None]] = []
        self.closed = False
        self._trimmed = False

    def close(self) -> None:
        """End every open watch (the server is stopping)."""
        with self.lock:
            self.closed = True
            self.changed.notify_all()

    @property
    def compacted(self) -> bool:
        """Whether the event log has lost its beginning (then old resourceVersions are too old)."""
        return self._trimmed

    @property
    def revision(self) -> int:
        return self._rv

    def new_uid(self) -> str:
        return str(uuid.uuid4())

    def get(self, key: Key) -> Obj | None:
        with self.lock:
            obj = self._objects.get(key)
            return copy.deepcopy(obj) if obj is not None else None

    def put(self, key: Key, obj: Obj) -> Obj:
        """Store ``obj`` with a new resourceVersion; returns the stored copy."""
        with self.lock:
            self._rv += 1
            stored = copy.deepcopy(obj)
            stored.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
            kind = "MODIFIED" if key in self._objects else "ADDED"
            self._objects[key] = stored
            self._record(kind, key, stored)
            return copy.deepcopy(stored)

    def remove(self, key: Key) -> Obj | None:
        with self.lock:
            obj = self._objects.pop(key, None)
            if obj is not None:
                self._rv += 1
                gone = copy.deepcopy(obj)
                gone["metadata"]["resourceVersion"] = str(self._rv)
                self._record("DELETED", key, gone)
            return obj

    def _record(self, kind: str, key: Key, obj: Obj) -> None:
        self.events.append(Event(self._rv, kind, key, copy.deepcopy(obj)))
        if len(self.events) > 5000:
            del self.events[:1000]
            self._trimmed = True
        self.changed.notify_all()
        for listener in list(self.listeners):
            listener(key, obj if kind != "DELETED" else None)

    def keys(self, group: str, plural: str, namespace: str | None = None) -> list[Key]:
        with self.lock:
            return sorted(
                k
                for k in self._objects
                if k[0] == group and k[1] == plural and (namespace is None or k[2] == namespace)
            )

    def items(self, group: str, plural: str, namespace: str | None = None) -> list[tuple[Key, Obj]]:
        with self.lock:
            return [(k, copy.deepcopy(self._objects[k])) for k in self.keys(group, plural, namespace)]

    def compact(self, keep_last: int = 0) -> None:
        """Forget all but the last ``keep_last`` events, like an etcd compaction (watches from before get 410)."""
        with self.lock:
            del self.events[: max(len(self.events) - keep_last, 0)]
            self._trimmed = True

    def items_at(
        self, group: str, plural: str, namespace: str | None, rv: int
    ) -> list[tuple[Key, Obj]] | None:
        """The objects as they were at revision ``rv``, or None when the log no longer reaches back that far."""
        with self.lock:
            trimmed_before = self.events[0].rv if self.events and self._trimmed else 0
            if rv < trimmed_before:
                return None
            state: dict[Key, Obj] = {}
            for e in self.events:
                if e.rv > rv:
                    break
                k = e.key
                if k[0] != group or k[1] != plural or (namespace is not None and k[2] != namespace):
                    continue
                if e.type == "DELETED":
                    state.pop(k, None)
                else:
                    state[k] = e.obj
            return [(k, copy.deepcopy(state[k])) for k in sorted(state)]

    def all_keys(self) -> list[Key]:
        with self.lock:
            return sorted(self._objects)
