"""Watch: a stream of ADDED / MODIFIED / DELETED frames from the store's event log.

Without a resourceVersion (or with ``0``) the stream starts with a synthetic ADDED per existing
object, as kube-apiserver's watch cache does; from a resourceVersion it replays what happened
after it. A resourceVersion older than the retained log gets one ERROR frame (410 Expired) on an
HTTP 200, exactly like a real server after compaction (the log is complete until it is compacted:
``Store.compact`` or 5000 events). ``sendInitialEvents`` ends the initial
ADDED frames with a BOOKMARK annotated ``k8s.io/initial-events-end``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from kubesim.discovery import Resource
from kubesim.selectors import field_selector, label_selector
from kubesim.store import Event, Store

Obj = dict[str, Any]
Emit = Callable[[Obj], None]
MAX_TIMEOUT = 1800


def serve_watch(  # noqa: C901
    store: Store, res: Resource, namespace: str | None, query: dict[str, str]
) -> Callable[[Emit], None]:
    match_label = label_selector(query["labelSelector"]) if query.get("labelSelector") else None
    match_field = field_selector(query["fieldSelector"], res.kind) if query.get("fieldSelector") else None
    timeout = min(int(query.get("timeoutSeconds") or MAX_TIMEOUT), MAX_TIMEOUT)
    rv = query.get("resourceVersion") or ""
    initial = query.get("sendInitialEvents") == "true"

    def wanted(e: Event) -> bool:
        k = e.key
        if k[0] != res.group or k[1] != res.plural or (namespace is not None and k[2] != namespace):
            return False
        return (match_label is None or match_label(e.obj)) and (match_field is None or match_field(e.obj))

    def run(emit: Emit) -> None:
        deadline = time.monotonic() + timeout
        with store.lock:
            if not rv or rv == "0" or initial:
                frames = []
                for _, obj in store.items(res.group, res.plural, namespace):
                    if (match_label is None or match_label(obj)) and (
                        match_field is None or match_field(obj)
                    ):
                        frames.append({"type": "ADDED", "object": obj})
                last = store.revision
                if initial:
                    frames.append(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": res.kind,
                                "apiVersion": res.api_version,
                                "metadata": {
                                    "resourceVersion": str(last),
                                    "annotations": {"k8s.io/initial-events-end": "true"},
                                },
                            },
                        }
                    )
            else:
                last = int(rv) if rv.isdigit() else 0
                oldest = store.events[0].rv if store.events else store.revision + 1
                frames = []
                if store.compacted and last < oldest - 1:
                    frames.append(
                        {
                            "type": "ERROR",
                            "object": {
                                "kind": "Status",
                                "apiVersion": "v1",
                                "metadata": {},
                                "status": "Failure",
                                "message": f"too old resource version: {last} ({oldest - 1})",
                                "reason": "Expired",
                                "code": 410,
                            },
                        }
                    )
        for f in frames:
            emit(f)
        if frames and frames[-1]["type"] == "ERROR":
            return
        while True:
            with store.changed:
                pending = [e for e in store.events if e.rv > last and wanted(e)]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or store.closed:
                        return
                    store.changed.wait(min(remaining, 1.0))
                    last = max([last, *[e.rv for e in store.events if e.rv > last and not wanted(e)]])
                    continue
            for e in pending:
                emit({"type": e.type, "object": copy.deepcopy(e.obj)})
                last = e.rv

    return run
