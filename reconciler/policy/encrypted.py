"""SOPS-encrypted objects on the hub: passed through as ciphertext, placed only on their recipients.

The hub holds no age identity and never decrypts (it could not: each Secret's data key is
encrypted to the member clusters' age recipients only). What it can check without a key, it
checks per cluster, right after that cluster's overrides are applied (this commit's render in
hub/pipeline.py, a staged run's older render in hub/rollout.py), because that is where a
render becomes one cluster's: an encrypted object is withheld from a cluster whose MemberCluster
annotation ``fleetsync.io/age-recipient`` is not among the file's recipients (the agent could not
decrypt it, and a bundle must not carry a Secret to a cluster that was not meant to read it); an
override that changes anything the file's MAC covers (an encrypted value, the ``sops`` section,
and — unless the file sets ``mac_only_encrypted`` — any value at all) is refused, since the
agent would reject the file as tampered; a file whose keys are not sorted, or that encrypts
``apiVersion``/``kind``/``metadata``, is refused with the fix, since the bundle's canonical YAML
sorts keys (the MAC is taken in document order) and the hub must read an object's identity.

A cluster that is not a recipient simply does not get the object — it is removed from that
cluster's render as a Delete override rule removes one (so a cluster dropped from the recipients
has it pruned), the rest of the placement rolls out there as usual, and the hub logs which
object it withheld from which cluster and the command that would place it: a Secret meant for
some clusters of a placement only is the ordinary case, not an error. The other refusals are
the author's to fix and are that cluster's override failure (``Overridden=False``, the message
naming the object, the cluster and the fix): the cluster keeps its previous render for the
placement, as for any failed override, so its bundle never receives the refused object.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any

from fleetsync_contract import sops
from reconciler.api.membercluster import MemberCluster
from reconciler.hub.overrides import OverriddenObject, OverrideResult, PreparedOverrides

log = logging.getLogger(__name__)

AGE_RECIPIENT_ANNOTATION = "fleetsync.io/age-recipient"
_SPLIT = re.compile(r"[\s,]+")
_IDENTITY_PATHS = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))


def cluster_recipients(member: MemberCluster | None) -> frozenset[str]:
    """The age recipients a MemberCluster declares (several, comma-separated, during a key rollover)."""
    if member is None:
        return frozenset()
    text = member.meta.annotations.get(AGE_RECIPIENT_ANNOTATION, "")
    return frozenset(r for r in _SPLIT.split(text) if r)


def guard(
    result: OverrideResult, prepared: PreparedOverrides, cluster: str, member: MemberCluster | None
) -> OverrideResult:
    """``result`` without the encrypted objects this cluster is not a recipient of (removed as a
    Delete rule removes them), or the cluster's failure naming the first it may not get at all."""
    if not result.ok:
        return result
    originals: dict[str, Mapping[str, Any]] | None = None
    withheld: list[str] = []
    for obj in result.objects:
        if not sops.is_sops(obj.manifest):
            continue
        if originals is None:
            originals = {t.obj.identity: t.obj.manifest for t in prepared.targets}
        error = refusal(obj, originals.get(obj.identity), cluster)
        if error:
            return dataclasses.replace(result, objects=(), error=error)
        note = not_a_recipient(obj, cluster, cluster_recipients(member))
        if note:
            log.info("%s", note)
            withheld.append(obj.identity)
    if not withheld:
        return result
    kept = tuple(o for o in result.objects if o.identity not in withheld)
    return dataclasses.replace(result, objects=kept, deleted=(*result.deleted, *withheld))


def not_a_recipient(obj: OverriddenObject, cluster: str, recipients: frozenset[str]) -> str:
    """Why this encrypted object is withheld from this cluster, or "" when the cluster may read it."""
    if recipients & set(sops.recipients(obj.manifest)):
        return ""
    declared = ", ".join(sorted(recipients)) or "none"
    return (
        f"{_what(obj)} is encrypted for {len(sops.recipients(obj.manifest))} age recipient(s) and cluster "
        f"{cluster} is not one of them (its {AGE_RECIPIENT_ANNOTATION}: {declared}): it is not placed "
        f"there; to place it, re-encrypt it with {_fix(cluster)}"
    )


def _what(obj: OverriddenObject) -> str:
    return f"{obj.kind} {obj.namespace + '/' if obj.namespace else ''}{obj.name}"


def _fix(cluster: str) -> str:
    return f"fleetsync secret encrypt --cluster {cluster} FILE (or --selector for several clusters)"


def refusal(obj: OverriddenObject, original: Mapping[str, Any] | None, cluster: str) -> str:
    """Why no cluster may get this encrypted object as rendered (the author must fix it), or ""."""
    what, fix = _what(obj), _fix(cluster)
    m = obj.manifest
    rules = sops.rules(m)
    if any(rules.encrypts(p) for p in _IDENTITY_PATHS):
        return (
            f"{what} is SOPS-encrypted with its apiVersion, kind or metadata encrypted, which the hub "
            f"must read to place it: encrypt only data and stringData ({fix})"
        )
    if not sops.keys_sorted(original if original is not None else m):  # as committed
        return (
            f"{what} is SOPS-encrypted with keys out of sorted order; bundles are written with sorted "
            f"keys, which would break its MAC: re-encrypt it with {fix}"
        )
    if obj.patched and original is not None:
        return _patch_refusal(what, original, m, rules)
    return ""


def _patch_refusal(what: str, original: Mapping[str, Any], patched: Mapping[str, Any], r: sops.Rules) -> str:
    def encrypted(doc: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
        return [(p, v) for p, v in sops.leaves(doc) if r.encrypts(p)]

    if original.get(sops.SOPS_KEY) != patched.get(sops.SOPS_KEY) or encrypted(original) != encrypted(patched):
        return (
            f"an override patches inside the encrypted values of {what}: the hub cannot read or change "
            "them; put the per-cluster value in the file itself and encrypt it for that cluster"
        )
    if not r.mac_only_encrypted and list(sops.leaves(original)) != list(sops.leaves(patched)):
        return (
            f"an override changes {what}, whose SOPS MAC covers every value, so the agent would "
            "reject it as tampered: change the file itself, or encrypt it with mac_only_encrypted"
        )
    return ""
