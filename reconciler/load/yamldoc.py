"""YAML text → plain data plus a map of where every field came from.

We compose YAML into a node graph and build plain ``dict``/``list``/scalars ourselves instead of
letting a constructor do it. Owning that walk (``_Builder``) is what lets us (1) remember the line
and column of every key and value, so errors can name ``file:line:col`` and a field path; (2)
refuse hostile input deterministically: non-standard tags (``!!python/object``), duplicate keys,
alias expansion past a cap ("billion laughs"), nesting past a depth cap, and oversized files, all
as located Findings rather than crashes.

Composition is libyaml's (PyYAML's C parser), ~20x faster than ruamel.yaml's pure-Python
composer, which matters for a 10,000-object fleet repo. libyaml's PyYAML binding resolves plain
scalars by YAML 1.1 (``on`` is a bool, ``0777`` octal, ``1:20`` sexagesimal), so we ask it for no
resolution at all and resolve plain scalars ourselves with the YAML 1.2 rules ruamel.yaml uses
(``_IMPLICIT``); explicit tags pass through and are checked against the allow-list. ruamel.yaml
remains the reference: when libyaml refuses a file (a syntax error, or something only libyaml
refuses, such as a re-defined anchor) the file is composed again with ruamel, so a broken file is
reported exactly as before and a file ruamel accepts still loads; and ruamel is the composer when
PyYAML was built without libyaml. Either way the same ``_Builder`` makes the data.

Manifests stay plain data (shared/style.md): a mapping is a ``dict`` with string keys, a
sequence a ``list``; timestamps stay strings, as they would after ``kubectl``'s YAML→JSON step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.errors import Finding, ValidationError

Path = tuple[str | int, ...]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    _STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
}


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


class YamlError(ValidationError):
    """Raised with a located finding when a file cannot be read as safe YAML."""

    def __init__(self, finding: Finding):
        super().__init__([finding])
        self.finding = finding


# The tag our libyaml composer gives a plain scalar that has no explicit tag: "resolve me".
_PLAIN = " plain"  # a space: no explicit tag can be spelt like this

# YAML 1.2 resolution of plain scalars as ruamel.yaml does it (its VersionedResolver for 1.2):
# candidates by first character, tried in order. Beyond the strict core schema it keeps ``_``
# digit separators, ``0o``/``0b`` prefixes and maps ``<<`` to merge, as the loader always did.
# YAML 1.1's ``yes``/``on`` and sexagesimal ``1:20`` are not here, so they stay strings, and
# ``0777`` is decimal 777; ``=`` (ruamel's YAML 1.1 "value" tag) is a string too (see ``_tag``).
_BOOL = (_STD + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
_FLOAT = (
    _STD + "float",
    re.compile(
        r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN))$"
    ),
)
_INT = (_STD + "int", re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$"))
_NULL = (_STD + "null", re.compile(r"^(?:~|null|Null|NULL|)$"))
_TIMESTAMP = (
    _STD + "timestamp",
    re.compile(
        r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}"
        r"|[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9]{2})?))?)$"
    ),
)
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    **dict.fromkeys("tTfF", (_BOOL,)),
    **dict.fromkeys("-+", (_FLOAT, _INT)),
    ".": (_FLOAT,),
    **dict.fromkeys("0123456789", (_FLOAT, _INT, _TIMESTAMP)),
    "<": ((_STD + "merge", re.compile(r"^(?:<<)$")),),
    **dict.fromkeys(("~", "n", "N", ""), (_NULL,)),
}


# Texts that libyaml (YAML 1.1) and ruamel (YAML 1.2) read differently although both accept them
# go to ruamel, so that the reading never depends on which composer ran: NEL, LS and PS are line
# breaks only to libyaml; a BOM inside the stream; ``%YAML``/``%TAG`` directives (ruamel switches
# to the YAML version named); an anchor or alias name followed by one of ``?:%@` `` (a YAML 1.2
# name runs on through them: ``&a: x`` anchors ``x`` as ``a:``, to libyaml it is a null key).
_VALUE = _STD + "value"
_RUAMEL_ONLY_CHARS = ("\x85", "\u2028", "\u2029", "\ufeff")
_LONG_ANCHOR = re.compile(r"[&*][A-Za-z0-9_-]+[?:%@`]")


def _libyaml_reads_it_alike(text: str) -> bool:
    if any(ch in text for ch in _RUAMEL_ONLY_CHARS):
        return False
    if text.startswith("%") or "\n%" in text or "\r%" in text:
        return False
    return not (("&" in text or "*" in text) and _LONG_ANCHOR.search(text))


def _resolve_plain(value: str) -> str:
    for tag, regex in _IMPLICIT.get(value[:1], ()):
        if regex.match(value):
            return tag
    return _STD + "str"


def _tag(node: Any) -> str:
    tag = node.tag
    if tag == _PLAIN:
        return _resolve_plain(node.value)
    text = str(getattr(tag, "value", tag))  # ruamel's Tag object, or PyYAML's str
    if text == _VALUE and node.value == "=":
        return _STD + "str"  # ruamel resolves a plain ``=`` to YAML 1.1's "value"; it is just text
    return text


class _LibyamlComposer(yaml.CSafeLoader if yaml.__with_libyaml__ else object):  # type: ignore[misc]
    """PyYAML's C composer with resolution left to us: only its node graph and marks are used."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STD + "str"
        return _STD + ("seq" if kind is yaml.SequenceNode else "map")


