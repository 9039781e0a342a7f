"""What one cluster gets in base and in head, compared object by object (``fleetsync plan``).

A plan is posted where everyone with read access to the pull request sees it, so Secret values
are masked before any text is made: ``data``/``stringData`` values become a fixed mask, with
"changed" on the head side where the value differs, so the diff says *that* a key changed and
never *what* it is (not even a hash: short values would be guessable from one).

Diff text names the cluster by the placeholder ``${MEMBER-CLUSTER-NAME}`` (as overrides write
it), so two clusters whose objects differ only by their own name — a cluster-name label, say —
show the same change and are grouped in one section. Messages (a scheduler's reason, a policy's
message) are generalised the same way to group clusters, but are shown in words (``describe``):
a reader must never see a placeholder where the hub would write a name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleetsync_contract.canonical import dump
from reconciler.policy.secrets import MASK

CLUSTER_PLACEHOLDER = "${MEMBER-CLUSTER-NAME}"
MAX_DIFF_LINES = 400  # per object; the rest is cut with a note (the JSON has the same cut)

ObjectKey = tuple[str, str]  # (placement key, identity)


@dataclass(frozen=True, slots=True)
class ObjectChange:
    placement: str
    identity: str
    action: str  # added | changed | removed
    diff: str

    def to_dict(self) -> dict[str, str]:
        return {
            "placement": self.placement,
            "identity": self.identity,
            "action": self.action,
            "diff": self.diff,
        }


def _is_secret(manifest: Mapping[str, Any] | None) -> bool:
    return (
        manifest is not None and manifest.get("kind") == "Secret" and str(manifest.get("apiVersion")) == "v1"
    )


def masked_pair(
    base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """Both sides with Secret values replaced; a head value that differs from base says so."""
    if not _is_secret(base) and not _is_secret(head):
        return base, head

    def mask(
        obj: Mapping[str, Any] | None, other: Mapping[str, Any] | None, mark: bool
    ) -> Mapping[str, Any] | None:
        if obj is None:
            return None
        out = dict(obj)
        for field in ("data", "stringData"):
            values = obj.get(field)
            if not isinstance(values, Mapping):
                if field in out and values is not None:
                    out[field] = MASK
                continue
            theirs = other.get(field) if other is not None else None
            theirs = theirs if isinstance(theirs, Mapping) else {}
            out[field] = {
                k: f"{MASK} (changed)" if mark and k in theirs and theirs[k] != v else MASK
                for k, v in values.items()
            }
        return out

    return mask(base, head, False), mask(head, base, True)


def _text(manifest: Mapping[str, Any] | None) -> list[str]:
    return [] if manifest is None else dump(manifest).decode().splitlines(keepends=True)


def generalise(text: str, cluster: str) -> str:
    if not cluster:
        return text
    pattern = r"(?<![A-Za-z0-9._-])" + re.escape(cluster) + r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
    return re.sub(pattern, CLUSTER_PLACEHOLDER, text)


def describe(text: str) -> str:
    """``text`` generalised over several clusters, in words: a message names no placeholder
    (``placement in "${MEMBER-CLUSTER-NAME}"`` reads ``placement in each cluster``). Diffs keep
    the placeholder, with a legend where they are shown."""
    return text.replace(f'"{CLUSTER_PLACEHOLDER}"', "each cluster").replace(
        CLUSTER_PLACEHOLDER, "(each cluster)"
    )


def object_diff(
    identity: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None, cluster: str
) -> str:
    """A unified diff of the rendered YAML of one object, Secret values masked."""
    b, h = masked_pair(base, head)
    lines = list(difflib.unified_diff(_text(b), _text(h), f"base {identity}", f"head {identity}", n=3))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines not shown\n"]
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return generalise(text, cluster)


def cluster_changes(
    cluster: str, base: Mapping[ObjectKey, Mapping[str, Any]], head: Mapping[ObjectKey, Mapping[str, Any]]
) -> tuple[ObjectChange, ...]:
    """Every object added, changed or removed on ``cluster``, sorted by placement and identity.

    A removed object has no diff (all of it goes; its name says which). An object equal on
    both sides is never serialised (the common case on a big fleet)."""
    out: list[ObjectChange] = []
    for key in sorted(base.keys() | head.keys()):
        before, after = base.get(key), head.get(key)
        if before is not None and after is not None and (before is after or before == after):
            continue
        action = "added" if before is None else "removed" if after is None else "changed"
        diff = "" if after is None else object_diff(key[1], before, after, cluster)  # removed: name only
        out.append(ObjectChange(key[0], key[1], action, diff))
    return tuple(out)
