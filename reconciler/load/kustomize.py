"""A kustomize directory → the YAML that ``kubectl kustomize DIR`` prints, confined to the repo.

We run the real binary (whatever kustomize does, fleetsync does) but never trust the repo to
steer it: before running, the kustomization files are read *by us* and every path they name
(resources, bases, components, patches, generator files, …) must be a relative path that
resolves — symlinks followed — inside the repo. Remote URLs are refused (a render must not
depend on the network, and a fleet repo commit must say everything). Helm inflation is refused
(kubectl would need --enable-helm and a network). The command is a fixed argument list with no
shell, a timeout, and a bound on how much output we read.

The child runs in a session of its own, so a terminal's Ctrl-C reaches only the hub, which then
decides: a stopping hub calls ``interrupt_children()``, and a render whose child we killed raises
``Interrupted`` (a transient error: nothing is recorded) instead of returning a finding. A child
killed by any signal is not the repo's fault either, so it is transient too; only an exit code
kubectl chose is the user's mistake.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import SCOPE_REPO, Finding, TransientError
from reconciler.load.yamldoc import Document, YamlError, dotted, parse_documents

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_KUSTOMIZATION_BYTES = 1024 * 1024
_MAX_NESTING = 20

# Keys whose values name files or directories, and what shape they have.
_PATH_LISTS = ("resources", "bases", "components", "crds")
_INLINE_OR_PATH_LISTS = (
    "patchesStrategicMerge",
    "generators",
    "transformers",
    "validators",
    "configurations",
)
_OBJECT_LISTS_WITH_PATH = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
_REFUSED = ("helmCharts", "helmGlobals", "helmChartInflationGenerator")


class Interrupted(TransientError):
    """``kubectl kustomize`` was stopped by us (the hub is shutting down) or killed by a signal:
    the commit was not judged, so nothing may be recorded about it."""


class _Children:
    """The running kustomize children, so that a stopping hub can kill them and say it did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._killed: set[int] = set()

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.add(proc)

    def remove(self, proc: subprocess.Popen[bytes]) -> bool:
        """Forget ``proc``; whether we killed it."""
        with self._lock:
            self._running.discard(proc)
            killed = proc.pid in self._killed
            self._killed.discard(proc.pid)
            return killed

    def interrupt(self) -> int:
        with self._lock:
            for proc in self._running:
                self._killed.add(proc.pid)
                proc.kill()
            return len(self._running)


_CHILDREN = _Children()


def interrupt_children() -> int:
    """Kill every running ``kubectl kustomize`` (a hub shutting down); their renders raise
    ``Interrupted``. Returns how many were running."""
    return _CHILDREN.interrupt()


@dataclass(frozen=True, slots=True)
class KustomizeResult:
    """The rendered YAML (None when refused or failed) and why not."""

    text: str | None
    findings: tuple[Finding, ...] = ()


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file() or candidate.is_symlink():
            return candidate
    return None


def _rel(root: Path, path: Path) -> str:
    try:
        return Path(os.path.normpath(path)).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _looks_remote(entry: str) -> bool:
    return (
        "://" in entry
        or entry.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/"))
        or "?ref=" in entry
        or "?version=" in entry
    )


