"""The scheduling profile: which plugins run, in which order (KubeFleet ``profile.go``).

Filter order decides which reason a cluster that fails several filters is reported with:
ClusterAffinity, ClusterEligibility, NamespaceAffinity, TaintToleration, SameCluster,
TopologySpreadConstraints — KubeFleet's order. Static plugins (binding-independent) must come
before cycle plugins in ``filters``: the framework evaluates static ones once per call and
cycle ones once per cycle, which is only equivalent to KubeFleet's per-cluster chain when the
static ones come first.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import InternalError
from reconciler.scheduler.plugin import CyclePlugin, Plugin
from reconciler.scheduler.plugins.clusteraffinity import ClusterAffinity
from reconciler.scheduler.plugins.clustereligibility import ClusterEligibility
from reconciler.scheduler.plugins.namespaceaffinity import NamespaceAffinity
from reconciler.scheduler.plugins.samecluster import SameCluster
from reconciler.scheduler.plugins.tainttoleration import TaintToleration
from reconciler.scheduler.plugins.topologyspread import TopologySpreadConstraints


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    filters: tuple[Plugin, ...]  # static filters, in order
    scorers: tuple[Plugin, ...]  # static scorers
    cycle_plugins: tuple[CyclePlugin, ...]  # filter (after the static ones), score, post-batch

    def __post_init__(self) -> None:
        names = [p.name for p in self.cycle_plugins]
        if any(not isinstance(p, Plugin) for p in (*self.filters, *self.scorers)):
            raise InternalError(f"profile {self.name}: filters and scorers must be static plugins")
        if len({p.name for p in self.cycle_plugins}) != len(self.cycle_plugins):
            raise InternalError(f"profile {self.name}: duplicate cycle plugin in {names}")


def default_profile() -> Profile:
    affinity = ClusterAffinity()
    return Profile(
        name="default",
        filters=(affinity, ClusterEligibility(), NamespaceAffinity(), TaintToleration()),
        scorers=(affinity,),
        cycle_plugins=(SameCluster(), TopologySpreadConstraints()),
    )
