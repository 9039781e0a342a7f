"""What the fleet-object parsing tests share: one document through the registry, and the
``#!`` convention by which an invalid case marks the line its finding must point at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.api.registry import parse_fleet_object
from reconciler.errors import Finding, Findings
from reconciler.load.yamldoc import parse_documents


def parse_one(text: str, file: str) -> tuple[Any, list[Finding]]:
    """The first document of ``text`` (read as ``file``) parsed by its apiVersion and kind: (model, every finding)."""
    doc = parse_documents(text, file)[0]
    group, _, version = doc.data["apiVersion"].rpartition("/")
    findings = Findings()
    return parse_fleet_object(doc, group, version, doc.data["kind"], findings), findings.items


def marked_line(text: str) -> int:
    """The 1-based number of the line that carries the ``#!`` mark."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if "#!" in line)


def finding_at(findings: Sequence[Finding], field: str, fragment: str) -> Finding:
    """The first finding at ``field`` whose message contains ``fragment``; fails listing them all if none does."""
    matching = [f for f in findings if f.field == field and fragment in f.message]
    assert matching, f"no finding at {field} containing {fragment!r}; got: " + "; ".join(map(str, findings))
    return matching[0]
