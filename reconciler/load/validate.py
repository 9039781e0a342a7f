"""``fleetsync validate``: load a fleet repo, check references between objects, report everything.

Loading (reconciler/load/fleet.py) checks each object on its own; this module adds what needs the
whole repo: an override's placement, a staged run's strategy and placement, an eviction's
placement and cluster, a disruption budget's placement, an approval's run all exist (KubeFleet
would accept such objects and then fail them at run time; in Git we can say so at review time).
References are read from the objects' source documents so every finding points at the field
that names the missing object.

The hub runs the same checks on every commit (``check_references``), so ``validate`` and the hub
classify alike: every reference finding is object-scoped and never holds a commit. A dangling
reference is a warning when the object then simply applies to nothing (an override, a disruption
budget, an approval); it is an error when the object cannot do anything meaningful, and then the
hub says so with KubeFleet's condition: a staged run without its placement or strategy, or on a
placement that is not External, is ``Initialized=False`` (``UpdateRunInitializedFailed``); an
eviction without its placement or cluster, or from a PickFixed placement, is ``Valid=False``.

Output is stable for machines: the JSON form (docs/validate.md) is versioned, findings are
sorted by file, line and column, and the exit code is 0 clean / 1 errors (warnings alone do
not fail).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fleetsync_contract import CONTRACT_API_VERSION, identity, parse_identity
from reconciler.errors import SCOPE_OBJECT, Finding
from reconciler.load.fleet import LoadResult, load_directory
from reconciler.load.yamldoc import Document, dotted

PLACEMENT_GROUP = "placement.kubernetes-fleet.io"
CLUSTER_GROUP = "cluster.kubernetes-fleet.io"
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
MAX_MEMBER_NAME = 63


@dataclass(frozen=True, slots=True)
class ValidateResult:
    path: str
    findings: tuple[Finding, ...]
    kinds: Mapping[str, int]  # objects declared, by kind

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity != "error")

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def objects(self) -> int:
        return sum(self.kinds.values())


def _placement(kind: str, namespace: str, name: str) -> str:
    return identity(
        PLACEMENT_GROUP, kind, namespace if kind.startswith(("Resource", "Staged", "Approval")) else "", name
    )


class _Refs:
    """Reference checks over the declared objects' source documents."""

    def __init__(self, documents: Mapping[str, Document]):
        self.documents = documents
        self.findings: list[Finding] = []

    def _get(self, data: Any, path: tuple[str, ...]) -> Any:
        for key in path:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
        return data

    def report(
        self, doc: Document, label: str, path: tuple[str | int, ...], message: str, severity: str = "error"
    ) -> None:
        line, col = doc.locate(path)
        self.findings.append(
            Finding(doc.file, line, col, dotted(path), message, label, severity, SCOPE_OBJECT)
        )

    def need(
        self,
        doc: Document,
        label: str,
        path: tuple[str, ...],
        target: str,
        what: str,
        consequence: str = "",
    ) -> Document | None:
        """The document ``target`` names, or a finding at ``path`` saying it does not exist: an
        error, or with a ``consequence`` (what the object then does) a warning."""
        found = self.documents.get(target)
        if found is None:
            _, kind, ns, name = parse_identity(target)
            where = f" in namespace {ns!r}" if ns else ""
            message = f"{what}: {kind} {name!r}{where} is not defined in this repo"
            if consequence:
                self.report(doc, label, path, f"{message}: {consequence}", "warning")
            else:
                self.report(doc, label, path, message)
        return found

    def check(self, ident: str, doc: Document) -> None:
        group, kind, ns, name = parse_identity(ident)
        label = f"{kind}/{name}"
        if group == CLUSTER_GROUP and kind == "MemberCluster" and len(name) > MAX_MEMBER_NAME:
            self.report(
                doc,
                label,
                ("metadata", "name"),
                f"MemberCluster names must be at most {MAX_MEMBER_NAME} characters (KubeFleet); it also names the cluster's bundle branch",
            )
        if group != PLACEMENT_GROUP:
            return
        checker = _CHECKS.get(kind)
        if checker is not None:
            checker(self, doc, label, kind, ns, name)

    def _override(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        ref = self._get(doc.data, ("spec", "placement"))
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"]:
            rp = kind == "ResourceOverride" and ref.get("scope") == "Namespaced"
            target = _placement("ResourcePlacement" if rp else "ClusterResourcePlacement", ns, ref["name"])
            self.need(
                doc,
                label,
                ("spec", "placement", "name"),
                target,
                "the override's placement",
                "the override applies to nothing",
            )

    def _staged_run(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        namespaced = not kind.startswith("Cluster")
        self._run(doc, label, ns if namespaced else "", namespaced)

    def _eviction(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        data = doc.data
        pname = self._get(data, ("spec", "placementName"))
        if isinstance(pname, str) and pname:
            placement = self.need(
                doc,
                label,
                ("spec", "placementName"),
                _placement("ClusterResourcePlacement", "", pname),
                "the eviction's placement",
            )
            ptype = self._get(placement.data if placement else None, ("spec", "policy", "placementType"))
            if ptype == "PickFixed":
                self.report(
                    doc,
                    label,
                    ("spec", "placementName"),
                    f"placement {pname!r} is PickFixed: KubeFleet refuses evictions from PickFixed placements "
                    "(remove the cluster from clusterNames instead)",
                )
        cname = self._get(data, ("spec", "clusterName"))
        if isinstance(cname, str) and cname:
            self.need(
                doc,
                label,
                ("spec", "clusterName"),
                identity(CLUSTER_GROUP, "MemberCluster", "", cname),
                "the eviction's cluster",
            )

    def _budget(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        self.need(
            doc,
            label,
            ("metadata", "name"),
            _placement("ClusterResourcePlacement", "", name),
            "a disruption budget protects the placement of the same name",
            "the budget protects nothing",
        )

    def _approval(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        run_name = self._get(doc.data, ("spec", "parentStageRollout"))
        if isinstance(run_name, str) and run_name:
            namespaced = not kind.startswith("Cluster")
            run_kind = "StagedUpdateRun" if namespaced else "ClusterStagedUpdateRun"
            self.need(
                doc,
                label,
                ("spec", "parentStageRollout"),
                identity(PLACEMENT_GROUP, run_kind, ns if namespaced else "", run_name),
                "the approval's update run",
                "the approval approves nothing",
            )

    def _fixed_clusters(self, doc: Document, label: str, kind: str, ns: str, name: str) -> None:
        policy = self._get(doc.data, ("spec", "policy"))
        if isinstance(policy, dict) and policy.get("placementType") == "PickFixed":
            for i, cname in enumerate(policy.get("clusterNames") or []):
                if (
                    isinstance(cname, str)
                    and identity(CLUSTER_GROUP, "MemberCluster", "", cname) not in self.documents
                ):
                    self.report(
                        doc,
                        label,
                        ("spec", "policy", "clusterNames", i),
                        f"no MemberCluster {cname!r} in this repo: the placement will report it as not scheduled",
                        "warning",
                    )

    def _run(self, doc: Document, label: str, ns: str, namespaced: bool) -> None:
        data = doc.data
        pname = self._get(data, ("spec", "placementName"))
        if isinstance(pname, str) and pname:
            pkind = "ResourcePlacement" if namespaced else "ClusterResourcePlacement"
            placement = self.need(
                doc,
                label,
                ("spec", "placementName"),
                identity(PLACEMENT_GROUP, pkind, ns, pname),
                "the run's placement",
            )
            if (
                placement is not None
                and self._get(placement.data, ("spec", "strategy", "type")) != "External"
            ):
                self.report(
                    doc,
                    label,
                    ("spec", "placementName"),
                    f"placement {pname!r} does not use strategy.type External: KubeFleet fails to initialize "
                    "a staged update run for it (set spec.strategy.type: External on the placement)",
                )
        sname = self._get(data, ("spec", "stagedRolloutStrategyName"))
        if isinstance(sname, str) and sname:
            skind = "StagedUpdateStrategy" if namespaced else "ClusterStagedUpdateStrategy"
            self.need(
                doc,
                label,
                ("spec", "stagedRolloutStrategyName"),
                identity(PLACEMENT_GROUP, skind, ns, sname),
                "the run's strategy",
            )


# The reference checks of each fleet kind (a kind not listed names nothing that must exist).
_Check = Callable[[_Refs, Document, str, str, str, str], None]
_CHECKS: dict[str, _Check] = {
    "ClusterResourceOverride": _Refs._override,
    "ResourceOverride": _Refs._override,
    "ClusterStagedUpdateRun": _Refs._staged_run,
    "StagedUpdateRun": _Refs._staged_run,
    "ClusterResourcePlacementEviction": _Refs._eviction,
    "ClusterResourcePlacementDisruptionBudget": _Refs._budget,
    "ClusterApprovalRequest": _Refs._approval,
    "ApprovalRequest": _Refs._approval,
    "ClusterResourcePlacement": _Refs._fixed_clusters,
    "ResourcePlacement": _Refs._fixed_clusters,
}


def check_references(result: LoadResult) -> list[Finding]:
    refs = _Refs(result.documents)
    for ident, doc in result.documents.items():
        refs.check(ident, doc)
    return refs.findings


def validate_path(path: Path) -> ValidateResult:
    """Load and check a fleet repo directory; never raises for bad repo content."""
    if not path.is_dir():
        return ValidateResult(str(path), (Finding(str(path), 0, 0, "", "not a directory"),), {})
    result = load_directory(path)
    findings = list(result.findings)
    seen = {(f.file, f.line, f.field) for f in findings}
    for f in check_references(result):
        if f.field == "metadata.name" and (f.file, f.line, f.field) in seen:
            continue  # the kind's parser already reported this name
        findings.append(f)
    findings = sorted(set(findings), key=lambda f: (f.file, f.line, f.column, f.field, f.message))
    kinds = Counter(parse_identity(i)[1] for i in result.documents)
    return ValidateResult(str(path), tuple(findings), dict(sorted(kinds.items())))


def summary(result: ValidateResult) -> dict[str, Any]:
    return {
        "errors": result.errors,
        "warnings": result.warnings,
        "objects": result.objects,
        "kinds": dict(result.kinds),
    }


def render(result: ValidateResult, output: str = "text") -> str:
    """``text``: one finding per line and a summary line; ``json``: the documented document."""
    if output == "json":
        doc = {
            "apiVersion": CONTRACT_API_VERSION,
            "kind": "ValidationResult",
            "path": result.path,
            "ok": result.ok,
            "findings": [f.to_dict() for f in result.findings],
            "summary": summary(result),
        }
        return json.dumps(doc, indent=2) + "\n"
    if output != "text":
        raise ValueError(f"unknown output format {output!r}")
    lines = [
        str(f) if f.severity == "error" else str(replace(f, message=f"{f.severity}: {f.message}"))
        for f in result.findings
    ]
    status = "valid" if result.ok else "invalid"
    lines.append(
        f"{result.path}: {status}: {result.errors} error(s), {result.warnings} warning(s) in {result.objects} object(s)"
    )
    return "\n".join(lines) + "\n"


def exit_code(result: ValidateResult) -> int:
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS
