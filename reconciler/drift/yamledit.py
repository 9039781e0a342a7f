"""Edit one object in a YAML file people maintain, keeping their comments and layout (ruamel.yaml).

Drift adoption writes into files a person reviews in a pull request, so the diff must show the
adopted values and nothing else: the file is loaded round-trip (comments, key order, quoting,
flow style kept), the one object is found by kind, namespace and name (inside a ``v1 List`` too),
changed in place, and the stream dumped with the file's own indentation (guessed from its
lines: mapping indent and whether sequences are indented under their key). ``roundtrip_clean``
tells the caller whether ruamel reproduces the untouched file byte for byte, so a command can warn
when the diff would show more than the adopted lines.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.drift.values import AdoptionRefused, PatchOp, split_pointer
from reconciler.errors import UserError

_KEY_LINE = re.compile(r"^(\s*)[^\s#-][^:]*:\s*(#.*)?$")
_ITEM_LINE = re.compile(r"^(\s*)- +")
_INDENTED = re.compile(r"^(\s+)[^\s#-]")


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them, from the first
    nested mapping and the first block sequence under a key (ruamel's defaults otherwise)."""
    mapping = sequence = offset = 0
    previous = ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parent = _KEY_LINE.match(previous)
        if parent:
            depth = len(parent.group(1))
            item = _ITEM_LINE.match(line)
            nested = _INDENTED.match(line)
            if item and not sequence:
                offset = len(item.group(1)) - depth
                sequence = len(item.group(0)) - depth
            elif nested and not item and not mapping and len(nested.group(1)) > depth:
                mapping = len(nested.group(1)) - depth
        if mapping and sequence:
            break
        previous = line
    mapping = mapping or 2
    return mapping, sequence or mapping, max(0, min(offset, (sequence or mapping) - 2))


def _yaml(text: str) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    mapping, sequence, offset = _guess_indent(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    y.explicit_start = text.lstrip().startswith("---")
    return y


def _load(y: YAML, text: str, file: str) -> list[Any]:
    try:
        return list(y.load_all(text))
    except YAMLError as e:
        raise UserError(f"{file}: cannot be edited: {e}") from e


def _dump(y: YAML, docs: list[Any]) -> str:
    out = io.StringIO()
    y.dump_all(docs, out)
    return out.getvalue()


def roundtrip_clean(text: str) -> bool:
    """Whether loading and dumping ``text`` unchanged gives ``text`` back exactly."""
    y = _yaml(text)
    try:
        return _dump(y, _load(y, text, "")) == text
    except UserError:
        return False


def _is(obj: Any, kind: str, namespace: str, name: str, group: str | None) -> bool:
    if not isinstance(obj, Mapping) or obj.get("kind") != kind:
        return False
    meta = obj.get("metadata")
    if (
        not isinstance(meta, Mapping)
        or meta.get("name") != name
        or (meta.get("namespace") or "") != namespace
    ):
        return False
    if group is None:
        return True
    api = str(obj.get("apiVersion", ""))
    return (api.rsplit("/", 1)[0] if "/" in api else "") == group


def edit_object(
    text: str,
    file: str,
    group: str | None,
    kind: str,
    namespace: str,
    name: str,
    change: Callable[[Any], None],
) -> str:
    """``text`` with ``change`` applied to the one object it declares as kind/namespace/name."""
    y = _yaml(text)
    docs = _load(y, text, file)
    for doc in docs:
        candidates = [doc]
        if isinstance(doc, Mapping) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            candidates = list(doc["items"])
        for obj in candidates:
            if _is(obj, kind, namespace, name, group):
                change(obj)
                return _dump(y, docs)
    raise UserError(f"{file}: no {kind} {namespace + '/' if namespace else ''}{name} found to edit")


def apply_ops(obj: Any, ops: list[PatchOp]) -> None:
    """Apply replace/add/remove operations to a round-trip object in place (comments stay put)."""
    for op in ops:
        tokens = split_pointer(op.path)
        parent = obj
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = tokens[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op.op == "remove":
                del parent[index]
            elif op.op == "add":
                parent.insert(index, op.value)
            else:
                parent[index] = op.value
        elif isinstance(parent, dict):
            if op.op == "remove":
                del parent[last]
            else:
                parent[last] = op.value
        else:
            raise AdoptionRefused(f"{op.path}: its parent is not a map or list in the source file")
