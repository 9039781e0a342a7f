"""Kind lookups ask the API server's discovery only about the group-version they name: an agent's
first sync must not pay a discovery round trip per API group of the member (a remote server
answers each one a round trip later)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.apply.kube import KubeClient
from agent.errors import KindNotServed
from kubesim.testing import running_sim


def _resource_lists(log: list[tuple[str, str]]) -> list[str]:
    """Discovery requests for one group-version's resource list (/api/v1, /apis/GROUP/VERSION)."""
    return sorted(
        {
            p
            for m, p in log
            if m == "GET" and (p == "/api/v1" or (p.startswith("/apis/") and p.count("/") == 3))
        }
    )


def test_a_core_kind_is_looked_up_in_the_core_group_only(tmp_path: Path) -> None:
    with running_sim(controllers="never") as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        with KubeClient.from_kubeconfig(str(kubeconfig)) as kube:
            before = len(sim.request_log)
            for kind in ("ConfigMap", "Secret", "Namespace", "ServiceAccount", "Service"):
                assert kube.kind("v1", kind).api_version == "v1"
            deployment = kube.kind("apps/v1", "Deployment")
            assert (deployment.plural, deployment.namespaced) == ("deployments", True)
            assert _resource_lists(sim.request_log[before:]) == ["/api/v1", "/apis/apps/v1"]
            with pytest.raises(KindNotServed):
                kube.kind("v1", "Deployment")  # Deployments are apps/v1: not a core kind
