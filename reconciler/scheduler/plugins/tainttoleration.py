"""TaintToleration: a cluster is filtered out by its first taint no toleration tolerates.

The reason is KubeFleet's ``fmt.Sprintf("taint %+v cannot be tolerated", &taint)``, so it
reads ``taint &{Key:k Value:v Effect:NoSchedule} cannot be tolerated`` — the ``&`` is Go's
rendering of a pointer to a struct, and it is what a KubeFleet user sees.
"""

from __future__ import annotations

from reconciler.api.membercluster import Taint
from reconciler.api.placement import Toleration
from reconciler.hub.clusters import ClusterState
from reconciler.scheduler.index import bits_of, positions_of
from reconciler.scheduler.plugin import CallState, Filtered, Plugin


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    effect_ok = toleration.effect in ("", taint.effect)
    if toleration.operator == "Exists":
        return toleration.key in ("", taint.key) and effect_ok
    if toleration.operator == "Equal":
        return toleration.key == taint.key and toleration.value == taint.value and effect_ok
    return False


def untolerated(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> Taint | None:
    for taint in taints:
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def taint_reason(taint: Taint) -> str:
    return f"taint &{{Key:{taint.key} Value:{taint.value} Effect:{taint.effect}}} cannot be tolerated"


class TaintToleration(Plugin):
    name = "TaintToleration"

    def pre_filter(self, call: CallState) -> bool:
        return True

    def filter(self, call: CallState, cluster: ClusterState) -> str | None:
        if not cluster.taints:
            return None
        taint = untolerated(cluster.taints, call.policy.tolerations)
        return None if taint is None else taint_reason(taint)

    def filter_bits(self, call: CallState) -> Filtered:
        index, tolerations = call.index, call.policy.tolerations
        reasons: dict[int, str] = {}
        for p in positions_of(index.tainted):  # only the tainted clusters are looked at
            taint = untolerated(index.clusters[p].taints, tolerations)
            if taint is not None:
                reasons[p] = taint_reason(taint)
        return index.all & ~bits_of(reasons, len(index.clusters)), reasons.__getitem__
