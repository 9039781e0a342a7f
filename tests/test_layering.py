"""The module map of shared/design.md §6, enforced by reading the source (ast), not by running it.

- The hub (reconciler/) imports neither the agent, nor kubesim, nor the composition root.
- The agent (agent/) imports only itself and the wire contract; the contract is a leaf.
- kubesim imports none of the hub, the agent or the composition root, and only the composition
  root's demo and dev command import kubesim (tests and benchmarks are not scanned).
- Only the composition root (fleetsync/) brings the hub, the agent and kubesim together.
- One door to git per side: only reconciler/gitstore/ (hub) and agent/source.py (member) import
  gitpython or start a ``git`` process; only agent/apply/kube.py (member) and
  reconciler/hub/lease.py (the hub's leader-election Lease, in its own cluster) import ``kubernetes``.
- reconciler/ keeps its subjects in packages: nothing at its top level but errors.py, and no two
  files of one folder share a ``word_`` prefix (that word wants to be a folder).

Every rule is a function from the scanned tree to its violations, and each is shown to catch a
deliberate violation: a file with the bad import written into a scratch tree and scanned by the
same scanner. Imports are read wherever they occur (a lazy import inside a function counts),
relative imports are resolved, and ``importlib.import_module("literal")`` counts as an import.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "bench"}  # they may import anything, kubesim included

HUB, AGENT, SIM, CONTRACT, ROOT_PKG = "reconciler", "agent", "kubesim", "fleetsync_contract", "fleetsync"
GITPYTHON = {"git", "gitdb"}  # gitdb is gitpython's object database
GIT_OWNERS = ("reconciler/gitstore/", "agent/source.py")
# One door to a Kubernetes API per side: the agent's to its member cluster, and the hub's to the Lease
# of its leader election in its OWN cluster (the hub holds no credential to any member cluster).
KUBE_OWNERS = ("agent/apply/kube.py", "reconciler/hub/lease.py")
SIM_IMPORTERS = ("fleetsync/demo/", "fleetsync/cli/dev.py")
HUB_TOP_LEVEL = {"reconciler/__init__.py", "reconciler/errors.py"}


# A call that starts a process when its first argument is the command line.
PROCESS_STARTERS = {
    "run",
    "Popen",
    "call",
    "check_call",
    "check_output",
    "getoutput",
    "getstatusoutput",
    "system",
    "popen",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execlp",
    "execle",
    "execlpe",
    "spawnv",
    "spawnvp",
    "spawnl",
    "spawnlp",
    "create_subprocess_exec",
    "create_subprocess_shell",
}
PROCESS_MODULES = {"subprocess", "os", "asyncio"}
FIRST_PARTY = {HUB, AGENT, SIM, CONTRACT, ROOT_PKG}


@dataclass(frozen=True, slots=True)
class Module:
    path: str  # "reconciler/hub/loop.py", relative to the scanned root
    imports: frozenset[str]  # absolute dotted names
    git_processes: tuple[str, ...]  # "line N: what" for each place that starts git


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_git_door(module: str) -> bool:
    doors = [p.removesuffix("/").removesuffix(".py").replace("/", ".") for p in GIT_OWNERS]
    return any(module == d or module.startswith(d + ".") for d in doors)


def _literal_argv0(node: ast.expr, constants: Mapping[str, str]) -> str | None:
    """The program a literal command line names: ["git", ...], ("git", ...), "git ...", GIT."""
    first = node.elts[0] if isinstance(node, ast.List | ast.Tuple) and node.elts else node
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        text: str | None = first.value
    else:
        text = constants.get(first.id) if isinstance(first, ast.Name) else None
    return text.split(" ")[0] if text else None


def scan_source(path: str, source: str) -> Module:
    tree = ast.parse(source, filename=path)
    package = path.split("/")[:-1]  # the package a relative import starts from
    starters = PROCESS_STARTERS | {  # from subprocess import run as sh
        a.asname
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module in PROCESS_MODULES
        for a in n.names
        if a.asname and a.name in PROCESS_STARTERS
    }
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    imports: set[str] = set()
    git: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            imports.add(module)
            borrowed = [a.name for a in node.names if a.name.lstrip("_") == "git" or a.name.endswith("_git")]
            if borrowed and _top(module) in FIRST_PARTY and not _is_git_door(module):
                git.append(f"line {node.lineno}: borrows {module}.{borrowed[0]}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if name in {"import_module", "__import__"} and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    imports.add(arg.value)
            elif name in starters and node.args:
                program = _literal_argv0(node.args[0], constants)
                if program is not None and Path(program).name == "git":
                    git.append(f"line {node.lineno}: {name}({program!r} ...)")
    return Module(path, frozenset(imports), tuple(git))


def scan(root: Path) -> dict[str, Module]:
    """Every .py file of every shipped top-level package under ``root``."""
    out: dict[str, Module] = {}
    packages = sorted(
        p for p in root.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_SHIPPED
    )
    for package in packages:
        for path in sorted(package.rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            out[rel] = scan_source(rel, path.read_text())
    return out


# -- the rules: each returns its violations, one line each ---------------------------------------
Tree = Mapping[str, Module]


def _forbidden_imports(tree: Tree, where: str, allowed: Callable[[str], bool]) -> list[str]:
    return [
        f"{m.path} imports {name}"
        for m in tree.values()
        if m.path.startswith(where)
        for name in sorted(m.imports)
        if not allowed(_top(name))
    ]


def hub_imports_no_agent_sim_or_root(tree: Tree) -> list[str]:
    return _forbidden_imports(tree, f"{HUB}/", lambda top: top not in {AGENT, SIM, ROOT_PKG})


def agent_imports_only_itself_and_the_contract(tree: Tree) -> list[str]:
    return _forbidden_imports(
        tree, f"{AGENT}/", lambda top: top not in FIRST_PARTY or top in {AGENT, CONTRACT}
    )


def contract_is_a_leaf(tree: Tree) -> list[str]:
    return _forbidden_imports(
        tree,
        f"{CONTRACT}/",
        lambda top: top not in FIRST_PARTY | GITPYTHON | {"kubernetes"} or top == CONTRACT,
    )


def kubesim_imports_no_hub_agent_or_root(tree: Tree) -> list[str]:
    return _forbidden_imports(tree, f"{SIM}/", lambda top: top not in {HUB, AGENT, ROOT_PKG})


def only_the_root_brings_hub_agent_and_kubesim_together(tree: Tree) -> list[str]:
    parts: dict[str, set[str]] = defaultdict(set)
    for m in tree.values():
        package = _top(m.path.replace("/", "."))
        parts[package] |= {_top(n) for n in m.imports} & {HUB, AGENT, SIM}
    return [
        f"{package}/ imports {', '.join(sorted(tops - {package}))}"
        for package, tops in sorted(parts.items())
        if package != ROOT_PKG and tops - {package}
    ]


def only_the_demo_and_dev_import_kubesim(tree: Tree) -> list[str]:
    return [
        f"{m.path} imports {name}"
        for m in tree.values()
        if not m.path.startswith((f"{SIM}/", *SIM_IMPORTERS))
        for name in sorted(m.imports)
        if _top(name) == SIM
    ]


def only_the_git_doors_use_git(tree: Tree) -> list[str]:
    out: list[str] = []
    for m in tree.values():
        if m.path.startswith(GIT_OWNERS):
            continue
        out += [f"{m.path} imports {name}" for name in sorted(m.imports) if _top(name) in GITPYTHON]
        out += [f"{m.path} {what}" for what in m.git_processes]
    return out


def only_the_kube_module_imports_kubernetes(tree: Tree) -> list[str]:
    return [
        f"{m.path} imports {name}"
        for m in tree.values()
        if not m.path.startswith(KUBE_OWNERS)
        for name in sorted(m.imports)
        if _top(name) == "kubernetes"
    ]


def hub_has_only_errors_at_its_top_level(tree: Tree) -> list[str]:
    return [
        f"{path} is a module at reconciler/'s top level"
        for path in sorted(tree)
        if path.startswith(f"{HUB}/") and path.count("/") == 1 and path not in HUB_TOP_LEVEL
    ]


def hub_file_names_carry_no_folder_prefix(tree: Tree) -> list[str]:
    prefixes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in tree:
        if path.startswith(f"{HUB}/"):
            folder, _, name = path.rpartition("/")
            stem = name.removesuffix(".py").lstrip("_")
            if "_" in stem:
                prefixes[(folder, stem.split("_")[0])].append(name)
    return [
        f"{folder}/: {', '.join(sorted(names))} share the prefix {word}_ (make {folder}/{word}/)"
        for (folder, word), names in sorted(prefixes.items())
        if len(names) > 1
    ]


RULES: dict[str, Callable[[Tree], list[str]]] = {
    f.__name__: f
    for f in (
        hub_imports_no_agent_sim_or_root,
        agent_imports_only_itself_and_the_contract,
        contract_is_a_leaf,
        kubesim_imports_no_hub_agent_or_root,
        only_the_root_brings_hub_agent_and_kubesim_together,
        only_the_demo_and_dev_import_kubesim,
        only_the_git_doors_use_git,
        only_the_kube_module_imports_kubernetes,
        hub_has_only_errors_at_its_top_level,
        hub_file_names_carry_no_folder_prefix,
    )
}

MODULES = scan(ROOT)


def test_the_tree_has_modules_to_check() -> None:
    tops = {_top(p.replace("/", ".")) for p in MODULES}
    assert tops == {HUB, AGENT, SIM, CONTRACT, ROOT_PKG}
    assert "fleetsync_contract/__init__.py" in MODULES
    assert "agent/apply/kube.py" in MODULES and "reconciler/gitstore/repo.py" in MODULES
    assert "reconciler/hub/lease.py" in MODULES  # the hub's kube door, named in KUBE_OWNERS
    # the git detector sees the real door use git (a detector that sees nothing would pass anything)
    assert any(
        m.git_processes or {_top(n) for n in m.imports} & GITPYTHON
        for p, m in MODULES.items()
        if p.startswith("reconciler/gitstore/")
    )


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_source_tree_keeps_the_module_map(rule: str) -> None:
    assert RULES[rule](MODULES) == []


# -- each rule catches a deliberate violation, run through the same scanner -----------------------
VIOLATIONS = [
    (
        "hub_imports_no_agent_sim_or_root",
        "reconciler/hub/bad.py",
        "def f():\n    from agent.loop import Agent\n",
    ),
    ("hub_imports_no_agent_sim_or_root", "reconciler/hub/bad.py", "import fleetsync.cli\n"),
    (
        "hub_imports_no_agent_sim_or_root",
        "reconciler/hub/bad.py",
        "import importlib\nimportlib.import_module('kubesim.server')\n",
    ),
    (
        "agent_imports_only_itself_and_the_contract",
        "agent/apply/bad.py",
        "from reconciler.load.fleet import x\n",
    ),
    ("agent_imports_only_itself_and_the_contract", "agent/bad.py", "from fleetsync.demo import story\n"),
    ("contract_is_a_leaf", "fleetsync_contract/bad.py", "from agent.report import x\n"),
    ("contract_is_a_leaf", "fleetsync_contract/bad.py", "import kubernetes\n"),
    ("kubesim_imports_no_hub_agent_or_root", "kubesim/bad.py", "from reconciler.errors import UserError\n"),
    (
        "only_the_root_brings_hub_agent_and_kubesim_together",
        "agent/bad.py",
        "from kubesim.server import KubeSim\n",
    ),
    ("only_the_demo_and_dev_import_kubesim", "fleetsync/cli/hub.py", "from kubesim.server import KubeSim\n"),
    ("only_the_git_doors_use_git", "reconciler/hub/bad.py", "import git\n"),
    ("only_the_git_doors_use_git", "agent/loop.py", "from gitdb.base import IStream\n"),
    (
        "only_the_git_doors_use_git",
        "reconciler/plan/bad.py",
        "import subprocess\nsubprocess.run(['git', 'log'])\n",
    ),
    (
        "only_the_git_doors_use_git",
        "fleetsync/cli/bad.py",
        "from subprocess import check_output as co\nGIT = 'git'\nco([GIT, 'x'])\n",
    ),
    (
        "only_the_git_doors_use_git",
        "reconciler/status/bad.py",
        "import os\nos.system('git push origin main')\n",
    ),
    ("only_the_git_doors_use_git", "reconciler/drift/bad.py", "from reconciler.plan.build import _git\n"),
    (
        "only_the_git_doors_use_git",
        "fleetsync/demo/bad.py",
        "import asyncio\nasyncio.create_subprocess_exec('/usr/bin/git', 'gc')\n",
    ),
    ("only_the_kube_module_imports_kubernetes", "agent/apply/bad.py", "from kubernetes import client\n"),
    ("only_the_kube_module_imports_kubernetes", "reconciler/hub/run.py", "from kubernetes import config\n"),
    ("hub_has_only_errors_at_its_top_level", "reconciler/render_fleet.py", "X = 1\n"),
    ("hub_file_names_carry_no_folder_prefix", "reconciler/hub/staged_run.py", "X = 1\n"),
]


@pytest.mark.parametrize(("rule", "path", "source"), VIOLATIONS, ids=[f"{r}:{p}" for r, p, _ in VIOLATIONS])
def test_each_rule_catches_a_deliberate_violation(rule: str, path: str, source: str, tmp_path: Path) -> None:
    for package in (HUB, AGENT, SIM, CONTRACT, ROOT_PKG):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "reconciler/hub").mkdir()
    (tmp_path / "reconciler/hub/staged_plan.py").write_text("X = 1\n")  # a lone prefix is fine...
    bad = tmp_path / path
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text(source)
    clean = {p: m for p, m in scan(tmp_path).items() if p != path}
    assert RULES[rule](clean) == [], "the scratch tree alone must pass"
    found = RULES[rule](scan(tmp_path))
    assert found and all(path.split("/")[0] in line for line in found), found


def test_relative_imports_are_resolved_before_the_rules_see_them() -> None:
    module = scan_source(
        "reconciler/hub/loop.py", "from ..load import fleet\nfrom . import run\nfrom .x import y\n"
    )
    assert module.imports == {"reconciler.load", "reconciler.hub", "reconciler.hub.x"}
    assert scan_source("agent/__init__.py", "from .loop import Agent\n").imports == {"agent.loop"}


def test_other_commands_and_the_doors_own_helpers_are_not_git_processes() -> None:
    source = (
        "import subprocess\nsubprocess.run(['kubectl', 'apply'])\nsubprocess.run(args)\nrun(['gitleaks'])\n"
        "from reconciler.gitstore.repo import git\nfrom agent.source import _git\n"
    )
    assert scan_source("reconciler/load/kustomize.py", source).git_processes == ()
