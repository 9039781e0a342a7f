"""Reading user YAML into typed values while collecting located findings.

Every kind's ``parse_*`` function walks its object through a ``Fields`` view. Each accessor
(``str``, ``int``, ``map``, ``list`` …) returns a typed value or a safe default and, on a bad
value, records a Finding at the value's file:line:col with the field path and what would be
valid — it never raises, so one pass reports every problem of a repo. ``done()`` reports every
key that no accessor read as an unknown field (``kubectl --validate=strict`` behaviour), with
a did-you-mean suggestion and the list of valid fields.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from reconciler.errors import Finding, Findings
from reconciler.load.yamldoc import Document, Path, dotted

T = TypeVar("T")

_MISSING: Any = object()

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# Builtin aliases: inside ``Fields`` the accessor methods ``str``/``int``/``list``/``bool``
# shadow the builtins in annotations.
Str = str
Int = int
Bool = bool
List = list


class Context:
    """Where findings go and how paths are located, shared by all views of one object."""

    __slots__ = ("base", "doc", "findings", "object")

    def __init__(self, doc: Document, findings: Findings, obj: str = "", base: Path = ()):
        self.doc = doc
        self.findings = findings
        self.object = obj
        self.base = base

    def error(self, path: Path, message: str, severity: str = "error") -> None:
        line, col = self.doc.locate((*self.base, *path))
        self.findings.add(Finding(self.doc.file, line, col, dotted(path), message, self.object, severity))


class Fields:
    """A view of one mapping in user YAML; accessors read a key and check its value."""

    __slots__ = ("_read", "ctx", "data", "path")

    def __init__(self, ctx: Context, path: Path, data: dict[Str, Any]):
        self.ctx = ctx
        self.path = path
        self.data = data
        self._read: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------
    def at(self, key: Str | Int) -> Path:
        return (*self.path, key)

    def error(self, key: Str | Int | None, message: Str) -> None:
        self.ctx.error(self.path if key is None else self.at(key), message)

    def has(self, key: Str) -> Bool:
        return key in self.data

    def raw(self, key: Str, default: Any = None) -> Any:
        """The value as written, unchecked (for free-form fields such as a JSON patch value)."""
        self._read.add(key)
        return self.data.get(key, default)

    def ignore(self, *keys: Str) -> None:
        """Accept these keys without reading them (e.g. hub-only fields fleetsync does not use)."""
        self._read.update(keys)

    def _get(self, key: Str, required: Bool, what: Str) -> Any:
        self._read.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.error(None if value is _MISSING else key, f"required field {key!r} ({what}) is missing")
            return _MISSING
        return value

    def _typed(self, key: Str, value: Any, ok: Bool, what: Str) -> Bool:
        if not ok:
            self.error(key, f"expected {what}, got {type_name(value)} {_short(value)}")
        return ok

    # -- scalars ----------------------------------------------------------------------------
    def str(
        self,
        key: Str,
        default: Str | None = None,
        *,
        required: Bool = False,
        enum: Iterable[Str] | None = None,
        pattern: re.Pattern[Str] | None = None,
        pattern_hint: Str = "",
        max_len: Int | None = None,
        min_len: Int | None = None,
    ) -> Str | None:
        value = self._get(key, required, "string")
        if value is _MISSING:
            return default
        if not self._typed(key, value, isinstance(value, Str), "a string"):
            return default
        assert isinstance(value, Str)
        if enum is not None:
            allowed = list(enum)
            if value not in allowed:
                self.error(
                    key, f"unsupported value {value!r}: supported values: {', '.join(map(repr, allowed))}"
                )
                return default
        if max_len is not None and len(value) > max_len:
            self.error(key, f"must be no more than {max_len} characters, got {len(value)}")
        if min_len is not None and len(value) < min_len:
            self.error(key, f"must be at least {min_len} characters")
        if pattern is not None and not pattern.match(value):
            self.error(key, f"{value!r} does not match {pattern_hint or pattern.pattern}")
        return value

    def int(
        self,
        key: Str,
        default: Int | None = None,
        *,
        required: Bool = False,
        minimum: Int | None = None,
        maximum: Int | None = None,
    ) -> Int | None:
        value = self._get(key, required, "integer")
        if value is _MISSING:
            return default
        if not self._typed(key, value, isinstance(value, Int) and not isinstance(value, Bool), "an integer"):
            return default
        assert isinstance(value, Int)
        if minimum is not None and value < minimum:
            self.error(key, f"must be greater than or equal to {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.error(key, f"must be less than or equal to {maximum}, got {value}")
            return default
        return value

    def bool(self, key: Str, default: Bool = False) -> Bool:
        value = self._get(key, False, "boolean")
        if value is _MISSING:
            return default
        if not self._typed(key, value, isinstance(value, Bool), "a boolean (true or false)"):
            return default
        return bool(value)

    def int_or_str(
        self,
        key: Str,
        default: Int | Str | None = None,
        *,
        required: Bool = False,
        pattern: re.Pattern[Str] | None = None,
        pattern_hint: Str = "",
        minimum: Int | None = None,
    ) -> Int | Str | None:
        """A Kubernetes IntOrString: an integer, or a string matching ``pattern``."""
        value = self._get(key, required, "integer or string")
        if value is _MISSING:
            return default
        if isinstance(value, Bool) or not isinstance(value, Int | Str):
            self.error(key, f"expected an integer or a string, got {type_name(value)} {_short(value)}")
            return default
        if isinstance(value, Int):
            if minimum is not None and value < minimum:
                self.error(key, f"must be greater than or equal to {minimum}, got {value}")
                return default
            return value
        if pattern is not None and not pattern.match(value):
            self.error(key, f"{value!r} is not valid: must be {pattern_hint or pattern.pattern}")
            return default
        return value

    # -- structure --------------------------------------------------------------------------
    def map(self, key: Str, *, required: Bool = False) -> Fields | None:
        """A nested object, or None when absent (absent and ``{}`` differ in KubeFleet)."""
        value = self._get(key, required, "object")
        if value is _MISSING:
            return None
        if not self._typed(key, value, isinstance(value, dict), "an object"):
            return None
        return Fields(self.ctx, self.at(key), value)

    def list(
        self,
        key: Str,
        *,
        required: Bool = False,
        min_items: Int | None = None,
        max_items: Int | None = None,
    ) -> List[Item] | None:
        """A list, as items that can each be read as an object or a scalar; None when absent."""
        value = self._get(key, required, "array")
        if value is _MISSING:
            if required and min_items:
                return []
            return None
        if not self._typed(key, value, isinstance(value, List), "an array"):
            return None
        assert isinstance(value, List)
        if min_items is not None and len(value) < min_items:
            self.error(key, f"must have at least {min_items} item(s), got {len(value)}")
        if max_items is not None and len(value) > max_items:
            self.error(key, f"must have at most {max_items} items, got {len(value)}")
        return [Item(self.ctx, self.at(key), i, v) for i, v in enumerate(value)]

    def objects(self, key: Str, **kw: Any) -> Iterator[Fields]:
        """Each item of a list of objects (non-object items are reported and skipped)."""
        for item in self.list(key, **kw) or []:
            f = item.fields()
            if f is not None:
                yield f

    def str_list(self, key: Str, *, max_items: Int | None = None) -> List[Str]:
        out: List[Str] = []
        for item in self.list(key, max_items=max_items) or []:
            s = item.str()
            if s is not None:
                out.append(s)
        return out

    def str_map(self, key: Str) -> dict[Str, Str]:
        """A map of string to string (labels, annotations, matchLabels)."""
        value = self._get(key, False, "map of strings")
        if value is _MISSING:
            return {}
        if not self._typed(key, value, isinstance(value, dict), "a map of string to string"):
            return {}
        out: dict[Str, Str] = {}
        for k, v in value.items():
            if not isinstance(v, Str):
                self.ctx.error(
                    (*self.at(key), k),
                    f"expected a string value, got {type_name(v)} {_short(v)} (quote it in YAML)",
                )
                continue
            out[k] = v
        return out

    def done(self) -> None:
        """Report every key no accessor read: unknown fields are errors, as kubectl --validate=strict."""
        for key in self.data:
            if key in self._read:
                continue
            valid = sorted(self._read)
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            where = dotted(self.at(key))
            self.ctx.error(
                self.at(key),
                f'unknown field "{where}"{hint} (valid fields here: {", ".join(valid) or "none"})',
            )


class Item:
    """One element of a YAML list."""

    __slots__ = ("ctx", "index", "path", "value")

    def __init__(self, ctx: Context, parent: Path, index: Int, value: Any):
        self.ctx = ctx
        self.path: Path = (*parent, index)
        self.index = index
        self.value = value

    def error(self, message: Str) -> None:
        self.ctx.error(self.path, message)

    def fields(self) -> Fields | None:
        if not isinstance(self.value, dict):
            self.error(f"expected an object, got {type_name(self.value)} {_short(self.value)}")
            return None
        return Fields(self.ctx, self.path, self.value)

    def str(self) -> Str | None:
        if not isinstance(self.value, Str):
            self.error(f"expected a string, got {type_name(self.value)} {_short(self.value)}")
            return None
        return self.value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_label_key(key: str) -> str | None:
    """Why ``key`` is not a valid label/annotation key, or None (k8s qualified-name rules)."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return "a qualified name has at most one '/'"
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"prefix {prefix!r} must be a DNS subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            "name part must be 63 characters or less, alphanumeric, '-', '_' or '.', "
            "starting and ending with an alphanumeric character"
        )
    return None


def check_label_value(value: str) -> str | None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        return (
            "a label value must be 63 characters or less, empty or alphanumeric with '-', '_' or '.' "
            "inside, starting and ending with an alphanumeric character"
        )
    return None


def check_dns_label(value: str, max_len: int = 63) -> str | None:
    if len(value) > max_len:
        return f"must be no more than {max_len} characters"
    if not DNS1123_LABEL.match(value):
        return (
            "must be a lowercase RFC 1123 label: a-z, 0-9 and '-', starting and ending with an alphanumeric"
        )
    return None


def check_dns_subdomain(value: str, max_len: int = 253) -> str | None:
    if len(value) > max_len:
        return f"must be no more than {max_len} characters"
    if not DNS1123_SUBDOMAIN.match(value):
        return (
            "must be a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', "
            "starting and ending with an alphanumeric"
        )
    return None


def each(items: list[Item] | None, fn: Callable[[Item], T | None]) -> list[T]:
    """Map ``fn`` over list items, dropping the ones it rejected (returned None for)."""
    out: list[T] = []
    for item in items or []:
        value = fn(item)
        if value is not None:
            out.append(value)
    return out
