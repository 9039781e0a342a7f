"""Reads: lists (selectors, pagination, exact past revisions).

Pagination follows etcd's key order and kube-apiserver's rule that a page is cut after ``limit``
matching items whenever more keys follow, so a non-empty ``continue`` can lead to an empty last
page, and ``remainingItemCount`` is only reported without selectors.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubesim.discovery import Resource
from kubesim.selectors import field_selector, label_selector
from kubesim.status import ApiError, bad_request, invalid, status
from kubesim.store import Store

Obj = dict[str, Any]
Result = tuple[int, Obj, list[str]]


def list_objects(store: Store, res: Resource, namespace: str | None, query: dict[str, str]) -> Result:  # noqa: C901
    match_label = label_selector(query["labelSelector"]) if query.get("labelSelector") else None
    match_field = field_selector(query["fieldSelector"], res.kind) if query.get("fieldSelector") else None
    limit = int(query.get("limit") or 0)
    start = ""
    match = query.get("resourceVersionMatch")
    if match and not query.get("resourceVersion"):
        raise invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            [
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                    "field": "resourceVersionMatch",
                }
            ],
        )
    with store.lock:
        revision = store.revision
        exact = (
            int(query["resourceVersion"]) if match == "Exact" and query["resourceVersion"].isdigit() else None
        )
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, revision = str(token["start"]), int(token["rv"])
            except (ValueError, KeyError, TypeError) as e:
                raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from e
        scope = namespace if res.namespaced else None
        if exact is not None and exact < revision:
            past = store.items_at(res.group, res.plural, scope, exact)
            if past is None:
                raise ApiError(
                    410, status(410, "Expired", "The resourceVersion for the provided list is too old.")
                )
            entries, revision = past, exact
        else:
            entries = store.items(res.group, res.plural, scope)
    items: list[Obj] = []
    more = False
    remaining = 0
    for i, (key, obj) in enumerate(entries):
        pos = f"{key[2]}/{key[3]}"
        if start and pos <= start:
            continue
        if limit and len(items) >= limit:
            more = True
            remaining = len(entries) - i
            break
        if match_label and not match_label(obj):
            continue
        if match_field and not match_field(obj):
            continue
        if not res.custom:
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
        items.append(obj)
    meta: Obj = {"resourceVersion": str(revision)}
    if res.custom:
        meta["continue"] = ""  # unstructured lists always carry it
    if more and items:
        last = items[-1]["metadata"]
        pos = f"{last.get('namespace', '')}/{last['name']}"
        meta["continue"] = base64.urlsafe_b64encode(
            json.dumps({"start": pos, "rv": revision}).encode()
        ).decode()
        if not match_label and not match_field:
            meta["remainingItemCount"] = remaining
    return (
        200,
        {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta, "items": items},
        [],
    )
