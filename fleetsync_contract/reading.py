"""Typed, bounded reading of the report-side files, with errors that name the file and field.

``FieldReader`` wraps one parsed mapping; each accessor checks the type and raises
``ReportFormatError`` with ``<file>: <field path>: <what was expected>`` so a hub operator can find
a bad report without reading code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION
from fleetsync_contract.canonical import CanonicalError, load

MAX_FILE_BYTES = 8 * 1024 * 1024


class ReportFormatError(ValueError):
    """A report, drift or heartbeat file does not follow docs/formats.md."""


def load_document(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = load(data, max_bytes=MAX_FILE_BYTES)
    except CanonicalError as e:
        raise ReportFormatError(f"{what}: {e}") from e
    if not isinstance(doc, dict):
        raise ReportFormatError(f"{what}: expected a mapping at the top")
    return doc


class FieldReader:
    """Typed field access that names the file and field on error."""

    def __init__(self, what: str, doc: Any, path: str = ""):
        if not isinstance(doc, dict):
            raise ReportFormatError(f"{what}: {path or 'document'}: expected a mapping")
        self.what, self.doc, self.path = what, doc, path

    def _where(self, key: str) -> str:
        return f"{self.what}: {self.path}.{key}" if self.path else f"{self.what}: {key}"

    def text(self, key: str, default: str | None = "") -> str:
        v = self.doc.get(key, default)
        if v is None and default is not None:
            return default
        if not isinstance(v, str):
            raise ReportFormatError(f"{self._where(key)}: expected a string")
        return v

    def opt_str(self, key: str) -> str | None:
        v = self.doc.get(key)
        if v is not None and not isinstance(v, str):
            raise ReportFormatError(f"{self._where(key)}: expected a string")
        return v

    def flag(self, key: str, default: bool) -> bool:
        v = self.doc.get(key, default)
        if not isinstance(v, bool):
            raise ReportFormatError(f"{self._where(key)}: expected true or false")
        return v

    def number(self, key: str, default: int | None = None) -> int | None:
        v = self.doc.get(key, default)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ReportFormatError(f"{self._where(key)}: expected an integer")
        return v

    def sub(self, key: str) -> FieldReader:
        return FieldReader(self.what, self.doc.get(key) or {}, f"{self.path}.{key}" if self.path else key)

    def items(self, key: str) -> list[FieldReader]:
        v = self.doc.get(key) or []
        if not isinstance(v, list):
            raise ReportFormatError(f"{self._where(key)}: expected a list")
        base = f"{self.path}.{key}" if self.path else key
        return [FieldReader(self.what, item, f"{base}[{i}]") for i, item in enumerate(v)]

    def str_map(self, key: str) -> dict[str, str]:
        v = self.doc.get(key) or {}
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise ReportFormatError(f"{self._where(key)}: expected a map of strings")
        return {str(k): x for k, x in v.items()}

    def enum(self, key: str, cls: type[StrEnum]) -> Any:
        value = self.text(key)
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ReportFormatError(f"{self._where(key)}: {value!r} is not one of {valid}") from None

    def header(self, kind: str) -> None:
        if self.doc.get("apiVersion") != CONTRACT_API_VERSION or self.doc.get("kind") != kind:
            raise ReportFormatError(f"{self.what}: expected apiVersion {CONTRACT_API_VERSION}, kind {kind}")
