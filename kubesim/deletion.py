"""DELETE: preconditions, finalizers, propagation policies, and the kinds that terminate first.

An object with finalizers is only marked (``deletionTimestamp``) and answered whole; a plain delete
answers a ``Success`` Status. Namespaces and CRDs do not vanish at once: they terminate, and their
controllers (kubesim.controllers) remove their contents and then them. Orphan and Foreground
deletes finish at once because kubesim simulates no dependents. A DELETE on a collection
(``deletecollection``) deletes every object its selectors match the same way.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubesim import defaults, reads
from kubesim.status import ApiError, bad_request, conflict, method_not_allowed, not_found

if TYPE_CHECKING:
    from kubesim.api import Call, Objects

Obj = dict[str, Any]
Result = tuple[int, Obj, list[str]]


def delete(objs: Objects, c: Call) -> Result:  # noqa: C901
    opts: Obj = {}
    if c.body:
        try:
            opts = json.loads(c.body)
        except ValueError as e:
            raise bad_request(f"error decoding DeleteOptions: {e}") from e
    policy = opts.get("propagationPolicy") or c.query.get("propagationPolicy") or ""
    pre = opts.get("preconditions") or {}
    key = objs.key(c.res, c.namespace, c.name)
    with objs.store.lock:
        old = objs.store.get(key)
        if old is None:
            raise not_found(c.res.plural, c.name, c.res.group)
        meta = old["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise conflict(
                c.res.kind,
                c.name,
                "",
                (
                    f"the UID in the precondition ({pre['uid']}) does not match the UID in record ({meta.get('uid')}). "
                    "The object might have been deleted and then recreated"
                ),
                kind_detail=c.res.kind,
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise conflict(
                c.res.kind,
                c.name,
                "",
                (
                    f"the ResourceVersion in the precondition ({pre['resourceVersion']}) does not match the "
                    f"ResourceVersion in record ({meta.get('resourceVersion')}). The object might have been modified"
                ),
                kind_detail=c.res.kind,
            )
        new = copy.deepcopy(old)
        nmeta = new["metadata"]
        finalizers = list(nmeta.get("finalizers") or [])
        if c.res.kind == "Namespace" and not c.res.group:
            if not nmeta.get("deletionTimestamp"):
                nmeta["deletionTimestamp"] = objs.now()
                new.setdefault("status", {})["phase"] = "Terminating"
                return 200, objs.write(c, key, new), []
            return 200, old, []
        if (c.res.group, c.res.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition"):
            if not nmeta.get("deletionTimestamp"):
                nmeta["deletionTimestamp"] = objs.now()
                fins = nmeta.setdefault("finalizers", [])
                if "customresourcecleanup.apiextensions.k8s.io" not in fins:
                    fins.append("customresourcecleanup.apiextensions.k8s.io")
                st = new.setdefault("status", {})
                conds = [x for x in st.get("conditions") or [] if x.get("type") != "Terminating"]
                conds.append(
                    {
                        "type": "Terminating",
                        "status": "True",
                        "lastTransitionTime": objs.now(),
                        "reason": "InstanceDeletionPending",
                        "message": "CustomResourceDefinition marked for deletion; CustomResource deletion "
                        "will begin soon",
                    }
                )
                st["conditions"] = conds
                return 200, objs.write(c, key, new), []
            return 200, old, []
        if policy in ("Orphan", "Foreground") and not nmeta.get("deletionTimestamp"):
            finalizers.append("orphan" if policy == "Orphan" else "foregroundDeletion")
        if finalizers:
            if not nmeta.get("deletionTimestamp"):
                nmeta["deletionTimestamp"] = objs.now()
                nmeta["deletionGracePeriodSeconds"] = 0
                nmeta["finalizers"] = finalizers
                if defaults.has_generation(c.res.group, c.res.kind, c.res.custom):
                    nmeta["generation"] = nmeta.get("generation", 0) + 1
                stored = objs.write(c, key, new)
                if not c.dry_run and set(finalizers) <= {"orphan", "foregroundDeletion"}:
                    objs.store.remove(key)  # no dependents are simulated: the GC finishes at once
                return 200, stored, []
            return 200, old, []
        if not c.dry_run:
            objs.store.remove(key)
        details: Obj = {"name": c.name}
        if c.res.group:
            details["group"] = c.res.group
        details["kind"] = c.res.plural
        details["uid"] = meta.get("uid")
        return (
            200,
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details},
            [],
        )


def delete_collection(objs: Objects, c: Call) -> Result:
    """DELETE on a collection: every object the selectors match, each deleted as by its own DELETE.

    The answer is the list as it was before the deletes (what kube-apiserver's registry returns);
    objects held by finalizers stay, marked, as with a single delete. Only the namespaced path serves
    it for a namespaced kind, and only kinds whose discovery lists the verb."""
    if "deletecollection" not in c.res.verbs or (c.res.namespaced and not c.namespace):
        raise method_not_allowed()
    query = {k: v for k, v in c.query.items() if k in ("labelSelector", "fieldSelector")}
    with objs.store.lock:
        _, listed, _ = reads.list_objects(objs.store, c.res, c.namespace or None, query)
        for item in listed["items"]:
            one = replace(c, name=item["metadata"]["name"])
            try:
                delete(objs, one)
            except ApiError as e:
                if e.code != 404:
                    raise
    return 200, listed, []
