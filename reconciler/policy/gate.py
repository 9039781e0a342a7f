"""The policy gate (design.md §2, step 6): CEL policies over every rendered object of every cluster.

Policies are Kubernetes ``ValidatingAdmissionPolicy`` objects, so what a platform team already
writes for its API servers works here unchanged, one render earlier: the hub and ``fleetsync
plan`` evaluate them against each cluster's rendered objects, with ``oldObject`` the cluster's
previous render (absent → CREATE; gone from the render → DELETE, ``object`` null) and a
``cluster`` variable (name, labels, properties) for what differs between clusters.

Which policies apply, and whether a violation blocks the cluster (Deny) or only reports (Warn,
Audit), is decided in this order (docs/policies.md):

1. a ``ValidatingAdmissionPolicyBinding`` in the fleet repo for the policy: the policy applies
   as each binding says (actions, matchResources, paramRef), listed in fleetsync.yaml or not;
2. otherwise fleetsync.yaml's ``policies:`` list: a listed policy applies everywhere with its
   ``fleetsync.io/default-action`` annotation (Deny when absent);
3. with no ``policies:`` key every policy applies that way, the shipped library's and the
   repo's own. A repo policy with a shipped policy's name replaces it.

Everything here is pure: ``load_policies`` (reconciler/policy/policyset.py, re-exported here)
reads documents (or files), ``evaluate`` judges one cluster, ``check_change`` judges a whole
change (the blast radius), and a ``PolicyCache`` (reconciler/policy/cache.py) memoises results
by content across clusters and hub passes.
Secret values never reach a message: messageExpression sees Secrets with data masked, and any
message about a Secret is scrubbed of its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.api.meta import empty_map
from reconciler.hub.clusters import ClusterState
from reconciler.policy.cache import PolicyCache as PolicyCache  # re-exported: callers build one
from reconciler.policy.cel import (
    Budget,
    CostExceeded,
    ObjectTooLarge,
    describe,
    error_value,
    eval_error,
    is_bool,
    is_string,
    to_cel,
    to_cel_map,
)
from reconciler.policy.cel import evaluate as cel_evaluate
from reconciler.policy.match import Target, field_map, matches, request, target
from reconciler.policy.model import (
    Action,
    Binding,
    Expr,
    Policy,
    Validation,
)

# Re-exported: callers read policies and judge with them through this module.
from reconciler.policy.policyset import SETTINGS_BINDING as SETTINGS_BINDING
from reconciler.policy.policyset import PolicySet as PolicySet
from reconciler.policy.policyset import library_paths as library_paths
from reconciler.policy.policyset import load_policies as load_policies
from reconciler.policy.secrets import mask_secret, scrub, secret_values

DEFAULT_BUDGET = Budget()
_STRENGTH = {Action.DENY: 3, Action.WARN: 2, Action.AUDIT: 1}


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What the ``cluster`` variable holds: the member's name, labels and reported properties."""

    name: str
    labels: Mapping[str, str] = field(default_factory=empty_map)
    properties: Mapping[str, Any] = field(default_factory=empty_map)


def cluster_info(state: ClusterState) -> ClusterInfo:
    """The ``cluster`` variable for a scheduler ClusterState (property values as their text)."""
    return ClusterInfo(state.name, state.labels, state.properties)


@dataclass(frozen=True, slots=True)
class Violation:
    """One failed validation of one object on one cluster ("" cluster: the change as a whole)."""

    policy: str
    binding: str
    action: Action
    cluster: str
    identity: str
    message: str
    reason: str = "Invalid"

    @property
    def blocking(self) -> bool:
        return self.action is Action.DENY

    def to_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "binding": self.binding,
            "action": str(self.action),
            "cluster": self.cluster,
            "identity": self.identity,
            "message": self.message,
            "reason": self.reason,
        }


# -- evaluation ---------------------------------------------------------------------------------


def _run(expr: Expr, activation: Mapping[str, Any], budget: Budget) -> tuple[Any, str]:
    """(value, "") or (None, why it failed)."""
    try:
        return cel_evaluate(expr.compiled, activation, budget), ""
    except CostExceeded as e:
        return None, str(e)
    except eval_error() as e:
        # celpy's error args: (message, exception type, the exception's args); the last tells most.
        parts = [str(e.args[0])] if e.args else ["evaluation error"]
        if len(e.args) > 2 and isinstance(e.args[2], tuple) and e.args[2]:
            parts.append(", ".join(str(a) for a in e.args[2]))
        return None, ": ".join(parts)[:500]