# Plain scalar text → (tag, value, text as a key). Manifests repeat the same keys and values
# thousands of times; resolving each once pays. Values are immutable; failures are not kept.
_PLAIN_MEMO: dict[str, tuple[str, Any, str]] = {}
_PLAIN_MEMO_MAX = 100_000
_MERGE = _STD + "merge"


class _Builder:
    """Nodes (PyYAML's or ruamel's: both have ``id``, ``tag``, ``value``, ``style``, marks) → data.

    Plain untagged scalars (libyaml's ``_PLAIN``) take a fast path through ``_plain``; every other
    node goes through ``build``, which owns the alias, depth and tag checks.
    """

    def __init__(self, file: str, max_alias_nodes: int, max_depth: int):
        self.file = file
        self.locations: dict[Path, tuple[int, int]] = {}
        self.seen: set[int] = set()  # collection nodes met outside an alias
        self.alias_nodes = 0
        self.max_alias_nodes = max_alias_nodes
        self.max_depth = max_depth

    def fail(self, node: Any, path: Path, message: str) -> YamlError:
        mark = node.start_mark
        return YamlError(Finding(self.file, mark.line + 1, mark.column + 1, dotted(path), message))

    def build(self, node: Any, path: Path, in_alias: bool = False) -> Any:
        if len(path) > self.max_depth:
            raise self.fail(node, path, f"nesting deeper than {self.max_depth} levels is not accepted")
        kind = node.id  # "scalar", "sequence" or "mapping"
        if kind != "scalar" and not in_alias:
            if id(node) in self.seen:
                in_alias = True
            else:
                self.seen.add(id(node))
        if in_alias:
            self.alias_nodes += 1
            if self.alias_nodes > self.max_alias_nodes:
                raise self.fail(
                    node,
                    path,
                    f"YAML aliases expand past {self.max_alias_nodes} nodes; refusing (alias bomb?)",
                )
        if path not in self.locations:
            self.locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if kind == "scalar" and node.tag == _PLAIN:
            return self._plain(node, path)[1]
        tag = _tag(node)
        if tag not in _ALLOWED_TAGS:
            raise self.fail(node, path, f"YAML tag {tag!r} is not allowed; only plain YAML data is accepted")
        if kind == "mapping":
            return self._mapping(node, path, in_alias)
        if kind == "sequence":
            return [self.build(item, (*path, i), in_alias) for i, item in enumerate(node.value)]
        return self._scalar(node, tag, path)

    def _value(self, node: Any, path: Path, in_alias: bool) -> Any:
        """``build`` for a mapping value (its key located it), skipping it for a plain scalar."""
        if not in_alias and node.tag == _PLAIN and len(path) <= self.max_depth:
            return self._plain(node, path)[1]
        return self.build(node, path, in_alias)

    def _mapping(self, node: Any, path: Path, in_alias: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        locations = self.locations
        for knode, vnode in node.value:
            key: str | None = None
            if knode.tag == _PLAIN:
                ktag, _, key = self._plain(knode, path)
            else:
                ktag = _tag(knode)
            if ktag == _MERGE or (knode.id == "scalar" and knode.value == "<<"):
                sources = vnode.value if vnode.id == "sequence" else [vnode]
                for src in sources:
                    value = self.build(src, path, True)
                    if not isinstance(value, dict):
                        raise self.fail(vnode, path, "a YAML merge key (<<) must refer to a mapping")
                    for k, v in value.items():
                        merged.setdefault(k, v)
                continue
            if knode.id != "scalar":
                raise self.fail(knode, path, "mapping keys must be plain strings")
            if key is None:
                if ktag not in _ALLOWED_TAGS:
                    raise self.fail(
                        knode, path, f"YAML tag {ktag!r} is not allowed; only plain YAML data is accepted"
                    )
                key = _key_text(self._scalar(knode, ktag, path))
            kpath = (*path, key)
            if key in out:
                raise self.fail(knode, kpath, f"duplicate key {key!r}")
            mark = knode.start_mark
            locations[kpath] = (mark.line + 1, mark.column + 1)
            out[key] = self._value(vnode, kpath, in_alias)
        for k, v in merged.items():
            out.setdefault(k, v)
        return out

    def _plain(self, node: Any, path: Path) -> tuple[str, Any, str]:
        """(tag, value, key text) of a plain untagged scalar, by YAML 1.2 resolution."""
        text: str = node.value
        hit = _PLAIN_MEMO.get(text)
        if hit is None:
            tag = _resolve_plain(text)
            value = self._scalar(node, tag, path)
            hit = (tag, value, _key_text(value))
            if len(_PLAIN_MEMO) >= _PLAIN_MEMO_MAX:
                _PLAIN_MEMO.clear()
            _PLAIN_MEMO[text] = hit
        return hit

    def _scalar(self, node: Any, tag: str, path: Path) -> Any:
        text: str = node.value
        if node.style == ">":
            # ruamel's composer marks each fold of a folded scalar with BEL for its round-trip
            # emitter; the value YAML defines has none (libyaml's has none to remove).
            text = text.replace("\a", "")
        kind = tag[len(_STD) :]
        if kind == "null":
            return None
        if kind == "bool":  # YAML 1.1's yes/on/y only under a %YAML 1.1 directive or an explicit !!bool
            return text.lower() in ("true", "yes", "on", "y")
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
    try:
        if yaml.__with_libyaml__ and _libyaml_reads_it_alike(text):
            try:
                return _build_all(
                    yaml.compose_all(text, Loader=_LibyamlComposer), file, max_alias_nodes, max_depth
                )
            except (yaml.YAMLError, UnicodeEncodeError):  # the latter: a str with a lone surrogate
                pass  # the reference composer below reports it as it always did, or accepts it
        return _ruamel_documents(text, file, max_alias_nodes, max_depth)
    except RecursionError as e:
        raise YamlError(
            Finding(file, 0, 0, "", f"nesting deeper than {max_depth} levels is not accepted")
        ) from e


def _build_all(nodes: Iterable[Any], file: str, max_alias_nodes: int, max_depth: int) -> list[Document]:
    docs: list[Document] = []
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(file, max_alias_nodes, max_depth)
        data = builder.build(node, ())
        if data is None:
            continue
        docs.append(Document(file, index, node.start_mark.line + 1, data, builder.locations))
    return docs


def _ruamel_documents(text: str, file: str, max_alias_nodes: int, max_depth: int) -> list[Document]:
    compose: Callable[[str], Iterable[Any]] = YAML(typ="rt").compose_all
    try:
        return _build_all(compose(text), file, max_alias_nodes, max_depth)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        raise YamlError(Finding(file, line, col, "", f"invalid YAML: {e.problem or e.context}")) from e
    except YAMLError as e:
        raise YamlError(Finding(file, 0, 0, "", f"invalid YAML: {e}")) from e
