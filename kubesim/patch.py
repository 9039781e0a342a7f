"""The three non-apply patch types: JSON merge patch, JSON patch and strategic merge patch.

Strategic merge patch is the one kubectl's client-side apply sends. Its rules come from the Go
struct tags of the built-in types (``patchMergeKey``); we carry the keys the agent and kubectl
meet in practice (containers, env, ports, volumes, volumeMounts, conditions ...) and the
``$patch: delete|replace``, ``$retainKeys`` and ``$deleteFromPrimitiveList`` directives;
``$setElementOrder`` is accepted and ignored (merged items keep the live order, new ones go last).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

Obj = dict[str, Any]

# patchMergeKey of the built-in lists that merge instead of being replaced.
_SMP_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "tolerations": "key",
    "topologySpreadConstraints": "topologyKey",
}


class PatchError(Exception):
    """The patch cannot be applied (422 Invalid in kube-apiserver)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def json_patch(target: Obj, ops: Any) -> Obj:
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list")
    try:
        result = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(target))
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
    ) as e:
        raise PatchError(str(e)) from e
    if not isinstance(result, dict):
        raise PatchError("result is not an object")
    return result


def _merge_key(field: str, parent_is_container: bool) -> str | None:
    if field == "ports":
        return "containerPort" if parent_is_container else "port"
    return _SMP_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, *, in_container: bool = False) -> Any:  # noqa: C901
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if (
            k.startswith("$")
            or k.startswith("$setElementOrder/")
            or k.startswith("$deleteFromPrimitiveList/")
        ):
            continue
        if v is None:
            out.pop(k, None)
            continue
        key = _merge_key(k, in_container)
        if isinstance(v, list) and key and isinstance(out.get(k), list):
            out[k] = _merge_list(out[k], v, key, child_container=k in ("containers", "initContainers"))
        elif isinstance(v, list):
            out[k] = [
                {kk: vv for kk, vv in item.items() if kk != "$patch"} if isinstance(item, dict) else item
                for item in v
                if not (isinstance(item, dict) and item.get("$patch") == "delete")
            ]
        elif isinstance(v, dict):
            out[k] = strategic_merge_patch(out.get(k), v, in_container=in_container)
        else:
            out[k] = copy.deepcopy(v)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):  # kubectl sends it when a union's discriminator changes (strategy type)
        out = {k: v for k, v in out.items() if k in retain}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/") and isinstance(v, list):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in v]
    return out


def _merge_list(live: list[Any], patch: list[Any], key: str, *, child_container: bool) -> list[Any]:
    result = copy.deepcopy(live)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(copy.deepcopy(item))
            continue
        idx = next(
            (i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key) == item[key]), None
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            result[idx] = strategic_merge_patch(result[idx], item, in_container=child_container)
    return result