def _bind_variables(policy: Policy, activation: dict[str, Any], budget: Budget) -> None:
    """Evaluate ``spec.variables`` in order into ``activation["variables"]``; a failure is an
    error value that fails only the expressions that read it."""
    variables: dict[str, Any] = {}
    activation["variables"] = to_cel_map(variables)
    for name, expr in policy.variables:
        value, why = _run(expr, activation, budget)
        variables[name] = error_value(why) if why else value
        activation["variables"] = to_cel_map(variables)


def _judge(
    policy: Policy, activation: dict[str, Any], masked: dict[str, Any] | None, budget: Budget
) -> list[tuple[str, str]]:
    """Every failed validation of one object as (message, reason); [] when it passes or is not matched.

    ``masked`` is the activation with Secret values masked, for messageExpression (None: no Secret).
    """
    fail = policy.failure_policy == "Fail"
    _bind_variables(policy, activation, budget)
    unmatched = _unmatched(policy, activation, budget, fail)
    if unmatched is not None:
        return unmatched
    if masked is None:
        masked = activation
    elif any(v.message_expression is not None for v in policy.validations):
        _bind_variables(policy, masked, budget)  # variables derived from a Secret's values, masked too
    out: list[tuple[str, str]] = []
    for v in policy.validations:
        failed = _failed(v, activation, masked, budget, fail)
        if failed is not None:
            out.append(failed)
    return out


def _unmatched(
    policy: Policy, activation: dict[str, Any], budget: Budget, fail: bool
) -> list[tuple[str, str]] | None:
    """None when every matchCondition holds; otherwise ``_judge``'s answer: nothing for an object
    not matched, and under failurePolicy Fail a finding for a condition that could not be evaluated."""
    for cname, expr in policy.match_conditions:
        value, why = _run(expr, activation, budget)
        if why or not is_bool(value):
            return (
                [(f"matchCondition {cname!r} could not be evaluated: {why or 'not a bool'}", "Invalid")]
                if fail
                else []
            )
        if not value:
            return []
    return None


def _failed(
    v: Validation, activation: dict[str, Any], masked: dict[str, Any], budget: Budget, fail: bool
) -> tuple[str, str] | None:
    """One validation's (message, reason) when it fails, or (under failurePolicy Fail) cannot be
    evaluated; the message from messageExpression (over ``masked``) when that gives one line."""
    value, why = _run(v.expression, activation, budget)
    if not why and not is_bool(value):
        why = f"the expression must be a bool, got {describe(value)}"
    if why:
        return (f"expression {v.expression.text!r} could not be evaluated: {why}", v.reason) if fail else None
    if value:
        return None
    message = v.message or f"failed expression: {v.expression.text}"
    if v.message_expression is not None:
        text, why = _run(v.message_expression, masked, budget)
        if not why and is_string(text) and text.strip() and "\n" not in text:
            message = str(text)[:1024]
    return (message, v.reason)


def evaluate(
    policy_set: PolicySet,
    cluster: ClusterInfo,
    rendered: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, Mapping[str, Any]] = empty_map(),
    *,
    budget: Budget = DEFAULT_BUDGET,
    cache: PolicyCache | None = None,
) -> list[Violation]:
    """Every violation of one cluster's render (identity → manifest) against its previous render.

    Violations come binding by binding, each in identity order; results are memoised in
    ``cache`` by content (reconciler/policy/cache.py), so pass one cache for many clusters.
    """
    cache = cache if cache is not None else PolicyCache()
    cluster_data = {
        "name": cluster.name,
        "labels": dict(cluster.labels),
        "properties": dict(cluster.properties),
    }
    judge = _Judge(policy_set, cluster_data, budget, cache)
    set_digest, _ = judge.fingerprints
    buckets: list[list[Violation]] = [[] for _ in policy_set.bindings]
    for ident in sorted(set(rendered) | set(previous)):
        t = target(ident, rendered.get(ident), previous.get(ident))
        ns_obj = rendered.get(f"/Namespace//{t.namespace}") or previous.get(f"/Namespace//{t.namespace}")
        match_key = (set_digest, cache.digest(t.obj), cache.digest(t.old), cache.digest(ns_obj))
        which = cache.matched(match_key)
        if which is None:
            which = _matching(policy_set, t, ns_obj)
            cache.keep_matched(match_key, which)
        for i in which:
            b = policy_set.bindings[i]
            policy = policy_set.policies[b.policy]
            action = max(b.actions, key=_STRENGTH.__getitem__)
            for message, reason in judge.results(i, policy, b, t, ns_obj):
                buckets[i].append(
                    Violation(policy.name, b.name, action, cluster.name, t.identity, message, reason)
                )
    return [v for bucket in buckets for v in bucket]


