"""The CEL layer: load-time name checks, the string extensions, bounded values and evaluation."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.cel import (
    Budget,
    CompileError,
    CostExceeded,
    ObjectTooLarge,
    compile_expression,
    eval_error,
    evaluate,
    to_cel,
)


def run(expr: str, **activation: Any) -> Any:
    return evaluate(compile_expression(expr, ["v"]), {k: to_cel(v) for k, v in activation.items()}, Budget())


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("'a,b,c'.split(',')", ["a", "b", "c"]),
        ("'a,b,c'.split(',', 2)", ["a", "b,c"]),
        ("['a', 'b'].join('-')", "a-b"),
        ("'  x '.trim()", "x"),
        ("'AbC'.lowerAscii() + 'AbC'.upperAscii()", "abcABC"),
        ("'a.b.c'.replace('.', '/')", "a/b/c"),
        ("'registry/app'.indexOf('/')", 8),
        ("'a/b/c'.lastIndexOf('/')", 3),
        ("'hello'.substring(1, 3)", "el"),
        ("object.items.all(i, i.startsWith('x')) && object.items.exists(i, i.endsWith('2'))", True),
        ("object.items.exists_one(i, i.contains('2'))", True),
        ("object.items.map(i, i + '!').filter(i, i.matches('^x[12]!$')).size()", 2),
        ("has(object.missing) || !has(object.items)", False),
    ],
)
def test_macros_and_string_functions_policies_rely_on(expr: str, expected: Any) -> None:
    assert run(expr, object={"items": ["x1", "x2"]}) == expected


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "empty"),
        ("x" * 5001, "limit is 5000"),
        ("object.", "CEL syntax error at line 1"),
        ("requests.size() > 0", "undeclared reference 'requests'"),
        ("variables.w == 1", "variables.w is not declared"),
    ],
)
def test_compile_refuses_what_would_fail_on_every_object(expr: str, fragment: str) -> None:
    with pytest.raises(CompileError, match=r".*") as info:
        compile_expression(expr, ["v"])
    assert fragment in str(info.value)


def test_macro_variables_are_not_mistaken_for_unknown_roots() -> None:
    compiled = compile_expression("object.a.all(x, object.b.exists(y, x == y)) && variables.v", ["v"])
    assert compiled.roots == {"object", "variables"} and compiled.variables == {"v"}


def test_an_extension_function_error_is_a_cel_error_not_a_crash() -> None:
    with pytest.raises(eval_error(), match="substring"):
        run("'abc'.substring(2, 9) == ''")


def test_a_string_function_cannot_build_an_unbounded_string() -> None:
    with pytest.raises(eval_error(), match="longer than"):
        run("object.s.replace('x', object.s) == ''", object={"s": "x" * 1000})


def test_values_past_the_node_budget_are_refused() -> None:
    with pytest.raises(ObjectTooLarge):
        to_cel({"items": list(range(100))}, max_nodes=50)
    assert to_cel({"items": list(range(10))}, max_nodes=50)["items"][9] == 9


def test_the_step_budget_counts_work_inside_macros() -> None:
    expr = compile_expression("object.n.all(a, object.n.all(b, a + b >= 0))")
    small = {"object": to_cel({"n": list(range(5))})}
    assert evaluate(expr, small, Budget(max_steps=2_000)) == True  # noqa: E712 (a CEL bool)
    with pytest.raises(CostExceeded):
        evaluate(expr, {"object": to_cel({"n": list(range(60))})}, Budget(max_steps=2_000))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("object != null", True),
        ("null != object", True),
        ("object.l != null", True),
        ("object == null", False),
        ("null == null", True),
        ("null != null", False),
        ("object.l == [1]", True),
    ],
)
def test_comparing_a_map_or_list_with_null_is_defined_as_cel_says(expr: str, expected: bool) -> None:
    assert run(expr, object={"l": [1]}) == expected


def test_values_nested_past_the_depth_limit_are_refused_not_a_recursion_crash() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5_000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ObjectTooLarge, match="nested deeper"):
        to_cel(deep)
