"""The blast-radius gate: fleet-level policies over a change as a whole, not over one object.

A change that touches many clusters, or any production cluster, should need a human's explicit
approval on the pull request. That is not a property of any one object, so it does not fit the
per-object gate; but writing it as a ValidatingAdmissionPolicy keeps one policy language, one
binding mechanism (Deny or Warn) and one place to change its threshold. The change is presented
as a pseudo-object ``fleetsync.io/v1alpha1 FleetChange`` listing the touched clusters with
their labels and the pull request's labels; policies that name the ``fleetchanges`` resource
of the ``fleetsync.io`` group explicitly are evaluated over it (policies/blast-radius.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.policy.cel import Budget
from reconciler.policy.gate import DEFAULT_BUDGET, ClusterInfo, PolicySet, Violation, evaluate

CHANGE_GROUP = "fleetsync.io"
CHANGE_RESOURCE = "fleetchanges"
CHANGE_IDENTITY = "fleetsync.io/FleetChange//change"


def change_object(changed: Mapping[str, Mapping[str, str]], pr_labels: Iterable[str]) -> dict[str, Any]:
    """The ``FleetChange`` object blast-radius policies see: the clusters a change touches."""
    return {
        "apiVersion": f"{CHANGE_GROUP}/v1alpha1",
        "kind": "FleetChange",
        "metadata": {"name": "change"},
        "spec": {
            "clusters": [{"name": n, "labels": dict(changed[n])} for n in sorted(changed)],
            "prLabels": sorted(set(pr_labels)),
        },
    }


def check_change(
    policy_set: PolicySet,
    changed: Mapping[str, Mapping[str, str]],
    pr_labels: Iterable[str] = (),
    *,
    budget: Budget = DEFAULT_BUDGET,
) -> list[Violation]:
    """Fleet-level policies over one change: ``changed`` maps each touched cluster to its labels.

    Only policies whose resource rules name ``fleetsync.io`` / ``fleetchanges`` explicitly are
    evaluated (a wildcard policy about objects never sees the pseudo-object). No cluster
    touched, no check.
    """
    if not changed:
        return []
    explicit = {
        n
        for n, p in policy_set.policies.items()
        if any(r.names_explicitly(CHANGE_GROUP, CHANGE_RESOURCE) for r in p.match.rules)
    }
    subset = PolicySet(
        {n: p for n, p in policy_set.policies.items() if n in explicit},
        tuple(b for b in policy_set.bindings if b.policy in explicit),
        policy_set.params,
    )
    obj = change_object(changed, pr_labels)
    return evaluate(subset, ClusterInfo(""), {CHANGE_IDENTITY: obj}, budget=budget)
