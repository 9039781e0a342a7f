"""CEL for the policy gate: compile with checks, evaluate under a step budget, convert values.

The one module that imports ``celpy`` (cel-python, a pure-Python CEL implementation whose
regular expressions run on RE2, so ``matches()`` is linear-time). Two things it adds:

* **A cost bound.** Kubernetes bounds CEL by an estimated cost; celpy has none, so evaluation
  runs on a subclass of its tree-walking ``Evaluator`` that counts every AST node it visits,
  including inside macros (``all``/``exists``/``map`` …) through shared sub-evaluators, and
  stops with ``CostExceeded`` past the budget. An optional injected clock adds a time limit;
  the step count alone keeps results deterministic. Inputs are bounded too: ``to_cel`` refuses
  an object past a node or byte budget before any expression sees it.
* **Checks at load time.** celpy only parses; ``compile_expression`` also walks the tree for
  unknown root variables and references to undeclared ``variables.*``, so a typo is a located
  finding when the policy is read instead of an evaluation error on every object.

The string extensions policies need (``split``, ``join``, ``lowerAscii``, ``trim`` …, the
subset of Kubernetes' CEL string library the shipped policies and most users reach for) are
registered here; their outputs are size-capped like everything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import celpy
import celpy.celtypes as ct
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, Evaluator, bool_eq, bool_ne

from reconciler.errors import StageSignal, UserError

MAX_EXPRESSION_CHARS = 5_000
MAX_STEPS = 25_000  # AST nodes visited per evaluation of one expression
MAX_OBJECT_NODES = 50_000  # maps, lists and scalars in one object handed to CEL
MAX_OBJECT_BYTES = 1_500_000  # string bytes in one object (etcd's object limit)
MAX_OBJECT_DEPTH = 100  # nesting levels (YAML input is capped at 64; overrides may add a little)
MAX_RESULT_CHARS = 100_000  # one string built by an extension function

ROOT_VARIABLES = frozenset(
    {"object", "oldObject", "params", "variables", "request", "namespaceObject", "cluster", "authorizer"}
)
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


class CostExceeded(StageSignal):
    """An evaluation went past its step budget or time limit."""


class ObjectTooLarge(StageSignal):
    """An object is larger than the gate accepts."""


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits for one expression evaluation; ``clock`` (monotonic seconds) is injected."""

    max_steps: int = MAX_STEPS
    time_limit: float | None = None
    clock: Callable[[], float] | None = None


class _Counter:
    __slots__ = ("budget", "deadline", "steps")

    def __init__(self, budget: Budget):
        self.budget = budget
        self.steps = 0
        self.deadline = (
            budget.clock() + budget.time_limit
            if budget.clock is not None and budget.time_limit is not None
            else None
        )

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.budget.max_steps:
            raise CostExceeded(f"evaluation exceeded its budget of {self.budget.max_steps} steps")
        if self.deadline is not None and self.steps % 256 == 0:
            assert self.budget.clock is not None
            if self.budget.clock() > self.deadline:
                raise CostExceeded(f"evaluation exceeded its time limit of {self.budget.time_limit}s")


class _BudgetedEvaluator(Evaluator):
    """celpy's interpreter, counting each visited node against a shared counter."""

    def __init__(self, ast: lark.Tree[Any], activation: Any, counter: _Counter):
        super().__init__(ast, activation)
        self.counter = counter

    def _visit_tree(self, tree: lark.Tree[Any]) -> Any:
        # lark's Interpreter routes both visit() and visit_children() through this method.
        self.counter.tick()
        return super()._visit_tree(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _BudgetedEvaluator(ast, self.activation, self.counter)


# -- extension functions ------------------------------------------------------------------------


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} expects a string, got {type(value).__name__}")
    return value


def _capped(text: str) -> ct.StringType:
    if len(text) > MAX_RESULT_CHARS:
        raise ValueError(f"string result longer than {MAX_RESULT_CHARS} characters")
    return ct.StringType(text)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except (TypeError, ValueError, IndexError) as e:
            return CELEvalError(f"{fn.__name__.lstrip('_')}: {e}", type(e), None)

    call.__name__ = fn.__name__
    return call


