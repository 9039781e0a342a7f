"""``fleetsync diff``: what the agent's comparison finds between a cluster's bundle and the cluster.

The answer ``flux diff kustomization`` and ``argocd app diff`` give, for one member: the bundle
is read as the agent reads it and the live objects through the agent's client, or from a file
(fleetsync/cli/diffsources.py), and every object goes through the agent's own pieces — ``ownership`` for who may manage
it, ``compare.hub_side`` and ``patch_details`` for the differences, per placement strategy — so
the command cannot disagree with what the agent reports. States: in-sync, drifted, missing,
not-owned (the agent did not place it; ``ownership`` says whether it would take it over) and
extra-owned-not-in-bundle (ours, gone from the bundle: the agent would prune it, subject to its
prune rules).

Read-only: objects are only read (GET and LIST). A PartialComparison needs what the server would
make of the manifest, so it sends the agent's own server-side apply with ``dryRun=All``, as
``kubectl diff`` and ``flux diff`` do: the API server validates and admits it but persists
nothing, and refuses rather than call a webhook that does not declare itself free of side
effects on dry runs; it needs the ``patch`` verb the agent's identity holds anyway.
tests/fleetsync/cli/test_diff_live.py shows resource versions unchanged and nothing created.
``--live FILE`` (``kubectl get -o yaml`` output) replaces the cluster; its dry run is
``compare.overlay``, a merge without a server (docs/diff.md says where it differs).

Secret values never leave: details are redacted as the agent redacts them, and the text diff
shows ``***`` for a value, ``*** (before)`` / ``*** (after)`` when it changed, as ``kubectl diff``.
Exit codes as ``kubectl diff``: 0 no differences, 1 differences, 2 usage or config, 3 runtime.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.apply.compare import hub_side, patch_details
from agent.apply.inventory import Inventory, prune_opted_out
from agent.apply.manager import WHOLE_OBJECT, Strategy, Work
from agent.apply.takeover import Ownership, marks, ownership, stamped
from agent.errors import AgentError, KindNotServed, KubeError
from fleetsync.cli.conventions import EXIT_FINDINGS, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, fail
from fleetsync.cli.diffsources import WORKERS, Live, Usage, bundle_from_dir, bundle_from_repo, open_target
from fleetsync.cli.gitauth import (
    KnownHostsOpt,
    SshKeyOpt,
    TimeoutOpt,
    TokenFileOpt,
    UsernameOpt,
    git_credentials,
)
from fleetsync_contract.bundle import Bundle, BundleError, manifest_identity, parse_bundle
from fleetsync_contract.canonical import dump
from fleetsync_contract.gitauth import GIT_TIMEOUT_SECONDS
from fleetsync_contract.report import Envelope, PatchDetail

Obj = dict[str, Any]
_CLUSTER = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a MemberCluster name
WHOLE_LIVE_OBJECT = PatchDetail("/", None, "(the whole object)")


class State(StrEnum):
    IN_SYNC = "in-sync"
    DRIFTED = "drifted"
    MISSING = "missing"
    NOT_OWNED = "not-owned"
    EXTRA = "extra-owned-not-in-bundle"


class DiffOutput(StrEnum):
    diff = "diff"
    yaml = "yaml"
    json = "json"


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    identity: str
    api_version: str
    placement: str
    state: State
    details: tuple[PatchDetail, ...]
    live: Obj | None  # both sides as compared (irrelevant fields discarded), for the text diff
    hub: Obj | None
    comparison: str = ""
    ownership: str = ""
    degraded: bool = False


# -- the comparison, one object at a time ------------------------------------------------------
def diff_object(w: Work, live: Obj | None, cluster: str, placements: set[str], target: Live) -> ObjectDiff:
    """The agent's view of one bundle object: its ownership decision and its comparison."""
    api_version = str(w.manifest.get("apiVersion", ""))
    if live is None:
        whole = (WHOLE_OBJECT,)
        return ObjectDiff(w.identity, api_version, w.placement, State.MISSING, whole, None, w.manifest)
    own = ownership(live, cluster, w.placement, placements, w.strategy.allow_co_ownership)
    body = stamped(w.manifest, cluster, w.placement, "")  # our marks are discarded when compared
    hub, degraded = hub_side(w.manifest, w.strategy.comparison, lambda _m: target.dry_run(body))
    details = patch_details(hub, live)
    state = State.DRIFTED if details else State.IN_SYNC
    if own == Ownership.OURS or w.strategy.type == "ReportDiff":
        own = Ownership.OURS  # ReportDiff never takes an object over: only its differences count
    else:
        state = State.NOT_OWNED
    return ObjectDiff(
        w.identity,
        api_version,
        w.placement,
        state,
        details,
        live,
        hub,
        comparison=w.strategy.comparison,
        ownership="" if own == Ownership.OURS else own.value,
        degraded=degraded,
    )


