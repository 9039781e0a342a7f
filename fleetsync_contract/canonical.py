"""Canonical YAML: the same data is always the same bytes, and therefore the same git blob.

Hub and agent both hash files, so the writer must be deterministic and the reader must not
reinterpret what the writer meant. The writer is our own small emitter for plain data (dicts
with string keys, lists, str/int/float/bool/None): sorted keys, block style, indentless lists
under a key (PyYAML's and kubectl's layout), no anchors, no line folding. It is ~10x faster than
PyYAML's Python representer, which matters when a reconcile renders 200,000 objects.

Quoting is conservative: a string is written plain only when it uses a small safe alphabet,
starts with a letter, digit, ``_`` or ``/``, is not a YAML 1.1 or 1.2 keyword (``on``, ``yes``,
``n``, ``null``, ``true`` …) and, when it starts with a digit, is neither a YAML 1.1 value
(PyYAML's resolver: ints, floats, sexagesimals, timestamps) nor a YAML 1.2 number; anything else is double-quoted with JSON escapes (valid YAML), so no
reader — PyYAML, Go's yaml.v2/v3, ruamel — can take ``on`` for a boolean or ``1:20`` for a
number. Multi-line strings use the literal style (``|`` / ``|-``) when that round-trips exactly,
so that ``git log -p`` on a bundle branch shows readable diffs.

Content hashes of plain data (``json_sha256``) are taken of one canonical JSON text instead of
the YAML: it is what the hub's resource snapshots and the agent's spec-hash annotations have
always hashed, and both are persisted, so the text is fixed here once for both sides.

The reader is PyYAML's safe loader, refusing aliases (a tampered file cannot expand into a
"billion laughs") and keeping timestamps as strings, so it returns plain JSON-like data. It runs
on libyaml (``CSafeLoader``) when PyYAML has it, as the agent reads every bundle file on every
sync; the pure-Python loader, same resolver and constructors, is the fallback.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml  # type: ignore[import-untyped]

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024

_PLAIN = re.compile(r"^[A-Za-z_/0-9][A-Za-z0-9_./:@=+,() -]*\Z")  # \Z: "$" would let "x\n" through
# YAML 1.2 core-schema numbers (a YAML 1.2 reader would not read these as strings).
_YAML12_NUMBER = re.compile(
    r"^([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+)\Z"
)
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
_KEYWORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_LITERAL_BAD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _quoted(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_STR_CACHE: dict[str, str] = {}
_STR_CACHE_MAX = 200_000


def _str(value: str) -> str:
    """The scalar text of a string; memoised because manifests repeat keys and values a lot."""
    text = _STR_CACHE.get(value)
    if text is None:
        text = value if _plain_ok(value) else _quoted(value)
        if len(_STR_CACHE) >= _STR_CACHE_MAX:
            _STR_CACHE.clear()
        _STR_CACHE[value] = text
    return text


def _plain_ok(value: str) -> bool:
    if not _PLAIN.match(value) or value.lower() in _KEYWORDS:
        return False
    if value.endswith((":", " ")) or ": " in value:
        return False
    if value[0].isdigit():  # 128Mi and 1.2.0 are strings; 0x1F, 1:20, 1e3, 2026-01-01 are not
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
        return not _YAML12_NUMBER.match(value) and tag == _STR_TAG
    return True


def _scalar(value: Any) -> str:
    if type(value) is str:
        return _str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text:  # 1e-05 -> 1.0e-05: YAML 1.1 floats need a dot
            mantissa, _, exp = text.partition("e")
            text = f"{mantissa}.0e{exp}" if exp else f"{text}.0"
        return text
    if isinstance(value, str):
        return _str(str(value))
    raise TypeError(f"cannot write {type(value).__name__} as canonical YAML")


def _literal(s: str, indent: int) -> str | None:
    """`` |`` / ``|-`` block text (header and lines) when it round-trips exactly, else None."""
    if s[0] in " \n" or s.endswith("\n\n") or _LITERAL_BAD.search(s):
        return None
    body = s[:-1] if s.endswith("\n") else s
    lines = body.split("\n")
    if any(line.endswith(" ") for line in lines):
        return None
    pad = " " * indent
    header = "|" if s.endswith("\n") else "|-"
    return header + "\n" + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


def _key(k: Any) -> str:
    if type(k) is not str:
        raise TypeError(f"mapping keys must be strings, got {type(k).__name__}")
    return _str(k)


def _is_map(v: Any) -> bool:
    t = type(v)
    return t is dict or (t is not list and t is not str and isinstance(v, Mapping))


def _is_seq(v: Any) -> bool:
    t = type(v)
    return t is list or t is tuple


def _mapping(m: Mapping[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for k in sorted(m):
        v = m[k]
        key = _key(k)
        t = type(v)
        if t is str and "\n" not in v:
            out.append(f"{pad}{key}: {_str(v)}\n")
        elif _is_map(v) and v:
            out.append(f"{pad}{key}:\n")
            _mapping(v, indent + 2, out)
        elif _is_seq(v) and v:
            out.append(f"{pad}{key}:\n")
            _sequence(v, indent, out)
        else:
            out.append(f"{pad}{key}: {_inline(v, indent + 2)}")


def _sequence(items: list[Any] | tuple[Any, ...], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for v in items:
        if (_is_map(v) or _is_seq(v)) and v:
            start = len(out)
            if _is_map(v):
                _mapping(v, indent + 2, out)
            else:
                _sequence(v, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2 :]}"
        else:
            out.append(f"{pad}- {_inline(v, indent + 2)}")


def _inline(v: Any, indent: int) -> str:
    """A value written after ``key: `` or ``- `` (ending with its newline)."""
    if _is_map(v):
        return "{}\n"
    if _is_seq(v):
        return "[]\n"
    if type(v) is str and "\n" in v:
        block = _literal(v, indent)
        if block is not None:
            return block
    return _scalar(v) + "\n"


def dump(data: Any) -> bytes:
    """Canonical YAML bytes of plain data (dicts with string keys, lists, scalars)."""
    out: list[str] = []
    if _is_map(data) and data:
        _mapping(data, 0, out)
    elif _is_seq(data) and data:
        _sequence(data, 0, out)
    else:
        out.append(_inline(data, 2))
    return "".join(out).encode("utf-8")


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe, alias-free, timestamps-as-strings (the pure-Python reader: PyYAML without libyaml)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, _NO_ALIASES)
        return super().compose_node(parent, index)


def _construct_timestamp_as_str(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)


_NO_ALIASES = "aliases are not allowed in fleetsync files"
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)
_LIBYAML: bool = bool(yaml.__with_libyaml__)

if _LIBYAML:

    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc]
        """The same safe loader on libyaml (~5x faster); aliases are refused by ``_refuse_aliases``."""

    _CLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)


def _refuse_aliases(root: Any) -> None:
    """An alias makes libyaml's composer reuse a node object: refuse any node reached twice."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise yaml.composer.ComposerError(None, None, _NO_ALIASES)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _read(text: str, libyaml: bool) -> Any:
    if not libyaml:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    loader = _CLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" in text:  # no anchor, no alias (an alias to an undefined anchor is an error)
            _refuse_aliases(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


class CanonicalError(ValueError):
    """A file is not readable as fleetsync YAML (too large, not UTF-8, invalid, aliased)."""


def load(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse one YAML document written by ``dump`` (or any plain, alias-free YAML)."""
    if len(data) > max_bytes:
        raise CanonicalError(f"{len(data)} bytes; the limit is {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CanonicalError(f"not UTF-8: {e}") from e
    try:
        return _read(text, _LIBYAML)
    except yaml.YAMLError as e:
        raise CanonicalError(f"invalid YAML: {e}") from e
    except RecursionError as e:  # the pure reader on absurd nesting; libyaml stops at 1000 levels
        raise CanonicalError("invalid YAML: nested too deeply") from e


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(data: Any) -> str:
    """Plain data as the one JSON text that content hashes are taken of: sorted keys, no spaces,
    non-ASCII characters as themselves. Strict: a value JSON cannot hold is a TypeError."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_sha256(data: Any) -> str:
    """The content hash of plain data (a resource snapshot, a hub manifest): sha256 hex of
    ``canonical_json``. Its values are persisted (snapshot hashes in ``fleet/status``, the
    spec-hash annotation on member objects), so this text must never change."""
    return sha256_hex(canonical_json(data).encode())