def _split(s: Any, sep: Any, limit: Any = None) -> ct.ListType:
    parts = _text(s, "split").split(
        _text(sep, "split"), -1 if limit is None or int(limit) < 0 else int(limit) - 1
    )
    return ct.ListType([ct.StringType(p) for p in parts])


def _join(items: Any, sep: Any = "") -> ct.StringType:
    if not isinstance(items, list):
        raise TypeError("join expects a list of strings")
    return _capped(_text(sep, "join").join(_text(i, "join") for i in items))


def _replace(s: Any, old: Any, new: Any, n: Any = None) -> ct.StringType:
    count = -1 if n is None else int(n)
    return _capped(_text(s, "replace").replace(_text(old, "replace"), _text(new, "replace"), count))


def _substring(s: Any, start: Any, end: Any = None) -> ct.StringType:
    text = _text(s, "substring")
    a, b = int(start), len(text) if end is None else int(end)
    if not 0 <= a <= b <= len(text):
        raise IndexError(f"substring({a}, {b}) out of range for a string of length {len(text)}")
    return ct.StringType(text[a:b])


def _index_of(s: Any, sub: Any) -> ct.IntType:
    return ct.IntType(_text(s, "indexOf").find(_text(sub, "indexOf")))


def _last_index_of(s: Any, sub: Any) -> ct.IntType:
    return ct.IntType(_text(s, "lastIndexOf").rfind(_text(sub, "lastIndexOf")))


def _null_aware(op: Callable[[Any, Any], Any], equal: bool) -> Callable[[Any, Any], Any]:
    """celpy raises on ``map != null`` and ``list != null``; CEL (and every Kubernetes policy
    that writes ``params != null``) expects heterogeneous equality with null to be defined."""

    def compare(a: Any, b: Any) -> Any:
        if (a is None or b is None) and not isinstance(a, CELEvalError) and not isinstance(b, CELEvalError):
            return ct.BoolType((a is None and b is None) == equal)
        return op(a, b)

    return compare


EXTENSIONS: Mapping[str, Callable[..., Any]] = {
    "_==_": _null_aware(bool_eq, True),
    "_!=_": _null_aware(bool_ne, False),
    "split": _guard(_split),
    "join": _guard(_join),
    "replace": _guard(_replace),
    "substring": _guard(_substring),
    "indexOf": _guard(_index_of),
    "lastIndexOf": _guard(_last_index_of),
    "lowerAscii": _guard(lambda s: ct.StringType(_text(s, "lowerAscii").lower())),
    "upperAscii": _guard(lambda s: ct.StringType(_text(s, "upperAscii").upper())),
    "trim": _guard(lambda s: ct.StringType(_text(s, "trim").strip())),
}

_ENV = celpy.Environment()


# -- compiling ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    """One checked expression, ready to evaluate; ``roots`` are the root variables it reads."""

    text: str
    ast: lark.Tree[Any]
    roots: frozenset[str]
    variables: frozenset[str]
    runner: Any


class CompileError(UserError):
    """The expression does not parse or names something that does not exist."""