def diff_bundle(
    bundle: Bundle,
    works: Sequence[Work],
    target: Live,
    cluster: str,
    placement: str | None,
    inventory: Inventory,
) -> list[ObjectDiff]:
    """Every object of ``works``, then what this cluster's agent placed that the bundle lacks (of
    the kinds in the bundle or the agent's inventory) and would prune."""
    placements = {p.key for p in bundle.placements}
    with ThreadPoolExecutor(WORKERS) as pool:  # a GET and a dry run per object: round trips add up
        out = list(pool.map(lambda w: _diff_safely(w, target, cluster, placements), works))
    kinds = {(str(w.manifest.get("apiVersion")), str(w.manifest.get("kind"))) for w in works}
    kinds |= {(e.api_version, e.kind) for e in inventory.entries}
    in_bundle = {f.identity for f in bundle.files}
    extras: dict[str, ObjectDiff] = {}
    for obj in target.owned(cluster, inventory, kinds):
        ident, owner = manifest_identity(obj), marks(obj).placement
        kept = prune_opted_out((obj.get("metadata") or {}).get("annotations"))  # the agent keeps it
        if ident not in in_bundle and not kept and (placement is None or owner == placement):
            api = str(obj.get("apiVersion", ""))
            extras[ident] = ObjectDiff(ident, api, owner, State.EXTRA, (WHOLE_LIVE_OBJECT,), obj, None)
    return out + [extras[k] for k in sorted(extras)]


def _diff_safely(w: Work, target: Live, cluster: str, placements: set[str]) -> ObjectDiff:
    """``diff_object`` with the live object read; a server error names the object (never a
    Secret's content: for a Secret only the status)."""
    try:
        try:
            live = target.get(w.manifest)
        except KindNotServed:
            live = None  # its CRD is not there yet: the object is missing with it
        return diff_object(w, live, cluster, placements, target)
    except KubeError as e:
        raise AgentError(f"{w.identity}: {_safe_message(e, w.manifest)}") from e


def _safe_message(e: KubeError, manifest: Mapping[str, Any]) -> str:
    if manifest.get("apiVersion") == "v1" and manifest.get("kind") == "Secret":
        return f"{e.reason or e.status or type(e).__name__} (Secret message withheld)"
    return e.message[:1024]


def works_of(bundle: Bundle, files: Mapping[str, bytes], placement: str | None) -> list[Work]:
    """The bundle's objects as the agent's loop makes them (``Agent._works``), of one placement."""
    from agent.bundles import load_verified

    strategies = {p.key: Strategy.parse(p.apply_strategy) for p in bundle.placements}
    out = []
    for e in bundle.files:
        if placement is None or e.placement == placement:
            env = Envelope(e.envelope.kind, e.envelope.namespace, e.envelope.name) if e.envelope else None
            out.append(
                Work(e.placement, e.identity, load_verified(files[e.path]), strategies[e.placement], env)
            )
    return out


