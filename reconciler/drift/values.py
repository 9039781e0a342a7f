"""From a drift detail's two strings to a typed JSON patch operation (pure; used by drift adoption).

An agent reports each drifted field as KubeFleet's ``PatchDetail``: a JSON pointer and Go
``%v`` renderings of the hub's and the member's values, so ``5`` (a number) and ``"5"`` (a
string) look alike. Adopting the member's value needs its JSON type back. The rule, in order:

1. the hub's value at that path in the manifest the hub renders for the cluster (source plus
   the overrides that apply there) decides: an integer stays an integer (``"5"`` → ``5``), a
   float a float, a boolean a boolean (``true``/``false``), a string a string;
2. where the hub has no value (the member added the field): labels and annotations are strings;
   anything else is an integer, ``true``/``false`` or ``null`` when it reads as one, else a string;
3. maps and lists (``map[a:b]``, ``[a b]`` in Go's rendering) cannot be read back faithfully, and
   a member value that does not parse as the hub's type is refused: adopt such a field by hand.

A member value of ``None`` means the field is absent on the member: the operation is ``remove``.
Secret data (``/data/*``, ``/stringData/*`` of a core Secret) is redacted by the agent and always
refused; so are paths an override may not touch (KubeFleet's webhook rules, shared with
reconciler/api/override.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fleetsync_contract import parse_identity
from fleetsync_contract.report import REDACTED, ObjectDrift, PatchDetail
from reconciler.api.override import check_patch_path
from reconciler.errors import UserError

_INT = re.compile(r"^-?(0|[1-9][0-9]{0,18})$")
_FLOAT = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
_MISSING = object()
MAX_VALUE_CHARS = 64 * 1024


class AdoptionRefused(UserError):
    """This detail cannot be adopted as asked; the message says why and what to do instead."""


@dataclass(frozen=True, slots=True)
class PatchOp:
    """One RFC 6902 operation: ``op`` is replace, add or remove (``value`` unused for remove)."""

    op: str
    path: str
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op != "remove":
            out["value"] = self.value
        return out


def split_pointer(path: str) -> list[str]:
    """A JSON pointer's reference tokens (``~1`` → ``/``, ``~0`` → ``~``)."""
    if not path.startswith("/"):
        raise AdoptionRefused(f"{path!r} is not a JSON pointer (it must start with '/')")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def join_pointer(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def resolve(doc: Any, tokens: Sequence[str]) -> Any:
    """The value at ``tokens`` in ``doc``, or ``MISSING``."""
    node = doc
    for t in tokens:
        if isinstance(node, Mapping):
            if t not in node:
                return _MISSING
            node = node[t]
        elif isinstance(node, list):
            if not t.isdigit() or int(t) >= len(node):
                return _MISSING
            node = node[int(t)]
        else:
            return _MISSING
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def is_secret_data(group: str, kind: str, path: str) -> bool:
    return (
        group == ""
        and kind == "Secret"
        and (path.startswith("/data/") or path.startswith("/stringData/") or path in ("/data", "/stringData"))
    )


def masked(drift: ObjectDrift) -> ObjectDrift:
    """``drift`` with Secret data values redacted, whatever the agent wrote: every reader of an
    agent's drift (``get drift``, placement status, a team's status branch) passes it through here."""
    try:
        group, kind, _, _ = parse_identity(drift.identity)
    except ValueError:
        return drift
    details = tuple(
        PatchDetail(
            d.path,
            None if d.value_in_hub is None else REDACTED,
            None if d.value_in_member is None else REDACTED,
        )
        if is_secret_data(group, kind, d.path)
        else d
        for d in drift.details
    )
    return replace(drift, details=details)


def check_path(group: str, kind: str, detail: PatchDetail) -> None:
    """Refuse a path an override may not set, and Secret data (its values are redacted)."""
    if is_secret_data(group, kind, detail.path) or REDACTED in (
        detail.value_in_member or "",
        detail.value_in_hub or "",
    ):
        raise AdoptionRefused(
            f"{detail.path}: Secret values are redacted in drift reports and cannot be adopted; "
            "change the Secret's source (or your secret manager) by hand"
        )
    why = check_patch_path(detail.path)
    if why:
        raise AdoptionRefused(
            f"{detail.path}: {why}; such a field cannot be adopted (exclude it with --path)"
        )


def _parse_as(text: str, like: Any, path: str) -> Any:
    if isinstance(like, bool):
        if text in ("true", "false"):
            return text == "true"
        raise AdoptionRefused(f"{path}: the hub's value is a boolean but the member's is {text!r}")
    if isinstance(like, int):
        if _INT.match(text):
            return int(text)
        raise AdoptionRefused(f"{path}: the hub's value is an integer but the member's is {text!r}")
    if isinstance(like, float):
        if _FLOAT.match(text):
            return float(text)
        raise AdoptionRefused(f"{path}: the hub's value is a number but the member's is {text!r}")
    if isinstance(like, Mapping | list):
        raise AdoptionRefused(
            f"{path}: the value is a map or list, which the drift report renders in Go's %v form; "
            "it cannot be read back faithfully: adopt its fields one by one (--path) or edit by hand"
        )
    return text


def _guess(text: str, tokens: Sequence[str], path: str) -> Any:
    if len(tokens) >= 2 and tokens[0] == "metadata" and tokens[1] in ("labels", "annotations"):
        return text
    if text.startswith(("map[", "[")):
        raise AdoptionRefused(
            f"{path}: the member's value {text[:40]!r} is a map or list in Go's %v form and cannot be read back "
            "faithfully: adopt its fields one by one or edit by hand"
        )
    if _INT.match(text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    if text in ("<nil>", "null"):
        return None
    return text


def typed_value(detail: PatchDetail, hub_manifest: Mapping[str, Any]) -> Any:
    """The member's value as JSON, typed by the rule in this module's docstring."""
    text = detail.value_in_member
    assert text is not None
    if len(text) > MAX_VALUE_CHARS:
        raise AdoptionRefused(
            f"{detail.path}: the member's value is longer than {MAX_VALUE_CHARS} characters"
        )
    if "${MEMBER-CLUSTER-" in text:
        raise AdoptionRefused(
            f"{detail.path}: the member's value contains an override variable (${{MEMBER-CLUSTER-…}}) "
            "that an override would substitute; edit it by hand"
        )
    tokens = split_pointer(detail.path)
    hub = resolve(hub_manifest, tokens)
    if hub is _MISSING or hub is None:
        return _guess(text, tokens, detail.path)
    return _parse_as(text, hub, detail.path)


def patch_op(detail: PatchDetail, hub_manifest: Mapping[str, Any]) -> PatchOp:
    """The operation that makes the hub's manifest carry the member's value at ``detail.path``.

    ``add`` of a field whose parent maps are missing becomes an ``add`` of the nearest missing
    ancestor holding nested maps (JSON patch needs the parent to exist); list items are never
    invented.
    """
    tokens = split_pointer(detail.path)
    current = resolve(hub_manifest, tokens)
    if detail.value_in_member is None:
        if current is _MISSING:
            raise AdoptionRefused(f"{detail.path}: absent on both the hub and the member; nothing to adopt")
        return PatchOp("remove", detail.path)
    value = typed_value(detail, hub_manifest)
    if current is not _MISSING:
        return PatchOp("replace", detail.path, value)
    depth = len(tokens) - 1
    while depth > 0 and resolve(hub_manifest, tokens[:depth]) is _MISSING:
        depth -= 1
    parent = resolve(hub_manifest, tokens[:depth])
    if isinstance(parent, list):
        last = depth == len(tokens) - 1
        if not last or not (tokens[-1] == "-" or (tokens[-1].isdigit() and int(tokens[-1]) <= len(parent))):
            raise AdoptionRefused(
                f"{detail.path}: item {tokens[depth]} is not in the hub's list; adopting it would "
                "invent list items: edit by hand"
            )
        return PatchOp("add", detail.path, value)
    if not isinstance(parent, Mapping):
        raise AdoptionRefused(f"{detail.path}: its parent {join_pointer(tokens[:depth]) or '/'} is not a map")
    if any(t.isdigit() or t == "-" for t in tokens[depth + 1 :]):
        raise AdoptionRefused(f"{detail.path}: adopting it would invent list items: edit by hand")
    for t in reversed(tokens[depth + 1 :]):
        value = {t: value}
    return PatchOp("add", join_pointer(tokens[: depth + 1]), value)
