"""Reading YAML safely, with every value located (file, line, column, field path)."""

from __future__ import annotations

import pytest

from reconciler.load import yamldoc
from reconciler.load.yamldoc import YamlError, dotted, parse_documents


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


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("y", "y"),
        ("N", "N"),
        ("True", True),
        ("FALSE", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("0777", 777),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("-12", -12),
        ("1:20", "1:20"),
        ("190:20:30", "190:20:30"),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", float("-inf")),
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01T10:20:30Z", "2024-01-01T10:20:30Z"),
        ("128Mi", "128Mi"),
        ("1.2.3", "1.2.3"),
        ("=", "="),
    ],
)
def test_plain_scalars_resolve_by_yaml_1_2_not_by_libyamls_1_1(plain: str, value: object) -> None:
    docs = parse_documents(f"v: {plain}\n{plain or 'empty'}: k\n", "f.yaml")
    assert docs[0].data["v"] == value and type(docs[0].data["v"]) is type(value)
    key = "null" if value is None and plain else str(value).lower() if isinstance(value, bool) else str(value)
    assert docs[0].data[key if plain else "empty"] == "k"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: !!str 12\n", "12"),
        ("v: !!str on\n", "on"),
        ("v: !!int '12'\n", 12),
        ("v: !!float 1\n", 1.0),
        ("v: !!bool true\n", True),
        ("v: !!null ''\n", None),
        ("v: !!timestamp 2024-01-01\n", "2024-01-01"),
        ("v: '12'\n", "12"),
        ('v: "true"\n', "true"),
        ("v: !!map {a: 1}\n", {"a": 1}),
    ],
)
def test_explicit_tags_and_quotes_decide_over_the_plain_resolution(text: str, value: object) -> None:
    data = parse_documents(text, "f.yaml")[0].data
    assert data == {"v": value} and type(data["v"]) is type(value)


@pytest.mark.parametrize(
    "text",
    ["!!python/name:os.system k: 1\n", "!custom k: 1\n", "v: !!binary aGk=\n", "v: !!set {a}\n"],
)
def test_a_disallowed_tag_is_refused_on_keys_as_on_values(text: str) -> None:
    with pytest.raises(YamlError) as err:
        parse_documents(text, "f.yaml")
    assert (err.value.finding.line, err.value.finding.column) == (1, 1 if text[0] == "!" else 4)
    assert "is not allowed" in err.value.finding.message


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, {y: 2}]\nc: |\n  l1\n\n  l2\nd: >-\n  f1\n  f2\n\n  f3\n",
        "base: &b {x: 1, y: 2}\nobj:\n  <<: [*b, {z: 3}]\n  y: 3\n",
        "a: 'it''s'\nb: \"tab\\there\"\nc: plain text\n  continued\n",
        "- a\n- - b\n  - c\n- {k: v}\n",
        "? complex\n: value\n1: int key\ntrue: bool key\n~: null key\n",
        "a: 1\r\nb:\r\n  c: 2\r\n",
        "---\na: 1\n...\n---\nb: 2\n",
        "caf\u00e9: \U0001f600\nk: v\n",
    ],
)
def test_libyaml_and_ruamel_read_a_file_identically(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = parse_documents(text, "f.yaml")
    monkeypatch.setattr(yamldoc, "_libyaml_reads_it_alike", lambda _text: False)
    reference = parse_documents(text, "f.yaml")
    assert [(d.index, d.line, d.data, d.locations) for d in fast] == [
        (d.index, d.line, d.data, d.locations) for d in reference
    ]


def test_an_anchor_name_runs_on_through_a_colon_as_yaml_1_2_says() -> None:
    # libyaml would end the anchor at ':' and read {null: x}; YAML 1.2 anchors `x` as `a:`.
    assert parse_documents("v:\n  &a: x\nw: 1\n", "f.yaml")[0].data == {"v": "x", "w": 1}


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_do_not_shift_locations(separator: str) -> None:
    doc = parse_documents(f'a: "x{separator}y"\nb: 1\n', "f.yaml")[0]
    assert doc.locate(("b",)) == (2, 1)


def test_a_yaml_1_1_directive_reads_its_booleans_as_true_and_false() -> None:
    data = parse_documents("%YAML 1.1\n---\na: yes\nb: on\nc: no\n", "f.yaml")[0].data
    assert data == {"a": True, "b": True, "c": False}


def test_a_tab_after_a_value_is_whitespace_as_for_kubectl() -> None:
    assert parse_documents("a: x\t\nb: |\t\n  l\n", "f.yaml")[0].data == {"a": "x", "b": "l\n"}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a: [\n", 2, 1),
        ("a: 1\n b: 2\n", 2, 3),
        ("a: 'x\n", 2, 1),
        ("- a\nb: 1\n", 2, 1),
        ("a: *nope\n", 1, 4),
    ],
)
def test_syntax_errors_are_located_as_before(text: str, line: int, column: int) -> None:
    with pytest.raises(YamlError) as err:
        parse_documents(text, "bad.yaml")
    assert (err.value.finding.line, err.value.finding.column) == (line, column)
    assert err.value.finding.message.startswith("invalid YAML")


def test_nesting_past_libyamls_own_limit_is_refused_as_too_deep() -> None:
    with pytest.raises(YamlError) as err:
        parse_documents("a: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    assert "nesting deeper than" in err.value.finding.message


@pytest.mark.parametrize("text", ["a: \ud800\n", "a: \x00\n", "a: \x07\n"])
def test_characters_yaml_does_not_allow_are_refused_as_invalid_yaml(text: str) -> None:
    with pytest.raises(YamlError) as err:
        parse_documents(text, "bad.yaml")
    assert "unacceptable character" in err.value.finding.message