def placement_key(bundle: Bundle, wanted: str | None) -> str | None:
    """``--placement``: a placement key, ``NAMESPACE/NAME`` or a name, as the bundle lists it."""
    if wanted is None:
        return None
    found = {p.key for p in bundle.placements if wanted in (p.key, p.name, f"{p.namespace}/{p.name}")}
    if wanted in found or len(found) == 1:
        return wanted if wanted in found else found.pop()
    known = ", ".join(sorted(found) or [p.key for p in bundle.placements]) or "none"
    why = "names several placements" if found else f"not in the bundle for {bundle.cluster}"
    raise Usage(f"--placement {wanted!r}: {why} (placements: {known})")


# -- output --------------------------------------------------------------------------------------
def _file_name(d: ObjectDiff) -> str:
    """kubectl diff's file name: ``apps.v1.Deployment.NAMESPACE.NAME``."""
    _group, kind, namespace, name = d.identity.split("/")
    return ".".join(p for p in (d.api_version.replace("/", "."), kind, namespace, name) if p)


def _masked(live: Obj | None, hub: Obj | None) -> tuple[Obj | None, Obj | None]:
    """A Secret's values as ``kubectl diff`` masks them: ``***``, or ``*** (before)`` and
    ``*** (after)`` where they differ; only the keys are seen."""
    sides = [o for o in (live, hub) if o is not None]
    if not any(o.get("apiVersion") == "v1" and o.get("kind") == "Secret" for o in sides):
        return live, hub
    live, hub = (dict(live) if live else None), (dict(hub) if hub else None)
    for field in ("data", "stringData"):
        before, after = ((o or {}).get(field) for o in (live, hub))
        if not isinstance(before, Mapping) or not isinstance(after, Mapping):
            for o in (live, hub):
                if o is not None and field in o:
                    o[field] = {k: "***" for k in o[field]} if isinstance(o[field], Mapping) else "***"
            continue
        changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
        if live is not None:
            live[field] = {k: "*** (before)" if k in changed else "***" for k in before}
        if hub is not None:
            hub[field] = {k: "*** (after)" if k in changed else "***" for k in after}
    return live, hub


def _shown(obj: Obj | None) -> Obj | None:
    """``obj`` as compared (``discard_irrelevant``), named again and without empty label maps."""
    from agent.apply.compare import discard_irrelevant

    if obj is None:
        return None
    out = discard_irrelevant(obj)
    given = obj.get("metadata") or {}
    meta = {k: given[k] for k in ("name", "namespace") if given.get(k)}
    out["metadata"] = meta | {k: v for k, v in out["metadata"].items() if v != {}}
    return out


def _text(d: ObjectDiff) -> str:
    live, hub = _masked(_shown(d.live), _shown(d.hub))
    before = dump(live).decode().splitlines(keepends=True) if live is not None else []
    after = dump(hub).decode().splitlines(keepends=True) if hub is not None else []
    name = _file_name(d)
    lines = list(difflib.unified_diff(before, after, f"live/{name}", f"bundle/{name}"))
    if not lines:
        return ""
    return f"diff -u -N live/{name} bundle/{name}\n" + "".join(lines)


def _doc(d: ObjectDiff) -> Obj:
    out: Obj = {
        "identity": d.identity,
        "apiVersion": d.api_version,
        "placement": d.placement,
        "state": d.state.value,
    }
    if d.ownership:
        out["ownership"] = d.ownership
    if d.comparison:
        out["comparison"] = d.comparison
    if d.degraded:
        out["degraded"] = "compared in full: the server refused the dry run as invalid"
    out["differences"] = [
        {"path": x.path}
        | ({"valueInHub": x.value_in_hub} if x.value_in_hub is not None else {})
        | ({"valueInMember": x.value_in_member} if x.value_in_member is not None else {})
        for x in d.details
        if d.state != State.IN_SYNC
    ]
    return out


def render(diffs: Sequence[ObjectDiff], output: DiffOutput, head: Mapping[str, Any]) -> str:
    if output == DiffOutput.diff:
        return "".join(_text(d) for d in diffs if d.state != State.IN_SYNC)
    doc = {**head, "objects": [_doc(d) for d in diffs]}
    if output == DiffOutput.json:
        return json.dumps(doc, indent=2) + "\n"
    return dump(doc).decode()


