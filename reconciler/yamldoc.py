"""YAML text → plain data plus a map of where every field came from.

We compose with ruamel.yaml (round-trip resolver, YAML 1.2 core schema) and build plain
``dict``/``list``/scalars ourselves instead of letting a constructor do it. Owning that walk is
what lets us (1) remember the line and column of every key and value, so errors can name
``file:line:col`` and a field path; (2) refuse hostile input deterministically: non-standard
tags (``!!python/object``), duplicate keys, alias expansion past a cap ("billion laughs"),
nesting past a depth cap, and oversized files, all as located Findings rather than crashes.

Manifests stay plain data (shared/style.md): a mapping is a ``dict`` with string keys, a
sequence a ``list``; timestamps stay strings, as they would after ``kubectl``'s YAML→JSON step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import Finding

Path = tuple[str | int, ...]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")}


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a file: its data and where each field path starts."""

    file: str
    index: int
    line: int
    data: Any
    locations: dict[Path, tuple[int, int]]

    def locate(self, path: Path) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest located ancestor."""
        p = tuple(path)
        while p:
            loc = self.locations.get(p)
            if loc is not None:
                return loc
            p = p[:-1]
        return self.locations.get((), (self.line, 1))


class YamlError(Exception):
    """Raised with a located finding when a file cannot be read as safe YAML."""

    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


class _Builder:
    def __init__(self, file: str, max_alias_nodes: int, max_depth: int):
        self.file = file
        self.locations: dict[Path, tuple[int, int]] = {}
        self.seen: set[int] = set()
        self.alias_nodes = 0
        self.max_alias_nodes = max_alias_nodes
        self.max_depth = max_depth

    def fail(self, node: Node, path: Path, message: str) -> YamlError:
        mark = node.start_mark
        return YamlError(Finding(self.file, mark.line + 1, mark.column + 1, dotted(path), message))

    def build(self, node: Node, path: Path, in_alias: bool = False) -> Any:
        if len(path) > self.max_depth:
            raise self.fail(node, path, f"nesting deeper than {self.max_depth} levels is not accepted")
        if id(node) in self.seen and not isinstance(node, ScalarNode):
            in_alias = True
        if in_alias:
            self.alias_nodes += 1
            if self.alias_nodes > self.max_alias_nodes:
                raise self.fail(
                    node, path, f"YAML aliases expand past {self.max_alias_nodes} nodes; refusing (alias bomb?)"
                )
        else:
            self.seen.add(id(node))
        tag = _tag(node)
        if tag not in _ALLOWED_TAGS:
            raise self.fail(node, path, f"YAML tag {tag!r} is not allowed; only plain YAML data is accepted")
        if path not in self.locations:
            self.locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, path, in_alias)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), in_alias) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, tag, path)

    def _mapping(self, node: MappingNode, path: Path, in_alias: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for knode, vnode in node.value:
            if _tag(knode) == _STD + "merge" or (isinstance(knode, ScalarNode) and knode.value == "<<"):
                sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
                for src in sources:
                    value = self.build(src, path, True)
                    if not isinstance(value, dict):
                        raise self.fail(vnode, path, "a YAML merge key (<<) must refer to a mapping")
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(knode, ScalarNode):
                raise self.fail(knode, path, "mapping keys must be plain strings")
            key = self._scalar(knode, _tag(knode), path)
            key = _key_text(key)
            if key in out:
                raise self.fail(knode, (*path, key), f"duplicate key {key!r}")
            self.locations[(*path, key)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[key] = self.build(vnode, (*path, key), in_alias)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _scalar(self, node: ScalarNode, tag: str, path: Path) -> Any:
        text: str = node.value
        if node.style == ">":
            # ruamel's composer marks each fold of a folded scalar with BEL for its round-trip
            # emitter; the value YAML defines has none.
            text = text.replace("\a", "")
        kind = tag[len(_STD) :]
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            try:
                return _int(text)
            except ValueError:
                raise self.fail(node, path, f"{text!r} is not an integer") from None
        if kind == "float":
            try:
                return _float(text)
            except ValueError:
                raise self.fail(node, path, f"{text!r} is not a number") from None
        return text


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _int(text: str) -> int:
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    if t.startswith(("0x", "0X")):
        return sign * int(t[2:], 16)
    if t.startswith(("0o", "0O")):
        return sign * int(t[2:], 8)
    if t.startswith(("0b", "0B")):
        return sign * int(t[2:], 2)
    return sign * int(t, 10)


def _float(text: str) -> float:
    t = text.lower().replace("_", "")
    if t in (".inf", "+.inf"):
        return math.inf
    if t == "-.inf":
        return -math.inf
    if t == ".nan":
        return math.nan
    return float(t)


def dotted(path: Path) -> str:
    """``('spec', 'rules', 0, 'path')`` → ``spec.rules[0].path`` (kubectl's field-path style)."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out


def parse_documents(
    text: str | bytes,
    file: str,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_alias_nodes: int = MAX_ALIAS_NODES,
    max_depth: int = MAX_DEPTH,
) -> list[Document]:
    """Parse every document of one YAML stream; empty documents are dropped.

    Raises ``YamlError`` (one located finding) on anything that is not safe, plain YAML.
    """
    size = len(text)
    if size > max_bytes:
        raise YamlError(Finding(file, 0, 0, "", f"file is {size} bytes; the limit is {max_bytes}"))
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise YamlError(Finding(file, 0, 0, "", f"not UTF-8 text: {e}")) from e
    yaml = YAML(typ="rt")
    docs: list[Document] = []
    try:
        for index, node in enumerate(_compose(yaml, text)):
            if node is None:
                continue
            builder = _Builder(file, max_alias_nodes, max_depth)
            data = builder.build(node, ())
            if data is None:
                continue
            docs.append(Document(file, index, node.start_mark.line + 1, data, builder.locations))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        raise YamlError(Finding(file, line, col, "", f"invalid YAML: {e.problem or e.context}")) from e
    except YAMLError as e:
        raise YamlError(Finding(file, 0, 0, "", f"invalid YAML: {e}")) from e
    except RecursionError as e:
        raise YamlError(Finding(file, 0, 0, "", f"nesting deeper than {max_depth} levels is not accepted")) from e
    return docs


def _compose(yaml: YAML, text: str) -> Iterator[Node | None]:
    yield from yaml.compose_all(text)
