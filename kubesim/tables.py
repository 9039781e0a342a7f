"""Server-side printing: the ``meta.k8s.io/v1`` Table that ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and prints the columns
the server chooses, so the columns here are kube-apiserver's for the kinds people look at during a
demo (Deployment READY/UP-TO-DATE/AVAILABLE, Namespace STATUS, Node STATUS ...); other kinds get
NAME and AGE, as custom resources without printer columns do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, int, Callable[[Obj], Any]]  # name, priority, cell


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


def human_duration(seconds: float) -> str:
    """kubectl's age format (k8s.io/apimachinery/pkg/util/duration.HumanDuration)."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d"


def _spec(o: Obj) -> Obj:
    spec: Obj = o.get("spec") or {}
    return spec


def _status(o: Obj) -> Obj:
    st: Obj = o.get("status") or {}
    return st


def _containers(o: Obj) -> list[Obj]:
    out: list[Obj] = ((_spec(o).get("template") or {}).get("spec") or {}).get("containers") or []
    return out


def _selector(o: Obj) -> str:
    labels = (_spec(o).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _node_status(o: Obj) -> str:
    ready = next((c for c in _status(o).get("conditions") or [] if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    return text + (",SchedulingDisabled" if _spec(o).get("unschedulable") else "")


_COLUMNS: dict[str, list[Column]] = {
    "apps/Deployment": [
        ("Ready", 0, lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}"),
        ("Up-to-date", 0, lambda o: _status(o).get("updatedReplicas", 0)),
        ("Available", 0, lambda o: _status(o).get("availableReplicas", 0)),
        ("AGE", 0, lambda o: None),
        ("Containers", 1, lambda o: ",".join(c.get("name", "") for c in _containers(o))),
        ("Images", 1, lambda o: ",".join(c.get("image", "") for c in _containers(o))),
        ("Selector", 1, _selector),
    ],
    "apps/StatefulSet": [
        ("Ready", 0, lambda o: f"{_status(o).get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}"),
        ("AGE", 0, lambda o: None),
        ("Containers", 1, lambda o: ",".join(c.get("name", "") for c in _containers(o))),
        ("Images", 1, lambda o: ",".join(c.get("image", "") for c in _containers(o))),
    ],
    "/Namespace": [("Status", 0, lambda o: _status(o).get("phase", "")), ("AGE", 0, lambda o: None)],
    "/Node": [
        ("Status", 0, _node_status),
        ("Roles", 0, lambda o: "<none>"),
        ("AGE", 0, lambda o: None),
        ("Version", 0, lambda o: (_status(o).get("nodeInfo") or {}).get("kubeletVersion", "")),
    ],
    "/ConfigMap": [
        ("Data", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("AGE", 0, lambda o: None),
    ],
    "/Service": [
        ("Type", 0, lambda o: _spec(o).get("type", "")),
        ("Cluster-IP", 0, lambda o: _spec(o).get("clusterIP", "")),
        ("External-IP", 0, lambda o: "<none>"),
        (
            "Port(s)",
            0,
            lambda o: ",".join(
                f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
                for p in _spec(o).get("ports") or []
            ),
        ),
        ("AGE", 0, lambda o: None),
    ],
}

# Kinds whose printer does not start with the name (kube-apiserver's Event printer puts it last, wide).
_WHOLE: dict[str, list[Column]] = {
    "/Event": [
        ("Last Seen", 0, lambda o: None),
        ("Type", 0, lambda o: o.get("type", "")),
        ("Reason", 0, lambda o: o.get("reason", "")),
        (
            "Object",
            0,
            lambda o: "{}/{}".format(
                str((o.get("involvedObject") or {}).get("kind", "")).lower(),
                (o.get("involvedObject") or {}).get("name", ""),
            ),
        ),
        ("Subobject", 1, lambda o: (o.get("involvedObject") or {}).get("fieldPath", "")),
        (
            "Source",
            1,
            lambda o: ", ".join(
                v
                for v in (
                    (o.get("source") or {}).get("component", ""),
                    (o.get("source") or {}).get("host", ""),
                )
                if v
            ),
        ),
        ("Message", 0, lambda o: o.get("message", "")),
        ("First Seen", 1, lambda o: None),
        ("Count", 1, lambda o: o.get("count", 0)),
        ("Name", 1, lambda o: o["metadata"].get("name", "")),
    ],
}
# Columns that show the age of a timestamp field.
_AGES = {"AGE": "creationTimestamp", "Last Seen": "lastTimestamp", "First Seen": "firstTimestamp"}


def table(group: str, kind: str, objects: list[Obj], resource_version: str, include: str, now: str) -> Obj:
    columns: list[Column] = _WHOLE.get(f"{group}/{kind}") or [
        ("Name", 0, lambda o: o["metadata"].get("name", "")),
        *_COLUMNS.get(f"{group}/{kind}", [("AGE", 0, lambda o: None)]),
    ]
    at = _parse(now)
    rows = []
    for obj in objects:
        cells = [_age(obj, _AGES[name], at, now) if name in _AGES else fn(obj) for name, _, fn in columns]
        if include == "None":
            ref: Obj | None = None
        elif include == "Object":
            ref = obj
        else:
            ref = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append({"cells": cells, "object": ref})
    definitions = [
        {
            "name": "Age" if name == "AGE" else name,
            "type": "string",
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": prio,
        }
        for name, prio, _ in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def _age(obj: Obj, field: str, at: datetime, now: str) -> str:
    stamp = obj.get(field) or obj["metadata"].get(field) or obj["metadata"].get("creationTimestamp") or now
    return human_duration((at - _parse(stamp)).total_seconds())


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))