def diff_command(
    cluster: Annotated[str, typer.Option("--cluster", help="The member cluster (its MemberCluster name).")],
    repo: Annotated[
        str | None, typer.Option("--repo", help="Fleet repo URL or path (reads fleet/bundles/CLUSTER).")
    ] = None,
    bundle_dir: Annotated[
        Path | None, typer.Option("--bundle-dir", help="A checked-out bundle branch instead of --repo.")
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", help="Kubeconfig of the member (default: in-cluster, then ~/.kube)."),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    live: Annotated[
        Path | None, typer.Option("--live", help="`kubectl get -o yaml` output instead of the cluster.")
    ] = None,
    placement: Annotated[
        str | None, typer.Option("--placement", help="Only this placement's objects (key or name).")
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", help="The agent's namespace (holds its inventory).")
    ] = "fleetsync-system",
    output: Annotated[
        DiffOutput, typer.Option("--output", "-o", help="diff (unified, kubectl's style), yaml or json.")
    ] = DiffOutput.diff,
    git_token_file: TokenFileOpt = None,
    git_username: UsernameOpt = None,
    git_ssh_key_file: SshKeyOpt = None,
    git_known_hosts_file: KnownHostsOpt = None,
    git_timeout: TimeoutOpt = GIT_TIMEOUT_SECONDS,
) -> None:
    """Compare a cluster's bundle with what is live on it, read-only, as the agent compares them.

    Exit 0 no differences, 1 differences, 2 usage or config, 3 Git or the cluster failed.

    fleetsync diff --cluster prod-eu-1 --repo https://git.example.com/fleet.git --kubeconfig prod.kubeconfig

    fleetsync diff --cluster dev --bundle-dir ./bundle --live live.yaml -o yaml
    """
    auth = git_credentials(git_token_file, git_username, git_ssh_key_file, git_known_hosts_file)
    try:
        _check_flags(cluster, repo, bundle_dir, live, kubeconfig, context)
        with open_target(live, kubeconfig, context) as target:
            inventory, last = target.inventory(namespace)
            if repo is not None:
                local = Path(repo)  # git runs in the throw-away clone: a relative path must not move
                url = str(local.resolve()) if "://" not in repo and local.exists() else repo
                commit, files = bundle_from_repo(url, cluster, auth, git_timeout, last)
            else:
                commit, files = bundle_from_dir(bundle_dir or Path(), cluster)
            bundle = parse_bundle(files)
            key = placement_key(bundle, placement)
            diffs = diff_bundle(bundle, works_of(bundle, files, key), target, cluster, key, inventory)
    except (Usage, BundleError) as e:
        raise fail(str(e), EXIT_USAGE) from e
    except AgentError as e:  # Git or the cluster: unreachable, refused, a bundle refused
        raise fail(str(e), EXIT_RUNTIME) from e
    head = {
        "cluster": cluster,
        "bundleId": bundle.bundle_id,
        "bundleCommit": commit,
        "dryRun": target.dry_run_kind,
    }
    typer.echo(render(diffs, output, head), nl=False)
    for d in diffs:
        if d.state != State.IN_SYNC:
            typer.echo(f"{d.state.value}: {d.identity} ({d.placement})", err=True)
    raise typer.Exit(EXIT_FINDINGS if any(d.state != State.IN_SYNC for d in diffs) else EXIT_OK)


def _check_flags(
    cluster: str,
    repo: str | None,
    bundle_dir: Path | None,
    live: Path | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    if not _CLUSTER.match(cluster):
        raise Usage(f"--cluster {cluster!r}: not a cluster name (lower-case letters, digits, '-' and '.')")
    if repo is not None and repo.startswith("-"):
        raise Usage(f"--repo {repo!r}: a URL or a path, never an option to git")
    if (repo is None) == (bundle_dir is None):
        raise Usage("give the bundle with exactly one of --repo and --bundle-dir")
    if live is not None and (kubeconfig or context):
        raise Usage("--live replaces the cluster: drop --kubeconfig and --context")