def compile_expression(text: str, declared_variables: Iterable[str] = ()) -> Compiled:
    """Parse ``text`` and check its names; raises CompileError with a message for the user."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CompileError(f"expression is {len(text)} characters; the limit is {MAX_EXPRESSION_CHARS}")
    if not text.strip():
        raise CompileError("expression is empty")
    try:
        ast = _ENV.compile(text)
    except CELParseError as e:
        where = f" at line {e.line}, column {e.column}" if getattr(e, "line", None) else ""
        first = str(e).strip().splitlines()
        raise CompileError(
            f"CEL syntax error{where}: {' | '.join(first[-2:]) if first else 'invalid'}"
        ) from e
    except RecursionError as e:
        raise CompileError("expression is nested too deeply") from e
    roots, bound, used_vars = _names(ast)
    unknown = sorted(roots - ROOT_VARIABLES - bound)
    if unknown:
        raise CompileError(
            f"undeclared reference {unknown[0]!r}: the variables are {', '.join(sorted(ROOT_VARIABLES))}"
        )
    declared = set(declared_variables)
    missing = sorted(used_vars - declared)
    if missing:
        known = ", ".join(sorted(declared)) or "none are declared"
        raise CompileError(f"variables.{missing[0]} is not declared in spec.variables ({known})")
    runner = _ENV.program(ast, functions=cast(Any, dict(EXTENSIONS)))
    return Compiled(text, ast, frozenset(roots & ROOT_VARIABLES), frozenset(used_vars), runner)


def _ident(tree: Any) -> str | None:
    """The name when ``tree`` is ``member → primary → ident NAME`` (or any part of that chain)."""
    while isinstance(tree, lark.Tree):
        if tree.data == "ident":
            return str(tree.children[0])
        if (
            tree.data
            not in (
                "member",
                "primary",
                "expr",
                "conditionalor",
                "conditionaland",
                "relation",
                "addition",
                "multiplication",
                "unary",
            )
            or len(tree.children) != 1
        ):
            return None
        tree = tree.children[0]
    return None


def _names(ast: lark.Tree[Any]) -> tuple[set[str], set[str], set[str]]:
    roots: set[str] = set()
    bound: set[str] = set()
    used_vars: set[str] = set()
    for node in ast.iter_subtrees():
        if node.data == "ident":
            roots.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and len(node.children) >= 3 and str(node.children[1]) in _MACROS:
            args = node.children[2]
            if isinstance(args, lark.Tree) and args.children:
                name = _ident(args.children[0])
                if name:
                    bound.add(name)
        elif (
            node.data == "member_dot" and len(node.children) == 2 and _ident(node.children[0]) == "variables"
        ):
            used_vars.add(str(node.children[1]))
    return roots, bound, used_vars


# -- values -------------------------------------------------------------------------------------


def to_cel(value: Any, max_nodes: int = MAX_OBJECT_NODES, max_bytes: int = MAX_OBJECT_BYTES) -> Any:
    """Plain JSON-like data → CEL values, refusing anything past the node or byte budget."""
    count = [0, 0]

    def walk(v: Any, depth: int = 0) -> Any:
        count[0] += 1
        if count[0] > max_nodes:
            raise ObjectTooLarge(f"more than {max_nodes} fields and values")
        if depth > MAX_OBJECT_DEPTH:
            raise ObjectTooLarge(f"nested deeper than {MAX_OBJECT_DEPTH} levels")
        if v is None:
            return None
        if isinstance(v, bool):
            return ct.BoolType(v)
        if isinstance(v, int):
            return ct.IntType(v)
        if isinstance(v, float):
            return ct.DoubleType(v) if math.isfinite(v) else ct.DoubleType(0.0)
        if isinstance(v, str):
            count[1] += len(v)
            if count[1] > max_bytes:
                raise ObjectTooLarge(f"more than {max_bytes} characters of strings")
            return ct.StringType(v)
        if isinstance(v, Mapping):
            return ct.MapType({ct.StringType(str(k)): walk(x, depth + 1) for k, x in v.items()})
        if isinstance(v, list | tuple):
            return ct.ListType([walk(x, depth + 1) for x in v])
        return ct.StringType(str(v))

    return walk(value)


def to_cel_map(values: Mapping[str, Any]) -> Any:
    """A CEL map of values already converted (the ``variables`` binding)."""
    return ct.MapType({ct.StringType(k): v for k, v in values.items()})


def evaluate(compiled: Compiled, activation: Mapping[str, Any], budget: Budget) -> Any:
    """Evaluate one expression; returns a CEL value, raises CELEvalError or CostExceeded."""
    evaluator = _BudgetedEvaluator(compiled.ast, compiled.runner.new_activation(), _Counter(budget))
    try:
        return evaluator.evaluate(dict(activation))
    except RecursionError as e:
        raise CostExceeded("evaluation nested too deeply") from e


def eval_error() -> type[Exception]:
    """The exception type celpy raises for a runtime error (kept here so callers need not import celpy)."""
    return CELEvalError


def error_value(message: str) -> Any:
    """A CEL error value: reading it fails the expression that reads it (a failed variable)."""
    return CELEvalError(message, ValueError, None)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool | ct.BoolType)


def is_string(value: Any) -> bool:
    return isinstance(value, str)  # celpy's StringType, or a plain str from concatenation


def describe(value: Any) -> str:
    """A short name of a CEL value's type for error messages."""
    return type(value).__name__.removesuffix("Type").lower() if value is not None else "null"
