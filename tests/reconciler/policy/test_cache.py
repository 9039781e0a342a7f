"""The gate's result cache: shared by content across clusters and passes, never stale."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.policy.gate import ClusterInfo, PolicyCache, evaluate, library_paths, load_policies
from tests.support.policyfixtures import EU, cm, gate, policy, rendered


def counting(monkeypatch: Any) -> list[int]:
    """How many times CEL actually ran (the cache's whole point is to make this small)."""
    import reconciler.policy.gate as mod

    calls = [0]
    real = mod._evaluate_one

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(mod, "_evaluate_one", counted)
    return calls


def test_equal_objects_in_different_mappings_are_judged_once_across_clusters_and_passes(
    monkeypatch: Any,
) -> None:
    ps = gate(policy("by-object", "object.data.ok == 'yes'"))
    calls = counting(monkeypatch)
    cache = PolicyCache()
    first = evaluate(ps, EU, rendered(cm("b", ok="no")), cache=cache)
    cache.new_pass()
    again = [evaluate(ps, ClusterInfo(f"c{i}"), rendered(cm("b", ok="no")), cache=cache) for i in range(5)]
    assert calls[0] == 1
    assert [[(v.identity, v.message) for v in vs] for vs in again] == [
        [(v.identity, v.message) for v in first]
    ] * 5
    assert {v.cluster for vs in again for v in vs} == {f"c{i}" for i in range(5)}


def test_a_changed_object_or_policy_with_the_same_name_is_judged_anew() -> None:
    cache = PolicyCache()
    old_rule = gate(policy("p", "object.data.ok == 'yes'"))
    new_rule = gate(policy("p", "object.data.ok == 'no'"))
    bad, good = rendered(cm("x", ok="no")), rendered(cm("x", ok="yes"))
    assert len(evaluate(old_rule, EU, bad, cache=cache)) == 1
    assert evaluate(old_rule, EU, good, cache=cache) == []
    assert evaluate(new_rule, EU, bad, cache=cache) == []
    assert len(evaluate(new_rule, EU, good, cache=cache)) == 1


def test_a_policy_reading_cluster_is_judged_per_cluster_value_and_shared_between_equal_ones(
    monkeypatch: Any,
) -> None:
    ps = gate(policy("by-cluster", "cluster.labels.env != 'prod'"))
    calls = counting(monkeypatch)
    cache = PolicyCache()
    obj = rendered(cm("x"))
    got = [
        len(evaluate(ps, ClusterInfo(n, {"env": e}), obj, cache=cache))
        for n, e in (("a", "prod"), ("a", "dev"), ("a", "prod"))
    ]
    assert got == [1, 0, 1] and calls[0] == 2


def test_the_cache_is_bounded() -> None:
    ps = gate(policy("p", "object.data.ok == 'yes'"))
    cache = PolicyCache(max_results=3)
    for i in range(10):
        evaluate(ps, EU, rendered(cm(f"x{i}", ok="no")), cache=cache)
    assert len(cache) == 3


def test_the_library_gives_the_same_violations_with_a_warm_cache_as_without_one() -> None:
    ps = load_policies([], library=library_paths())
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}],
        },
    }
    objs = rendered(pod, cm("x"))
    cache = PolicyCache()
    cold = evaluate(ps, EU, objs, cache=cache)
    cache.new_pass()
    warm = evaluate(ps, EU, copy.deepcopy(objs), cache=cache)
    assert cold == warm == evaluate(ps, EU, objs) and len(cold) >= 3


def test_a_hub_session_keeps_one_policy_cache_and_a_gate_without_one_shares_nothing(tmp_path: Any) -> None:
    import subprocess

    from reconciler.gitstore.repo import HubRepo
    from reconciler.hub.gate import Gate, PreviousRenders
    from reconciler.hub.session import HubSession

    session = HubSession()
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    with HubRepo.local(tmp_path) as repo:
        first = Gate(None, PreviousRenders(repo, None), session.policies)  # type: ignore[arg-type]  # not read
        second = Gate(None, PreviousRenders(repo, None), session.policies)  # type: ignore[arg-type]
        assert first.cache is second.cache is session.policies  # kept across the passes of one hub
        alone = Gate(None, PreviousRenders(repo, None))  # type: ignore[arg-type]
        # no hidden process-wide cache per repo: a gate without the session's cache has its own
        assert alone.cache is not Gate(None, PreviousRenders(repo, None)).cache  # type: ignore[arg-type]
        assert alone.cache is not session.policies
    assert HubSession().policies is not session.policies
