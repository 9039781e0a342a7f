"""The layering of shared/style.md, enforced by reading imports.

- One door per side talks to git (reconciler/gitstore/ on the hub, agent/source.py on the member:
  gitpython and git processes) and one module to Kubernetes (the official client); everything
  else, the CLI and the demo included, goes through our own small interfaces.
- The agent imports nothing from the hub except the shared wire contract.
- The wire contract is a leaf, and nothing shipped to members imports the simulator.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reconciler", "agent", "kubesim", "fleetsync_contract")

GIT_DOORS = ("reconciler/gitstore/", "agent/source.py")  # prefixes of the modules that may use git
KUBE_OWNERS = {"agent/apply/kube.py"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[path.relative_to(ROOT).as_posix()] = _imports(path)
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


MODULES = _modules()


def test_the_tree_has_modules_to_check() -> None:
    assert any(m.startswith("reconciler/") for m in MODULES)
    assert "fleetsync_contract/__init__.py" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_git_owner_of_each_side_imports_gitpython(module: str) -> None:
    if not module.startswith(GIT_DOORS):
        assert "git" not in {_top(n) for n in MODULES[module]}, f"{module} imports gitpython"


def _starts_git(path: Path) -> bool:
    """Whether ``path`` builds an argument list for a git process (``["git", ...]``)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.List | ast.Tuple) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                return True
    return False


def test_only_the_git_doors_start_git_or_import_gitpython() -> None:
    offenders = []
    for pkg in (*PACKAGES, "fleetsync"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            module = path.relative_to(ROOT).as_posix()
            if module.startswith(GIT_DOORS):
                continue
            if _starts_git(path) or "git" in {_top(n) for n in _imports(path)}:
                offenders.append(module)
    assert offenders == [], "start git or import gitpython outside reconciler/gitstore/ and agent/source.py"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_agent_kube_module_imports_the_kubernetes_client(module: str) -> None:
    if module not in KUBE_OWNERS:
        assert "kubernetes" not in {_top(n) for n in MODULES[module]}, f"{module} imports kubernetes"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("agent/")))
def test_agent_imports_nothing_from_the_hub_or_the_simulator(module: str) -> None:
    tops = {_top(n) for n in MODULES[module]}
    assert "reconciler" not in tops, f"{module} imports the hub"
    assert "kubesim" not in tops, f"{module} imports the simulator"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("fleetsync_contract/")))
def test_the_wire_contract_is_a_leaf(module: str) -> None:
    tops = {_top(n) for n in MODULES[module]}
    assert not tops & {"reconciler", "agent", "kubesim", "git", "kubernetes"}, module


def test_the_layering_check_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import git\nfrom reconciler.load.fleet import x\n")
    assert {_top(n) for n in _imports(bad)} == {"git", "reconciler"}


def test_the_git_door_check_catches_a_git_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import subprocess\nsubprocess.run(["git", "-C", "x", "commit"], check=True)\n')
    assert _starts_git(bad)
    bad.write_text('import subprocess\nsubprocess.run(["kubectl", "get", "git"], check=True)\n')
    assert not _starts_git(bad)
