"""The canonical reader on libyaml reads exactly what the pure-Python reader reads.

``fleetsync_contract.canonical.load`` uses PyYAML's C loader when PyYAML has libyaml (the agent
reads every bundle file on every sync) and the pure loader otherwise. Both must give the same
data, with the same types, and both must refuse aliases. Speed is measured in bench/, not here.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsync_contract import canonical
from fleetsync_contract.canonical import CanonicalError, dump, load

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")
READERS = [pytest.param(False, id="pure"), pytest.param(True, id="libyaml", marks=needs_libyaml)]


def _typed(x: Any) -> Any:
    """Data with every scalar's type spelt out, so that 1 == 1.0 == True cannot hide a change."""
    if isinstance(x, dict):
        return {k: _typed(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_typed(v) for v in x]
    return (type(x).__name__, x)


@needs_libyaml
@pytest.mark.parametrize(
    "text",
    [
        "a: on\nb: yes\nc: 0777\nd: 1:20\ne: 2026-11-25\nf: 2026-11-25T10:00:00Z\ng: ~\nh: 1e3\ni: 1.0e+3\n",
        "a: 0x1F\nb: -.inf\nc: .nan_not\nd: '12'\ne: \"x\\ty\"\nf: |\n  l1\n  l2\ng: >-\n  f1\n  f2\n",
        "a: &x 1\nb: 2\n",
        "- [1, 2]\n- {k: v}\n- null\n",
        "",
        "plain",
        "k: v\r\nl: w\r\n",
    ],
)
def test_both_readers_read_plain_yaml_to_the_same_typed_data(text: str) -> None:
    assert _typed(canonical._read(text, True)) == _typed(canonical._read(text, False))


@pytest.mark.parametrize("libyaml", READERS)
@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1]\nb: *x\n",
        "a: &x 1\nb: *x\n",
        "a: &x {k: v}\nb: [*x]\n",
        "a: &x [*x]\n",
        "- &x k\n- {*x : v}\n",
    ],
)
def test_both_readers_refuse_aliases(libyaml: bool, text: str) -> None:
    with pytest.raises(yaml.YAMLError, match="aliases are not allowed"):
        canonical._read(text, libyaml)


@pytest.mark.parametrize("libyaml", READERS)
@pytest.mark.parametrize("text", ["a: [\n", "a: 1\na: 2\n---\nb: 1\n", "a: !!python/name:os.system x\n"])
def test_both_readers_refuse_broken_or_unsafe_yaml(libyaml: bool, text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        canonical._read(text, libyaml)


def test_load_reports_absurd_nesting_as_invalid_yaml() -> None:
    with pytest.raises(CanonicalError, match="invalid YAML"):
        load(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n")


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        ["on", "0777", "1:20", "2026-11-25", "&a", "*a", "a&b", "x\u2028y", "\ufeffbom", "tab\t"]
    ),
)
_data = st.recursive(
    _scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)
    ),
    max_leaves=20,
)


@needs_libyaml
@settings(max_examples=100, deadline=None)
@given(_data)
def test_both_readers_read_canonical_files_identically(data: Any) -> None:
    text = dump(data).decode("utf-8")
    assert _typed(canonical._read(text, True)) == _typed(canonical._read(text, False)) == _typed(data)
