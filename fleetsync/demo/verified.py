"""What ``fleetsync demo --secure`` proves at the end, read back as a user or auditor would.

Nothing here trusts the demo's own bookkeeping: the hub's judgement of the fleet head comes from
git (reconciler/gitstore/signatures.py, the check the hub makes), each agent's verdict on its
bundle from its report on ``fleet/reports/<cluster>``, the bundle's signer from the bundle commit
itself, the Secret from each member's API server, and the absence of its value from reading every
file at the tip of every ref of the fleet repo. The value is only ever compared, never shown: a
line says that it matches and prints the digest ``Trust.digest``.
"""

from __future__ import annotations

import base64
from typing import Any

from fleetsync.demo.fleet import LocalFleet
from fleetsync.demo.trust import NAMESPACE, SECRET, SECRET_KEY, Trust
from fleetsync.demo.view import Output
from reconciler.errors import FleetsyncError
from reconciler.gitstore.lineage import bundle_signature
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signatures import head_signature
from reconciler.hub.inputs import HubInputs
from reconciler.status.members import SOURCE_VERIFIED

SECRET_IDENTITY = f"/Secret/{NAMESPACE}/{SECRET}"


class TrustNotShown(FleetsyncError):
    """Something --secure promises did not hold; the message says what."""


def show_trust(fleet: LocalFleet, trust: Trust, out: Output) -> str:
    """The trust stage: the fleet head, every agent's bundle, the Secret, the scan."""
    assert fleet.hub is not None, "create_repo() first"
    inputs = fleet.inputs()
    _fleet_head(fleet.hub, inputs, out)
    _agents(fleet.hub, inputs, trust, sorted(fleet.members), out)
    _secret(fleet, inputs, trust, out)
    refs, files = _scan(fleet.hub, trust)
    out.line(
        f"scanned {files} files at the tips of {refs} refs (main, bundles, reports, status, heartbeats): "
        "the Secret's value is in none of them, neither plain nor base64"
    )
    return f"{len(fleet.members)} agents verified, {len(trust.recipients)} recipients"


def _fleet_head(hub: HubRepo, inputs: HubInputs, out: Output) -> None:
    head = hub.source_commit()
    if not head:
        raise TrustNotShown("the fleet repo has no main branch")
    signature, verification = head_signature(hub, head)
    rendered = inputs.memory.source_commit
    if not signature.good or rendered != head:
        raise TrustNotShown(
            f"main {head[:12]} is {signature.describe()} and the hub rendered {rendered[:12] or 'nothing'}"
        )
    out.line(
        f"fleet repo: main {head[:12]} is {signature.describe()} {signature.key} "
        f"(verify.commits: {verification.commits}); the hub rendered it"
    )


def _agents(hub: HubRepo, inputs: HubInputs, trust: Trust, clusters: list[str], out: Output) -> None:
    for cluster in clusters:
        view = inputs.agents.get(cluster)
        report = view.report if view is not None else None
        if report is None or not report.applied_bundle_commit:
            raise TrustNotShown(f"agent {cluster} has reported no applied bundle")
        if not report.source.verified or report.source.signed_by != trust.hub.fingerprint:
            raise TrustNotShown(f"agent {cluster} did not verify its bundle: {report.source.message}")
        signed = bundle_signature(hub, report.applied_bundle_commit)
        if signed != f"signed by {trust.hub.fingerprint}":
            raise TrustNotShown(f"the bundle agent {cluster} runs is {signed}, not by the hub's key")
        condition = _source_verified(inputs, cluster)
        if condition != "True":
            raise TrustNotShown(f"fleet/status shows {cluster} SourceVerified={condition or 'absent'}")
        out.line(
            f"agent {cluster}: runs bundle {report.applied_bundle_commit[:12]}, {signed} (the hub's "
            "key, the only one it trusts); fleet/status: SourceVerified=True"
        )


def _source_verified(inputs: HubInputs, cluster: str) -> str:
    """The status of the cluster's SourceVerified condition on fleet/status ("" when absent)."""
    doc = inputs.previous_doc(f"clusters/{cluster}.yaml") or {}
    for c in (doc.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == SOURCE_VERIFIED:
            return str(c.get("status", ""))
    return ""


def _secret(fleet: LocalFleet, inputs: HubInputs, trust: Trust, out: Output) -> None:
    for cluster, member in sorted(fleet.members.items()):
        previous = inputs.bundles.get(cluster)
        in_bundle = previous is not None and any(f.identity == SECRET_IDENTITY for f in previous.bundle.files)
        live = _live_value(member.kube.get(member.kube.kind("v1", "Secret"), SECRET, NAMESPACE))
        if cluster in trust.recipients:
            if not in_bundle or live != trust.plaintext:
                raise TrustNotShown(
                    f"{cluster} is a recipient, but its bundle {'holds' if in_bundle else 'lacks'} the "
                    f"Secret and the live value {'is missing' if live is None else 'does not match'}"
                )
            out.line(
                f"{cluster}: live Secret {NAMESPACE}/{SECRET} holds the plaintext ({trust.digest}), "
                "decrypted by its agent; its bundle holds only ciphertext"
            )
        elif in_bundle or live is not None:
            raise TrustNotShown(f"{cluster} is not a recipient, but the Secret reached it")
        else:
            out.line(f"{cluster}: not a recipient: the hub kept the Secret out of its bundle")


def _live_value(obj: dict[str, Any] | None) -> str | None:
    if obj is None:
        return None
    raw = (obj.get("data") or {}).get(SECRET_KEY)
    return base64.b64decode(raw).decode(errors="replace") if isinstance(raw, str) else ""


def _scan(hub: HubRepo, trust: Trust) -> tuple[int, int]:
    """(refs, files) read; TrustNotShown naming ``ref:path`` when any file holds the value."""
    refs = dict(hub.hub_refs())
    main = hub.source_commit()
    if main:
        refs["main"] = main
    files = 0
    for ref, commit in sorted(refs.items()):
        for path, data in hub.read_files(commit).items():
            files += 1
            if any(n in data for n in trust.needles()):
                raise TrustNotShown(f"{ref}:{path} holds the Secret's value")
    return len(refs), files