def _matching(policy_set: PolicySet, t: Target, ns_obj: Mapping[str, Any] | None) -> tuple[int, ...]:
    """The bindings (by index) whose policy and binding match this object (plain Python, no CEL)."""
    ns_labels = field_map(field_map(ns_obj, "metadata"), "labels")
    out: list[int] = []
    for i, b in enumerate(policy_set.bindings):
        policy = policy_set.policies.get(b.policy)
        if policy is None or not matches(policy.match, t, ns_labels, inherit=False):
            continue
        if b.match is not None and not matches(b.match, t, ns_labels, inherit=True):
            continue
        out.append(i)
    return tuple(out)


class _Judge:
    """One cluster's evaluation context: the cluster variable, converted and digested lazily."""

    __slots__ = (
        "_cluster_cel",
        "_cluster_digest",
        "budget",
        "cache",
        "cluster_data",
        "fingerprints",
        "policy_set",
    )

    def __init__(
        self, policy_set: PolicySet, cluster_data: dict[str, Any], budget: Budget, cache: PolicyCache
    ):
        self.policy_set, self.cluster_data, self.budget, self.cache = policy_set, cluster_data, budget, cache
        self.fingerprints = cache.fingerprints(policy_set, policy_set.bindings, policy_set.policies)
        self._cluster_cel: Any = None
        self._cluster_digest: str | None = None

    def cluster_cel(self) -> Any:
        if self._cluster_cel is None:
            self._cluster_cel = to_cel(self.cluster_data)
        return self._cluster_cel

    def cluster_digest(self) -> str:
        if self._cluster_digest is None:
            self._cluster_digest = self.cache.digest(self.cluster_data)
        return self._cluster_digest

    def results(
        self, index: int, policy: Policy, b: Binding, t: Target, ns_obj: Mapping[str, Any] | None
    ) -> list[tuple[str, str]]:
        params: Mapping[str, Any] | None = None
        if policy.param_kind is not None and b.param_ref is not None:
            api_version, kind = policy.param_kind
            ref = b.param_ref
            params = self.policy_set.params.get((api_version, kind, ref.namespace or t.namespace, ref.name))
            if params is None:  # Kubernetes' parameterNotFoundAction: Deny fails, Allow passes
                where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
                denied = ref.not_found_action == "Deny"
                return [(f"no {kind} {where} found for the binding's paramRef", "Invalid")] if denied else []
        cache, roots = self.cache, policy.roots
        key = None
        if self.budget.time_limit is None:  # a time limit makes a result depend on the machine's load
            key = (
                self.fingerprints[1][index],
                cache.digest(params),
                cache.digest(t.obj),
                cache.digest(t.old),
                cache.digest(ns_obj) if "namespaceObject" in roots else None,
                self.cluster_digest() if "cluster" in roots else None,
                self.budget.max_steps,
            )
            hit = cache.results(key)
            if hit is not None:
                return hit
        results = _evaluate_one(
            policy, t, params, ns_obj, self.cluster_cel() if "cluster" in roots else None, self.budget, cache
        )
        if key is not None:
            cache.keep(key, results)
        return results


def _evaluate_one(
    policy: Policy,
    t: Target,
    params: Mapping[str, Any] | None,
    ns_obj: Mapping[str, Any] | None,
    cluster_cel: Any,
    budget: Budget,
    cache: PolicyCache,
) -> list[tuple[str, str]]:
    secrets = secret_values(t.obj, t.old)
    try:
        activation = {
            "object": cache.cel(t.obj),
            "oldObject": cache.cel(t.old),
            "params": cache.cel(params),
            "cluster": cluster_cel,
            "namespaceObject": cache.cel(ns_obj),
            "request": to_cel(request(t)),
        }
        masked = None
        if secrets:
            masked = activation | {
                "object": to_cel(mask_secret(t.obj)),
                "oldObject": to_cel(mask_secret(t.old)),
            }
        results = _judge(policy, activation, masked, budget)
    except ObjectTooLarge as e:
        results = (
            [(f"object too large to check: {e}", "RequestEntityTooLarge")]
            if policy.failure_policy == "Fail"
            else []
        )
    return [(scrub(m, secrets), r) for m, r in results]
