"""``fleetsync get provenance CLUSTER OBJECT``: why this object is on this cluster, and who approved it.

Answered from Git alone (no cluster access): the cluster's report branch says which bundle
commit its agent applied and what became of the object; that bundle commit's ``bundle.yaml``
names the placement that carries the object and the fleet commit it was rendered from, and its
trailers (reconciler/gitstore/lineage.py) the signer of that fleet commit as the hub saw it when it
rendered — judged by the repo's own ``verify.allowedSignersFile`` in that commit — and, for a
bundle whose hub could not check it (an older hub, or one with no allowed signers then), the
signer judged now the same way; the bundle commit's own signature names the hub key. The fleet branch's first-parent
line gives the commit that brought the fleet commit in (the PR merge commit where the Git host
makes one), and ``fleet/status`` the overrides that apply to the placement on that cluster now.
Each step is a chain link an auditor can re-check with plain git (``git log``, ``git
verify-commit``); the command only follows them and prints one document.
"""

from __future__ import annotations

import json
from typing import Any

from fleetsync_contract import BUNDLE_REF_PREFIX, REPORT_REF_PREFIX, STATUS_REF, parse_identity
from fleetsync_contract.bundle import BUNDLE_FILE, BundleError, FileEntry, parse_bundle
from fleetsync_contract.canonical import dump, load
from fleetsync_contract.report import ClusterReport, ReportFormatError, parse_report_tree
from reconciler.errors import NotFound, UserError
from reconciler.gitstore.lineage import (
    FLEET_SIGNER,
    CommitInfo,
    bundle_signature,
    commit_info,
    landing,
    signer_of,
    trailer,
)
from reconciler.gitstore.repo import HubRepo

MAX_OBJECT_CHARS = 1024


def _matches(ident: str, wanted: str) -> bool:
    _, kind, ns, name = parse_identity(ident)
    return wanted in (ident, f"{kind}/{ns}/{name}", f"{kind}/{name}")


def _report(repo: HubRepo, cluster: str) -> ClusterReport:
    tip = repo.hub_refs().get(f"refs/heads/{REPORT_REF_PREFIX}{cluster}")
    if tip is None:
        raise NotFound(
            f"cluster {cluster!r} has no report branch ({REPORT_REF_PREFIX}{cluster}): no agent reported"
        )
    try:
        return parse_report_tree(repo.read_files(tip))[0]
    except (ReportFormatError, ValueError) as e:
        raise NotFound(f"the report of {cluster!r} cannot be read: {e}") from e


