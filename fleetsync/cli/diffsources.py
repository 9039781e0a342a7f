"""Where ``fleetsync diff``'s two sides come from: the bundle, and the live objects.

The bundle as the agent gets it: ``GitSource`` — the agent's own Git door — fetches
``fleet/bundles/<cluster>`` into a throw-away clone, verifies it and proves it descends from the
commit the member's inventory records; ``--bundle-dir`` (a checked-out bundle branch) is verified
the same way. The live side is a ``Live``: ``ClusterLive`` reads a member through the agent's
``KubeClient`` — GET and LIST, and the Applier's own server-side dry run for a
PartialComparison, which persists nothing (fleetsync/cli/diff.py says why that is read-only) —
and ``FileLive`` stands in for it with ``kubectl get -o yaml`` output, its dry run being
``compare.overlay``. Both are size-bounded like the agent's fetch: a file is read only up to
``MAX_LIVE_BYTES``, a bundle directory up to the agent's bundle bound.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import yaml  # type: ignore[import-untyped]

from agent.apply.compare import overlay
from agent.apply.inventory import Inventory
from agent.apply.takeover import OWNED_BY, marks, owner_label_value
from agent.errors import Forbidden, KindNotServed
from fleetsync_contract.bundle import MAX_FILES, BundleError, manifest_identity
from fleetsync_contract.gitauth import GitCredentials
from fleetsync_contract.integrity import verify

Obj = dict[str, Any]
MAX_LIVE_BYTES = 64 * 1024 * 1024
MAX_BUNDLE_DIR_BYTES = 64 * 1024 * 1024  # agent/source.py's MAX_BUNDLE_BYTES
WORKERS = 8  # objects compared at once; the client pools as many connections


class Usage(ValueError):
    """The user must fix an argument or an input file (exit 2)."""


class Live(Protocol):
    """The cluster as the diff reads it: a real one (``ClusterLive``) or a file (``FileLive``)."""

    dry_run_kind: str  # "server" or "offline"

    def get(self, manifest: Obj) -> Obj | None: ...

    def dry_run(self, body: Obj) -> Obj: ...

    def owned(self, cluster: str, inventory: Inventory, kinds: set[tuple[str, str]]) -> list[Obj]: ...

    def inventory(self, namespace: str) -> tuple[Inventory, str]: ...


# -- the cluster, and its stand-in ---------------------------------------------------------------
class ClusterLive:
    """A member cluster through the agent's ``KubeClient``: reads, and dry runs only."""

    dry_run_kind = "server"

    def __init__(self, kube: Any):
        self.kube = kube

    def get(self, manifest: Obj) -> Obj | None:
        ref = self.kube.kind(str(manifest.get("apiVersion")), str(manifest.get("kind")))
        meta = manifest.get("metadata") or {}
        namespace = str(meta.get("namespace") or "") if ref.namespaced else ""
        found: Obj | None = self.kube.get(ref, str(meta.get("name", "")), namespace)
        return found

    def dry_run(self, body: Obj) -> Obj:
        """The Applier's dry run (``Applier._dry_run``): forced, ``dryRun=All``, never persisted."""
        out: Obj = self.kube.apply(body, force=True, dry_run=True)
        return out

    def owned(self, cluster: str, inventory: Inventory, kinds: set[tuple[str, str]]) -> list[Obj]:
        """Objects of ``kinds`` carrying this cluster's marks, listed cluster-wide by our label;
        where listing a kind is forbidden (an agent confined to namespaces), the inventory's
        objects of that kind, one GET each."""
        selector = f"{OWNED_BY}={owner_label_value(cluster)}"
        out: list[Obj] = []
        for api_version, kind in sorted(kinds):
            try:
                ref = self.kube.kind(api_version, kind)
                try:
                    found = self.kube.list(ref, label_selector=selector)
                except Forbidden:
                    listed = [e for e in inventory.entries if (e.api_version, e.kind) == (api_version, kind)]
                    found = [o for e in listed if (o := self.kube.get(ref, e.name, e.namespace)) is not None]
            except KindNotServed:
                continue
            out += [o for o in found if marks(o).cluster == cluster]
        return out

    def inventory(self, namespace: str) -> tuple[Inventory, str]:
        from agent.loop import INVENTORY_NAME

        cm = self.kube.get(self.kube.kind("v1", "ConfigMap"), INVENTORY_NAME, namespace)
        return _inventory(cm)


class FileLive:
    """``kubectl get -o yaml`` output standing in for the cluster; the dry run is ``overlay``."""

    dry_run_kind = "offline"

    def __init__(self, objects: Sequence[Obj]):
        self.objects = {manifest_identity(o): o for o in objects}

    def get(self, manifest: Obj) -> Obj | None:
        return self.objects.get(manifest_identity(manifest))

    def dry_run(self, body: Obj) -> Obj:
        out: Obj = overlay(self.get(body), body)
        return out

    def owned(self, cluster: str, inventory: Inventory, kinds: set[tuple[str, str]]) -> list[Obj]:
        return [o for o in self.objects.values() if marks(o).cluster == cluster]

    def inventory(self, namespace: str) -> tuple[Inventory, str]:
        from agent.loop import INVENTORY_NAME

        return _inventory(self.objects.get(f"/ConfigMap/{namespace}/{INVENTORY_NAME}"))


def _inventory(cm: Mapping[str, Any] | None) -> tuple[Inventory, str]:
    data = (cm or {}).get("data") or {}
    try:
        return Inventory.from_data(data), str(data.get("bundleCommit", ""))
    except (ValueError, KeyError, TypeError):
        return Inventory(), ""  # unreadable: no extra kinds to look at, no descent to prove


def read_live_file(path: Path) -> list[Obj]:
    """The objects of a List or multi-document YAML file (``-``: stdin), bounded and alias-free.
    A parse error names line and column only: the offending line may hold a Secret's value."""
    try:
        with sys.stdin.buffer if str(path) == "-" else path.open("rb") as f:
            data = f.read(MAX_LIVE_BYTES + 1)
        if len(data) > MAX_LIVE_BYTES:
            raise Usage(f"--live {path}: larger than the limit of {MAX_LIVE_BYTES} bytes")
        docs = list(yaml.load_all(data.decode("utf-8"), Loader=_LiveLoader))  # a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise Usage(f"--live {path}: not YAML: {where}{e.problem or e.context}") from e
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise Usage(f"--live {path}: {type(e).__name__}: {getattr(e, 'strerror', '') or 'unreadable'}") from e
    objects: list[Obj] = []
    for n, doc in enumerate(docs, 1):
        items = (
            doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        )
        for item in items if isinstance(items, list) else [items]:
            if item is None:
                continue
            try:
                manifest_identity(item if isinstance(item, Mapping) else {})
            except BundleError as e:
                raise Usage(f"--live {path}: document {n}: {e}") from e
            objects.append(item)
    return objects


class _LiveLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Safe, no aliases (a bounded file must not expand), timestamps kept as strings."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed")
        return super().compose_node(parent, index)


_LiveLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


# -- the bundle ----------------------------------------------------------------------------------
def bundle_from_dir(root: Path, cluster: str) -> tuple[str, dict[str, bytes]]:
    """A checked-out bundle branch, verified as the agent verifies a fetched one."""
    if not root.is_dir():
        raise Usage(f"--bundle-dir {root}: not a directory")
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/") or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file() or len(files) > MAX_FILES:
            raise Usage(f"--bundle-dir {root}: {rel} is a link, special or one file too many")
        total += path.stat().st_size
        if total > MAX_BUNDLE_DIR_BYTES:
            raise Usage(f"--bundle-dir {root}: larger than {MAX_BUNDLE_DIR_BYTES} bytes")
        files[rel] = path.read_bytes()
    problems = verify(files, cluster)
    if problems:
        raise Usage(f"--bundle-dir {root}: the bundle failed verification: " + "; ".join(problems[:5]))
    return "", files


def bundle_from_repo(
    url: str, cluster: str, credentials: GitCredentials, timeout: float, last: str
) -> tuple[str, dict[str, bytes]]:
    """``fleet/bundles/<cluster>`` fetched, verified and proved to descend from ``last`` (the
    commit the member's inventory records) by the agent's own Git door, in a throw-away clone."""
    from agent.source import GitSource

    with tempfile.TemporaryDirectory(prefix="fleetsync-diff-") as tmp:
        verifier: Callable[[Mapping[str, bytes]], list[str]] = lambda f: verify(f, cluster)  # noqa: E731
        with GitSource(url, cluster, Path(tmp), verifier, credentials, timeout) as source:
            fetched = source.fetch_bundle(last or None)
    if fetched is None:
        raise Usage(f"the fleet repo has no branch fleet/bundles/{cluster}: is --cluster right?")
    return fetched.commit, dict(fetched.files)


# -- which of the two ----------------------------------------------------------------------------
@contextmanager
def open_target(live: Path | None, kubeconfig: str | None, context: str | None) -> Iterator[Live]:
    if live is not None:
        yield FileLive(read_live_file(live))
        return
    from agent.apply.kube import KubeClient, KubeconfigError

    try:
        kube = KubeClient.from_kubeconfig(kubeconfig, context, connections=WORKERS)
    except KubeconfigError as e:
        raise Usage(str(e)) from e
    with kube:
        yield ClusterLive(kube)
