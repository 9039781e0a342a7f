"""Who owns a member: one (fleet, cluster name) per inventory, and how it is handed over.

The inventory ConfigMap (``fleetsync-inventory`` in the agent's namespace) is one per member, so
it names its owner: the cluster name and the fleet repo of the agent that wrote it, beside the
bundle commit it last accepted. The fleet's *identity* is not its URL (a mirror, ``ssh://``
instead of ``https://``, a trailing ``.git`` all name one fleet) but its bundle history: the
member belongs to the fleet whose ``fleet/bundles/<cluster>`` branch contains the commit the
inventory names — what the source proves anyway before it accepts a bundle (agent/source.py),
and what no other fleet can forge, unlike an id string copied into a bundle. The recorded URL
(credentials removed) is for people: it is how the error names the owner, and a URL that
differs only in spelling (``fleet_key``) counts as the same fleet without a fetch.

``judge`` decides from the claim alone: a claim by another cluster name is refused at once; a
claim by this cluster from a fleet spelt differently, or an inventory written before claims
existed (``legacy``), is *unproven*: it becomes ours only when our bundle descends from its
commit, and is refused as another fleet's (never "rewritten") when it does not. Until then
nothing of it is trusted: no cached bundle is enforced, no inventory entry is reported.
``--take-over-from OWNER`` (the owner the error names) hands a member over explicitly, like
deleting the ConfigMap after the old agent is gone: the new owner starts from an empty
inventory, so the old owner's objects stay in place, unmanaged, and are never pruned by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from agent.errors import ClaimRefused

CLUSTER_KEY = "cluster"  # ConfigMap data keys beside the inventory document
FLEET_KEY = "fleet"
COMMIT_KEY = "bundleCommit"
HAND_OVER_DOC = "docs/agent.md, 'Ownership and hand-over'"

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class Claim:
    """The owner an inventory ConfigMap names; all empty when there is none."""

    cluster: str = ""  # "" in an inventory written before claims (legacy) or absent
    fleet: str = ""  # the fleet repo URL as the owner's agent was given it, credentials removed
    commit: str = ""  # the bundle commit it last accepted

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> Claim:
        """The claim in a ConfigMap's data, bounded; a ``bundleCommit`` that is not a commit id
        counts as none (it would reach git's command line)."""
        commit = str(data.get(COMMIT_KEY, ""))
        return cls(
            str(data.get(CLUSTER_KEY, ""))[:253],
            str(data.get(FLEET_KEY, ""))[:2048],
            commit if _COMMIT.fullmatch(commit) else "",
        )

    def to_data(self) -> dict[str, str]:
        return {CLUSTER_KEY: self.cluster, FLEET_KEY: self.fleet, COMMIT_KEY: self.commit}

    @property
    def owner(self) -> str:
        """The owner as ``--take-over-from`` names it: its cluster name, or for a legacy claim
        the commit it last accepted (12 digits)."""
        return self.cluster or self.commit[:12]


class Standing(StrEnum):
    NONE = "none"  # no claim (or handed over): this agent claims the member with its first bundle
    OURS = "ours"  # this cluster name and this fleet
    UNPROVEN = "unproven"  # this cluster name, fleet unknown or spelt otherwise: ours if we descend


def fleet_key(url: str) -> str:
    """A fleet URL without what does not change the repository it names: userinfo, the scheme's
    and host's case, ``file://``, a trailing ``/`` or ``.git``."""
    text = _USERINFO.sub(r"\1", url.strip())
    scheme, sep, rest = text.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        text = f"{scheme.lower()}://{host.lower()}{slash}{path}"
        if scheme.lower() == "file":
            text = rest
    text = text.rstrip("/")
    return text.removesuffix(".git").rstrip("/")


def judge(
    claim: Claim, cluster: str, fleet: str, take_over_from: str = "", *, inventory: str = ""
) -> Standing:
    """Where this agent (``cluster`` of ``fleet``) stands with the member's ``claim``; raises
    ClaimRefused for a claim by another cluster name (unless handed over). ``inventory`` names
    the ConfigMap in the message."""
    if not claim.commit and not claim.cluster:
        return Standing.NONE
    if take_over_from and take_over_from == claim.owner and not _ours(claim, cluster, fleet):
        return Standing.NONE
    if claim.cluster and claim.cluster != cluster:
        raise refusal(claim, cluster, fleet, inventory=inventory)
    return Standing.OURS if _ours(claim, cluster, fleet) else Standing.UNPROVEN


def _ours(claim: Claim, cluster: str, fleet: str) -> bool:
    return (
        claim.cluster == cluster
        and bool(claim.fleet) == bool(fleet)
        and fleet_key(claim.fleet) == fleet_key(fleet)
    )


def refusal(claim: Claim, cluster: str, fleet: str, *, inventory: str = "", branch: str = "") -> ClaimRefused:
    """The one error for a member owned by someone else: the owner, this agent, the hand-over.
    ``branch``: the bundle branch that does not contain the claim's commit (when one was read)."""
    if claim.cluster:
        owner = f"cluster {claim.cluster} of fleet {claim.fleet or '(not recorded)'}"
    else:
        where = f" (not in {branch})" if branch else ""
        owner = f"an agent of an earlier fleetsync version, last bundle {claim.commit[:12]}{where}"
    at = f" ({inventory})" if inventory else ""
    return ClaimRefused(
        f"this member is claimed by {owner}{at}; this agent is cluster {cluster} of fleet {fleet or '(not recorded)'}. "
        f"To hand it over, stop the owner's agent, then run this one with --take-over-from {claim.owner} "
        f"or delete that ConfigMap; the objects it applied stay in place, unmanaged ({HAND_OVER_DOC})"
    )
