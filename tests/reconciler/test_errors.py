"""The exception tree drawn in reconciler/errors.py is the one the code has.

Callers branch on the tree's three branches (user / transient / internal), so a class that sits
elsewhere than the drawing says would be handled wrongly without any test noticing.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import fleetsync
import reconciler
from reconciler import errors
from reconciler.errors import FleetsyncError


def _drawn() -> list[tuple[str, str | None]]:
    """(class, parent) per name in the docstring's diagram; a parent is the nearest line above
    that starts further left."""
    doc = errors.__doc__ or ""
    diagram = doc.split("::", 1)[1].strip("\n").split("\n\n", 1)[0]
    stack: list[tuple[int, str]] = []
    out: list[tuple[str, str | None]] = []
    for line in diagram.splitlines():
        m = re.search(r"[A-Z]\w*", line)
        if m is None or (m.start() > 0 and line[m.start() - 1] not in " "):
            continue
        names_text = re.match(r"[A-Z]\w*(?:, [A-Z]\w*)*", line[m.start() :])
        assert names_text is not None
        column = m.start()
        while stack and stack[-1][0] >= column:
            stack.pop()
        parent = stack[-1][1] if stack else None
        names = names_text.group().split(", ")
        out += [(n, parent) for n in names]
        stack.append((column, names[0]))
    return out


def _all_hub_errors() -> dict[str, type[BaseException]]:
    for package in (reconciler, fleetsync):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
    found: dict[str, type[BaseException]] = {}
    todo: list[type[BaseException]] = [FleetsyncError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith(("reconciler.", "fleetsync.")):
            assert cls.__name__ not in found or found[cls.__name__] is cls, f"two {cls.__name__} classes"
            found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def test_every_hub_exception_sits_where_the_drawing_puts_it() -> None:
    classes = _all_hub_errors()
    drawn = _drawn()
    assert drawn[0] == ("FleetsyncError", None)
    for name, parent in drawn[1:]:
        assert name in classes, f"{name} is drawn but no such exception exists"
        assert parent is not None
        assert classes[parent] in classes[name].__bases__, (
            f"{name} derives from {classes[name].__bases__}, drawn under {parent}"
        )
    assert sorted(classes) == sorted(n for n, _ in drawn), "every exception of the hub is drawn"


def test_a_stage_signal_that_escapes_its_stage_is_a_bug() -> None:
    from reconciler.errors import InternalError, StageSignal, UserError
    from reconciler.hub.overrides import VariableError
    from reconciler.hub.snapshots import SnapshotUnavailable
    from reconciler.load.yamldoc import YamlError
    from reconciler.policy.cel import CompileError, CostExceeded, ObjectTooLarge
    from reconciler.rollout.staged.init import InitFailed
    from reconciler.rollout.staged.work import Aborted

    for signal in (CostExceeded, ObjectTooLarge, VariableError, SnapshotUnavailable, InitFailed, Aborted):
        assert issubclass(signal, StageSignal) and issubclass(signal, InternalError)
    for mistake in (YamlError, CompileError):
        assert issubclass(mistake, UserError)
