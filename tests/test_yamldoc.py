"""Reading YAML safely, with every value located (file, line, column, field path)."""

from __future__ import annotations

import pytest

from reconciler.yamldoc import YamlError, dotted, parse_documents


def test_every_key_is_located_by_line_and_column() -> None:
    docs = parse_documents("a: 1\nspec:\n  policy:\n    numberOfClusters: 3\n", "f.yaml")
    assert docs[0].locate(("spec", "policy", "numberOfClusters")) == (4, 5)


def test_a_missing_path_is_located_at_its_nearest_ancestor() -> None:
    docs = parse_documents("spec:\n  policy: {}\n", "f.yaml")
    assert docs[0].locate(("spec", "policy", "affinity", "x")) == (2, 3)


def test_multi_document_files_keep_each_documents_first_line() -> None:
    docs = parse_documents("a: 1\n---\n---\nb: 2\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert [d.line for d in docs] == [1, 4]


def test_scalars_resolve_as_yaml_1_2_core_and_timestamps_stay_text() -> None:
    docs = parse_documents("a: yes\nb: true\nc: 0x10\nd: 2024-01-01\ne: ~\nf: 1.5\n", "f.yaml")
    assert docs[0].data == {"a": "yes", "b": True, "c": 16, "d": "2024-01-01", "e": None, "f": 1.5}


def test_merge_keys_are_expanded_and_local_keys_win() -> None:
    docs = parse_documents("base: &b {x: 1, y: 2}\nobj:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert docs[0].data["obj"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: !!python/object:os.system x\n", 1, "YAML tag"),
        ("a: !custom 1\n", 1, "YAML tag"),
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a'"),
        ("a: [\n", 2, "invalid YAML"),
    ],
)
def test_unsafe_or_broken_yaml_is_refused_with_its_location(text: str, line: int, message: str) -> None:
    with pytest.raises(YamlError) as err:
        parse_documents(text, "bad.yaml")
    assert err.value.finding.file == "bad.yaml"
    assert err.value.finding.line == line
    assert message in err.value.finding.message


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*l{i - 1}"
        lines.append(f"l{i}: &l{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(YamlError) as err:
        parse_documents("\n".join(lines) + "\n", "bomb.yaml")
    assert "aliases expand past" in err.value.finding.message


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(YamlError) as err:
        parse_documents("a: " + "[" * 200 + "]" * 200 + "\n", "deep.yaml")
    assert "nesting deeper than" in err.value.finding.message


def test_oversized_files_are_refused_before_parsing() -> None:
    with pytest.raises(YamlError) as err:
        parse_documents("a: " + "x" * 100 + "\n", "big.yaml", max_bytes=50)
    assert "limit is 50" in err.value.finding.message


def test_non_utf8_bytes_are_refused() -> None:
    with pytest.raises(YamlError) as err:
        parse_documents(b"a: \xff\xfe\n", "bin.yaml")
    assert "UTF-8" in err.value.finding.message


def test_field_paths_read_like_kubectl() -> None:
    assert dotted(("spec", "rules", 0, "path")) == "spec.rules[0].path"
    assert dotted(()) == ""


def test_folded_block_scalars_read_as_yaml_defines_them() -> None:
    text = 'a: >\n  x\n  y\nb: >-\n  p\n  q\n\n  r\nc: |\n  l1\n  l2\nd: "bell\\a"\n'
    data = parse_documents(text, "f.yaml")[0].data
    assert data == {"a": "x y\n", "b": "p q\nr", "c": "l1\nl2\n", "d": "bell\a"}
