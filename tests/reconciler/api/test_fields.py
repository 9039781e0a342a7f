"""The Fields reader: typed access that reports every bad value at its location."""

from __future__ import annotations

import re

from reconciler.api.fields import Context, Fields
from reconciler.errors import Findings
from reconciler.load.yamldoc import parse_documents


def _fields(text: str) -> tuple[Fields, Findings]:
    doc = parse_documents(text, "obj.yaml")[0]
    findings = Findings()
    return Fields(Context(doc, findings, "Kind/x"), (), doc.data), findings


def test_unknown_fields_are_errors_with_a_suggestion_and_the_valid_fields() -> None:
    f, findings = _fields("name: a\nnmae: b\n")
    f.str("name")
    f.done()
    [finding] = findings.items
    assert (finding.line, finding.field) == (2, "nmae")
    assert 'did you mean "name"' in finding.message
    assert "valid fields here: name" in finding.message


def test_a_wrong_type_names_the_expected_type_and_what_was_given() -> None:
    f, findings = _fields("spec:\n  count: three\n")
    spec = f.map("spec")
    assert spec is not None
    assert spec.int("count", 1) == 1
    [finding] = findings.items
    assert finding.field == "spec.count"
    assert finding.line == 2
    assert "expected an integer, got string 'three'" in finding.message


def test_enum_errors_list_the_supported_values() -> None:
    f, findings = _fields("type: Sometimes\n")
    assert f.str("type", "Always", enum=("Always", "Never")) == "Always"
    assert "supported values: 'Always', 'Never'" in findings.items[0].message


def test_required_fields_are_reported_at_their_parent() -> None:
    f, findings = _fields("spec:\n  other: 1\n")
    spec = f.map("spec")
    assert spec is not None
    spec.str("name", required=True)
    [finding] = findings.items
    assert (finding.line, finding.field) == (1, "spec")
    assert "required field 'name'" in finding.message


def test_int_or_string_checks_the_string_pattern_and_integer_minimum() -> None:
    f, findings = _fields("a: 25%\nb: 250%\nc: -1\n")
    pct = re.compile(r"^((100|[0-9]{1,2})%|[0-9]+)$")
    assert f.int_or_str("a", pattern=pct) == "25%"
    assert f.int_or_str("b", pattern=pct) is None
    assert f.int_or_str("c", pattern=pct, minimum=0) is None
    assert [x.field for x in findings.items] == ["b", "c"]


def test_list_bounds_and_item_types_are_checked() -> None:
    f, findings = _fields("names: [a, 2, c]\n")
    assert f.str_list("names", max_items=2) == ["a", "c"]
    assert [x.field for x in findings.items] == ["names", "names[1]"]


def test_label_maps_need_string_values() -> None:
    f, findings = _fields("labels:\n  tier: 1\n  app: web\n")
    assert f.str_map("labels") == {"app": "web"}
    assert findings.items[0].field == "labels.tier"
    assert "quote it" in findings.items[0].message


def test_absent_and_empty_objects_differ() -> None:
    f, _ = _fields("empty: {}\n")
    assert f.map("missing") is None
    empty = f.map("empty")
    assert empty is not None and empty.data == {}