def _commit_doc(info: CommitInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    doc: dict[str, Any] = {
        "commit": info.commit,
        "author": info.author,
        "time": info.time,
        "subject": info.subject,
    }
    if len(info.parents) > 1:
        doc["merge"] = True
    return doc


def _overrides(repo: HubRepo, placement: str, cluster: str) -> dict[str, Any]:
    status = repo.hub_refs().get(f"refs/heads/{STATUS_REF}")
    data = repo.read_file(status, f"placements/{placement}.yaml") if status else None
    if data is None:
        return {}
    doc = load(data)
    status_doc = doc.get("status") if isinstance(doc, dict) else None
    entries = status_doc.get("placementStatuses") if isinstance(status_doc, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("clusterName") == cluster:
            return {
                k: entry[k]
                for k in ("applicableClusterResourceOverrides", "applicableResourceOverrides")
                if k in entry
            }
    return {}


def _signer(repo: HubRepo, bundle_commit: str, fleet: str) -> str:
    """The fleet commit's signer as the bundle records it; judged now (by the repo's allowed
    signers in that commit) when the hub that rendered it could not check it or recorded none."""
    recorded = trailer(repo, bundle_commit, FLEET_SIGNER)
    if recorded and "not checked" not in recorded:
        return recorded
    now = signer_of(repo, fleet)
    if "not checked" in now:
        return recorded or "not recorded (a bundle from an older hub)"
    return f"{now}, checked now (the bundle records: {recorded or 'nothing'})"


def provenance(repo: HubRepo, cluster: str, obj: str) -> dict[str, Any]:
    """The provenance document of ``obj`` (an identity, ``Kind/namespace/name`` or ``Kind/name``)."""
    if not obj or len(obj) > MAX_OBJECT_CHARS or obj.count("/") not in (1, 2, 3):
        raise UserError(
            f"{obj[:80]!r}: name the object as KIND/NAMESPACE/NAME (or KIND/NAME, or group/Kind/ns/name)"
        )
    repo.refresh()
    report = _report(repo, cluster)
    results = [(p, o) for p in report.placements for o in p.objects if _matches(o.identity, obj)]
    if not report.applied_bundle_commit:
        raise NotFound(f"the agent of {cluster!r} has applied no bundle yet")
    bundle_commit = report.applied_bundle_commit
    try:
        bundle = parse_bundle({BUNDLE_FILE: repo.read_file(bundle_commit, BUNDLE_FILE) or b""})
    except BundleError as err:
        raise NotFound(f"bundle {bundle_commit[:12]} of {cluster!r} cannot be read: {err}") from err
    entries: list[FileEntry] = [e for e in bundle.files if _matches(e.identity, obj)]
    if not entries:
        raise NotFound(
            f"{obj} is not in the bundle {bundle_commit[:12]} the agent of {cluster!r} applied "
            f"(fleetsync get clusters {cluster} -o yaml shows what it holds)"
        )
    fleet = bundle.source_commit
    tip = repo.source_commit()
    items = []
    for e in entries:
        outcome = next((o for p, o in results if p.key == e.placement and o.identity == e.identity), None)
        item: dict[str, Any] = {"identity": e.identity, "placement": e.placement}
        if e.envelope is not None:
            item["envelope"] = e.envelope.to_dict()
        if outcome is not None:
            item["outcome"] = outcome.outcome.value
            item["availability"] = outcome.availability.value
        overrides = _overrides(repo, e.placement, cluster)
        if overrides:
            item["overrides"] = overrides
        items.append(item)
    return {
        "cluster": cluster,
        "objects": items,
        "bundle": {
            "id": bundle.bundle_id,
            "commit": bundle_commit,
            "branch": f"{BUNDLE_REF_PREFIX}{cluster}",
            "signature": bundle_signature(repo, bundle_commit),
            "appliedAt": report.observed_time,
        },
        "fleetCommit": {
            **(_commit_doc(commit_info(repo, fleet)) or {}),
            "signer": _signer(repo, bundle_commit, fleet),
        },
        "mergedBy": _commit_doc(landing(repo, fleet, tip) if tip else None),
    }


def _table(doc: dict[str, Any]) -> str:
    fleet, bundle, merged = doc["fleetCommit"], doc["bundle"], doc["mergedBy"]
    lines = []
    for item in doc["objects"]:
        lines.append(
            f"OBJECT        {item['identity']} on {doc['cluster']}: {item.get('outcome', 'not reported')}"
        )
        lines.append(f"PLACEMENT     {item['placement']}")
        for key, value in (item.get("overrides") or {}).items():
            lines.append(f"OVERRIDES     {key}: {json.dumps(value)}")
    lines.append(f"BUNDLE        {bundle['commit'][:12]} {bundle['id'][:19]} ({bundle['signature']})")
    lines.append(
        f"FLEET COMMIT  {fleet['commit'][:12]} {fleet['author']} {fleet['time']}: {fleet['subject']}"
    )
    lines.append(f"SIGNER        {fleet['signer']}")
    if merged is None:
        lines.append("MERGED BY     not on the fleet branch any more")
    elif merged.get("merge"):
        lines.append(f"MERGED BY     {merged['commit'][:12]} {merged['author']}: {merged['subject']}")
    else:
        lines.append(
            f"MERGED BY     none: {merged['commit'][:12]} was pushed (or squash-merged) onto the branch"
        )
    return "\n".join(lines) + "\n"


def cli_get_provenance(repo: HubRepo, cluster: str | None, obj: str | None, output: str) -> str:
    """``fleetsync get provenance CLUSTER OBJECT`` in ``output`` (table, yaml or json)."""
    if not cluster or not obj:
        raise UserError("usage: fleetsync get provenance CLUSTER KIND/NAMESPACE/NAME")
    doc = provenance(repo, cluster, obj)
    if output == "json":
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if output == "yaml":
        return dump(doc).decode()
    return _table(doc)