def path_entries(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """Every path-like entry of a kustomization: (field path, text, may_be_directory)."""
    yield from _listed_paths(data)
    yield from _generator_paths(data)
    openapi = data.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        yield ("openapi", "path"), openapi["path"], False


def _listed_paths(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """Lists of paths (resources, components, ...), of inline-or-path entries, and of objects
    with a ``path``."""
    for key in _PATH_LISTS:
        for i, entry in enumerate(_as_list(data.get(key))):
            if isinstance(entry, str):
                yield (key, i), entry, True
    for key in _INLINE_OR_PATH_LISTS:
        for i, entry in enumerate(_as_list(data.get(key))):
            if isinstance(entry, str) and not _inline(entry):
                yield (key, i), entry, key != "patchesStrategicMerge"
    for key in _OBJECT_LISTS_WITH_PATH:
        for i, entry in enumerate(_as_list(data.get(key))):
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                yield (key, i, "path"), entry["path"], False


def _generator_paths(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str, bool]]:
    """The files and env files of ConfigMap and Secret generators (``key=path`` reads as path)."""
    for key in _GENERATORS:
        for i, gen in enumerate(_as_list(data.get(key))):
            if not isinstance(gen, dict):
                continue
            for field in ("files", "envs"):
                for j, entry in enumerate(_as_list(gen.get(field))):
                    if isinstance(entry, str):
                        yield (key, i, field, j), entry.split("=", 1)[-1], False
            if isinstance(gen.get("env"), str):
                yield (key, i, "env"), gen["env"], False


def _inline(entry: str) -> bool:
    """An inline patch or plugin config (YAML text) rather than a path."""
    text = entry.lstrip()
    return "\n" in entry or text.startswith(("{", "apiVersion:", "kind:"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_kustomization(root: Path, directory: Path) -> list[Finding]:
    """Findings for every path a kustomization (and the ones it includes) names outside the repo."""
    root = root.resolve()
    findings: list[Finding] = []
    _check(root, directory, findings, set(), 0)
    return findings


def _check(root: Path, directory: Path, findings: list[Finding], seen: set[Path], depth: int) -> None:
    resolved = directory.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    file = find_kustomization(directory)
    if file is None:
        return
    rel = _rel(root, file)
    if not _inside(root, file):
        findings.append(
            Finding(rel, 0, 0, "", "kustomization file is a symlink that leaves the repo; refusing")
        )
        return
    if depth > _MAX_NESTING:
        findings.append(Finding(rel, 0, 0, "", f"kustomizations nest deeper than {_MAX_NESTING} levels"))
        return
    try:
        docs = parse_documents(file.read_bytes(), rel, max_bytes=MAX_KUSTOMIZATION_BYTES)
    except YamlError as e:
        findings.append(e.finding)
        return
    except OSError as e:
        findings.append(Finding(rel, 0, 0, "", f"cannot read kustomization: {e.strerror}"))
        return
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        findings.append(Finding(rel, 1, 1, "", "a kustomization file must hold exactly one YAML mapping"))
        return
    doc = docs[0]
    _check_doc(root, directory, doc, findings, seen, depth)


def _check_doc(
    root: Path, directory: Path, doc: Document, findings: list[Finding], seen: set[Path], depth: int
) -> None:
    def fail(path: tuple[str | int, ...], message: str) -> None:
        line, col = doc.locate(path)
        findings.append(Finding(doc.file, line, col, dotted(path), message))

    for key in _REFUSED:
        if key in doc.data:
            fail((key,), "Helm chart inflation is not supported: render the chart and commit its output")
    for path, entry, may_be_dir in path_entries(doc.data):
        if _looks_remote(entry):
            fail(
                path,
                f"remote kustomize target {entry!r} is refused: vendor it into the repo (paths must stay inside the repo)",
            )
            continue
        if not entry or os.path.isabs(entry):
            fail(path, f"{entry!r} must be a path relative to the kustomization directory, inside the repo")
            continue
        target = directory / entry
        if not _inside(root, target):
            fail(
                path,
                f"{entry!r} leaves the repo (after following symlinks); only paths inside the repo are allowed",
            )
            continue
        if may_be_dir and target.is_dir():
            _check(root, target, findings, seen, depth + 1)


def render(
    root: Path,
    directory: Path,
    *,
    kubectl: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = MAX_OUTPUT_BYTES,
) -> KustomizeResult:
    """``kubectl kustomize DIR`` for a directory inside ``root``, after the path checks above."""
    root = root.resolve()
    rel = _rel(root, directory)
    if not _inside(root, directory) or not directory.resolve().is_dir():
        return KustomizeResult(None, (Finding(rel, 0, 0, "", "kustomize directory is not inside the repo"),))
    findings = check_kustomization(root, directory)
    if findings:
        return KustomizeResult(None, tuple(findings))
    exe = kubectl or shutil.which("kubectl")
    file = find_kustomization(directory)
    label = _rel(root, file) if file else rel
    if exe is None:
        return KustomizeResult(
            None,
            (
                Finding(
                    label, 0, 0, "", "kubectl is not installed: it is needed to render kustomize directories"
                ),
            ),
        )
    args = [exe, "kustomize", str(directory.resolve())]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/nonexistent")}
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # the terminal's Ctrl-C is the hub's to handle, not kubectl's
            )
        except OSError as e:
            return KustomizeResult(None, (Finding(label, 0, 0, "", f"cannot run kubectl: {e.strerror}"),))
        _CHILDREN.add(proc)
        try:
            out, code, timed_out, too_big = _collect(proc, timeout, max_bytes)
        finally:
            killed_by_us = _CHILDREN.remove(proc)
        err.seek(0)
        stderr = err.read(4096).decode("utf-8", "replace").strip()
    if killed_by_us:
        raise Interrupted("kubectl kustomize interrupted: the hub is stopping")
    if timed_out:
        return KustomizeResult(
            None, (Finding(label, 0, 0, "", f"kubectl kustomize took longer than {timeout:g}s"),)
        )
    if too_big:
        return KustomizeResult(
            None,
            (
                Finding(
                    label,
                    0,
                    0,
                    "",
                    f"kubectl kustomize printed more than {max_bytes} bytes; refusing",
                    scope=SCOPE_REPO,  # the bytes the repo's total budget leaves
                ),
            ),
        )
    if code < 0:
        raise Interrupted(f"kubectl kustomize was killed by signal {-code}")
    if code != 0:
        message = stderr.splitlines()[-1] if stderr else f"exit code {code}"
        return KustomizeResult(None, (Finding(label, 0, 0, "", f"kubectl kustomize failed: {message}"),))
    try:
        return KustomizeResult(out.decode("utf-8"))
    except UnicodeDecodeError:
        return KustomizeResult(
            None, (Finding(label, 0, 0, "", "kubectl kustomize printed non-UTF-8 output"),)
        )


def _collect(proc: subprocess.Popen[bytes], timeout: float, max_bytes: int) -> tuple[bytes, int, bool, bool]:
    """(stdout, exit code, timed out, too big), killing the child at the timeout or the bound."""
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read(max_bytes + 1)
        too_big = len(out) > max_bytes
        if too_big:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
    finally:
        timer.cancel()
    return out, code, timed_out.is_set(), too_big
