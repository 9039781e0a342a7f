"""The policy gate: which policies apply and how, what expressions see, and its bounds."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest

from reconciler.hub.clusters import ClusterState
from reconciler.policy.cel import MAX_OBJECT_BYTES, Budget
from reconciler.policy.gate import (
    SETTINGS_BINDING,
    ClusterInfo,
    PolicyCache,
    Violation,
    cluster_info,
    evaluate,
    library_paths,
    load_policies,
)
from reconciler.policy.model import Action, plural_of
from tests.support.policyfixtures import EU, binding, cm, docs, gate, messages, policy, rendered

# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [
        (policy("p", "object.data.size( > 1"), 16, "spec.validations[0].expression", "CEL syntax error"),
        (
            policy("p", "objekt.data.size() > 1"),
            16,
            "spec.validations[0].expression",
            "undeclared reference 'objekt'",
        ),
        (
            policy("p", "variables.limit > 1"),
            16,
            "spec.validations[0].expression",
            "variables.limit is not declared in spec.variables",
        ),
        (
            policy("p", "true", extra="  validation: []\n"),
            15,
            "spec.validation",
            'did you mean "validations"',
        ),
        (
            policy("p", "true", operations="[CREATE, PATCH]"),
            14,
            "spec.matchConstraints.resourceRules[0].operations[1]",
            "unsupported operation 'PATCH'",
        ),
        (
            policy("p", "true", action="Block"),
            6,
            "metadata.annotations.fleetsync.io/default-action",
            "unsupported value 'Block'",
        ),
        (policy("p", "true", failure="Sometimes"), 8, "spec.failurePolicy", "unsupported value 'Sometimes'"),
        (
            policy("p", "true").replace(
                "  matchConstraints:\n    resourceRules:\n", "  matchConstraints:\n    rules:\n"
            ),
            10,
            "spec.matchConstraints.rules",
            "unknown field",
        ),
        (
            policy("p", "true", extra="  variables:\n    - name: 9lives\n      expression: '1'\n"),
            16,
            "spec.variables[0].name",
            "a CEL identifier",
        ),
    ],
)
def test_a_broken_policy_is_a_located_finding_and_is_not_used(
    text: str, line: int, field: str, fragment: str
) -> None:
    ps = gate(text)
    assert not ps.ok
    found = [f for f in ps.findings if f.field == field]
    assert found, [str(f) for f in ps.findings]
    assert (found[0].file, found[0].line) == ("policies/local.yaml", line)
    assert fragment in found[0].message
    assert "p" not in ps.policies
    assert evaluate(ps, EU, rendered(cm())) == []


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        (binding("b", "p", "[Block]"), "spec.validationActions[0]", "unsupported value 'Block'"),
        (binding("b", "p", "[Deny, Warn]"), "spec.validationActions", "may not be used together"),
        (binding("b", "p", "[]"), "spec.validationActions", "at least 1"),
        (binding("b", "nope", "[Deny]"), "spec.policyName", "no policy named 'nope'"),
        (
            binding("b", "p", "[Deny]", "  paramRef:\n    selector: {}\n"),
            "spec.paramRef.selector",
            "not supported",
        ),
    ],
)
def test_a_broken_binding_is_a_located_finding(text: str, field: str, fragment: str) -> None:
    ps = gate(policy("p", "true"), text)
    found = [f for f in ps.findings if f.field == field]
    assert found and fragment in found[0].message, [str(f) for f in ps.findings]
    assert found[0].line > 17  # in the binding's document, after the policy's


def test_a_policy_declared_twice_in_the_repo_is_a_finding() -> None:
    ps = gate(policy("p", "true"), policy("p", "false"))
    assert any("declared twice" in f.message for f in ps.findings)


def test_an_unreadable_policy_file_is_a_located_finding(tmp_path: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    ps = load_policies([bad])
    assert ps.findings and ps.findings[0].file == str(bad) and "invalid YAML" in ps.findings[0].message


def test_a_runtime_error_is_a_violation_under_fail_and_nothing_under_ignore() -> None:
    expr = "object.data.missing == 'x'"
    failing = evaluate(gate(policy("p", expr)), EU, rendered(cm()))
    assert len(failing) == 1 and "could not be evaluated" in failing[0].message
    assert evaluate(gate(policy("p", expr, failure="Ignore")), EU, rendered(cm())) == []


def test_a_non_bool_expression_is_reported_not_crashed_on() -> None:
    vs = evaluate(gate(policy("p", "'yes'")), EU, rendered(cm()))
    assert messages(vs) == [
        "expression \"'yes'\" could not be evaluated: the expression must be a bool, got string"
    ]


# -- which policies apply, and how ----------------------------------------------------------------


def test_a_violation_blocks_under_deny_and_only_reports_under_warn() -> None:
    deny = evaluate(gate(policy("p", "false", message="no")), EU, rendered(cm()))
    warn = evaluate(gate(policy("p", "false", message="no", action="Warn")), EU, rendered(cm()))
    assert [(v.action, v.blocking, v.binding) for v in deny] == [(Action.DENY, True, SETTINGS_BINDING)]
    assert [(v.action, v.blocking) for v in warn] == [(Action.WARN, False)]


def test_a_binding_replaces_the_default_action_and_the_strongest_action_wins() -> None:
    ps = gate(policy("p", "false", message="no"), binding("soft", "p", "[Warn, Audit]"))
    vs = evaluate(ps, EU, rendered(cm()))
    assert [(v.binding, v.action) for v in vs] == [("soft", Action.WARN)]


def test_each_binding_of_a_policy_reports_on_its_own() -> None:
    ps = gate(policy("p", "false", message="no"), binding("a", "p", "[Deny]"), binding("b", "p", "[Audit]"))
    assert [(v.binding, v.action) for v in evaluate(ps, EU, rendered(cm()))] == [
        ("a", Action.DENY),
        ("b", Action.AUDIT),
    ]


def test_fleetsync_yaml_enables_only_listed_policies_but_a_binding_enables_its_policy_anyway() -> None:
    texts = (
        policy("listed", "false"),
        policy("unlisted", "false"),
        policy("bound", "false"),
        binding("b", "bound", "[Warn]"),
    )
    ps = gate(*texts, enabled=["listed"])
    assert sorted((v.policy, v.action) for v in evaluate(ps, EU, rendered(cm()))) == [
        ("bound", Action.WARN),
        ("listed", Action.DENY),
    ]


def test_an_enabled_name_that_is_no_policy_is_a_finding() -> None:
    ps = gate(policy("p", "true"), enabled=["p", "no-such-policy"])
    assert [(f.file, f.field) for f in ps.findings] == [("fleetsync.yaml", "policies")]
    assert "no-such-policy" in ps.findings[0].message


def test_a_repo_policy_with_a_library_name_replaces_the_library_policy() -> None:
    mine = policy("no-latest-tag", "false", message="ours", resources="[configmaps]")
    ps = load_policies(docs(mine), library=library_paths())
    assert ps.findings == ()
    assert ps.policies["no-latest-tag"].origin.file == "policies/local.yaml"
    assert [v.message for v in evaluate(ps, EU, rendered(cm())) if v.policy == "no-latest-tag"] == ["ours"]


def test_a_policy_marked_not_a_gate_is_for_members_only() -> None:
    text = policy("member-only", "false").replace(
        "    fleetsync.io/default-action: Deny\n",
        "    fleetsync.io/default-action: Deny\n    fleetsync.io/gate: 'false'\n",
    )
    ps = gate(text)
    assert ps.policies == {} and ps.findings == ()


def test_resource_rules_operations_and_exclusions_choose_the_objects() -> None:
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "web"}}
    ps = gate(policy("p", "false", resources="[deployments]"))
    assert [v.identity for v in evaluate(ps, EU, rendered(cm(), deploy))] == ["apps/Deployment/web/d"]
    kinds = policy("k", "false", resources="[]").replace(
        "        resources: []\n", "        kinds: [ConfigMap]\n"
    )
    assert [v.identity for v in evaluate(gate(kinds), EU, rendered(cm(), deploy))] == [
        "/ConfigMap/web/settings"
    ]
    excluded = (
        policy("x", "false", resources="['*']", extra="")
        .replace("  validations:", "  validations:")
        .replace(
            "        operations: [CREATE, UPDATE]\n",
            "        operations: [CREATE, UPDATE]\n    excludeResourceRules:\n      - apiGroups: [apps]\n"
            "        apiVersions: ['*']\n        resources: ['*']\n        operations: ['*']\n",
        )
    )
    assert [v.identity for v in evaluate(gate(excluded), EU, rendered(cm(), deploy))] == [
        "/ConfigMap/web/settings"
    ]


def test_a_binding_namespace_selector_exempts_namespaces_by_their_rendered_labels() -> None:
    exempt = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "legacy", "labels": {"exempt": "yes"}},
    }
    sel = (
        "  matchResources:\n    namespaceSelector:\n      matchExpressions:\n"
        "        - {key: exempt, operator: DoesNotExist}\n"
    )
    ps = gate(policy("p", "false"), binding("b", "p", "[Deny]", sel))
    vs = evaluate(ps, EU, rendered(exempt, cm(namespace="legacy"), cm(namespace="web")))
    assert [v.identity for v in vs] == ["/ConfigMap/web/settings"]


def test_an_object_selector_and_match_conditions_narrow_what_is_checked() -> None:
    extra = '  matchConditions:\n    - name: not-generated\n      expression: "!has(object.data.generated)"\n'
    ps = gate(
        policy("p", "false", extra=extra),
        binding(
            "b", "p", "[Deny]", "  matchResources:\n    objectSelector:\n      matchLabels: {team: web}\n"
        ),
    )
    objs = rendered(
        cm("a", labels={"team": "web"}),
        cm("b", labels={"team": "db"}),
        cm("c", labels={"team": "web"}, generated="yes"),
    )
    assert [v.identity for v in evaluate(ps, EU, objs)] == ["/ConfigMap/web/a"]


def test_params_come_from_the_binding_param_ref_and_a_missing_one_denies_or_is_allowed() -> None:
    pol = policy(
        "p",
        "int(object.data.size) <= int(params.data.max)",
        message="too big",
        extra="  paramKind: {apiVersion: v1, kind: ConfigMap}\n",
    )
    ref = "  paramRef: {{name: limits, namespace: policy, parameterNotFoundAction: {action}}}\n"
    param = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: policy}\ndata: {max: '3'}\n"
    small, big = cm("small", size="2"), cm("big", size="9")
    ps = gate(pol, binding("b", "p", "[Deny]", ref.format(action="Deny")), param)
    assert [v.identity for v in evaluate(ps, EU, rendered(small, big))] == ["/ConfigMap/web/big"]
    missing = gate(pol, binding("b", "p", "[Deny]", ref.format(action="Deny")))
    assert messages(evaluate(missing, EU, rendered(small))) == [
        "no ConfigMap policy/limits found for the binding's paramRef"
    ]
    allowed = gate(pol, binding("b", "p", "[Deny]", ref.format(action="Allow")))
    assert evaluate(allowed, EU, rendered(small)) == []


# -- what expressions see -------------------------------------------------------------------------


def test_old_object_is_the_previous_render_and_sets_the_operation() -> None:
    expr = "oldObject == null || object.data.owner == oldObject.data.owner"
    ps = gate(policy("owner-is-immutable", expr, message="owner may not change"))
    assert evaluate(ps, EU, rendered(cm(owner="a")), {}) == []  # CREATE: no oldObject
    assert evaluate(ps, EU, rendered(cm(owner="a")), rendered(cm(owner="a"))) == []
    assert messages(evaluate(ps, EU, rendered(cm(owner="b")), rendered(cm(owner="a")))) == [
        "owner may not change"
    ]


@pytest.mark.parametrize(
    ("before", "after", "operation"),
    [({}, {"x": "1"}, "CREATE"), ({"x": "1"}, {"x": "2"}, "UPDATE"), ({"x": "1"}, None, "DELETE")],
)
def test_request_operation_and_object_null_on_delete(
    before: dict[str, str], after: dict[str, str] | None, operation: str
) -> None:
    expr = (
        "request.operation == 'CREATE' && oldObject == null || request.operation == 'UPDATE' "
        "|| request.operation == 'DELETE' && object == null && oldObject.data.x == '1'"
    )
    seen = policy("seen", "false", operations="['*']", message=operation)
    ps = gate(policy("p", expr, operations="['*']"), seen)
    prev = rendered(cm("settings", "web", None, **before)) if before else {}
    now = rendered(cm("settings", "web", None, **after)) if after is not None else {}
    vs = evaluate(ps, EU, now, prev)
    assert [(v.policy, v.message) for v in vs] == [("seen", operation)]


def test_a_delete_only_policy_sees_only_objects_that_leave_the_render() -> None:
    ps = gate(policy("keep-configs", "false", operations="[DELETE]", message="may not delete"))
    assert evaluate(ps, EU, rendered(cm("kept"), cm("new")), rendered(cm("kept"), cm("gone"))) == [
        Violation(
            "keep-configs", SETTINGS_BINDING, Action.DENY, "eu-1", "/ConfigMap/web/gone", "may not delete"
        )
    ]


def test_the_cluster_variable_holds_name_labels_and_properties() -> None:
    expr = (
        "!(cluster.labels.env == 'prod' && cluster.properties.nodeCount < 10) || object.data.replicas == '3'"
    )
    ps = gate(policy("prod-ha", expr, message="prod"))
    obj = rendered(cm(replicas="1"))
    assert [v.cluster for v in evaluate(ps, EU, obj)] == ["eu-1"]
    assert evaluate(ps, ClusterInfo("dev", {"env": "dev"}, {"nodeCount": 5}), obj) == []
    named = gate(policy("name", "cluster.name != 'eu-1'"))
    assert len(evaluate(named, EU, obj)) == 1 and evaluate(named, ClusterInfo("us-1"), obj) == []


def test_a_shared_cache_never_mixes_up_clusters_or_objects() -> None:
    ps = gate(policy("by-cluster", "cluster.name != 'eu-1'"), policy("by-object", "object.data.ok == 'yes'"))
    shared_good, shared_bad = cm("g", ok="yes"), cm("b", ok="no")
    objs = rendered(shared_good, shared_bad)
    cache = PolicyCache()
    with_cache = [evaluate(ps, c, objs, cache=cache) for c in (EU, ClusterInfo("us-1"), EU)]
    without = [evaluate(ps, c, objs) for c in (EU, ClusterInfo("us-1"), EU)]
    assert with_cache == without
    assert sorted((v.policy, v.identity) for v in with_cache[1]) == [("by-object", "/ConfigMap/web/b")]


def test_variables_compose_in_order_and_a_failed_variable_fails_only_what_reads_it() -> None:
    extra = (
        "  variables:\n    - name: a\n      expression: object.data.a\n"
        "    - name: b\n      expression: variables.a + '!'\n"
        "    - name: broken\n      expression: object.data.nope\n"
    )
    ok = gate(policy("p", "variables.b == 'x!'", extra=extra))
    assert evaluate(ok, EU, rendered(cm(a="x"))) == []
    bad = gate(policy("p", "variables.broken == 'x'", extra=extra))
    assert "could not be evaluated" in messages(evaluate(bad, EU, rendered(cm(a="x"))))[0]


# -- Secrets ----------------------------------------------------------------------------------------


def secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "web"},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        "stringData": {"token": "tok-3b1f9e"},
    }


SECRET_POLICIES = [
    # messageExpression tries to echo the value, base64 or decoded
    ("false", "'password is ' + object.data.password"),
    ("false", "'token is ' + object.stringData.token"),
    # a CEL error whose text quotes the value
    ("int(object.stringData.token) > 0", ""),
    ("int(object.data.password) > 0", ""),
    # a variable derived from the value, then echoed
    ("false", "'token is ' + variables.shout"),
]


@pytest.mark.parametrize(("expr", "message_expression"), SECRET_POLICIES)
def test_secret_values_never_reach_a_message(expr: str, message_expression: str) -> None:
    extra = "  variables:\n    - name: shout\n      expression: object.stringData.token.upperAscii()\n"
    text = policy("leaky", expr, resources="[secrets]", extra=extra)
    if message_expression:
        text += f"      messageExpression: {message_expression!r}\n"
    ps = gate(text)
    vs = evaluate(ps, EU, rendered(secret(password="hunter2-pass")))
    assert len(vs) == 1
    for value in ("hunter2-pass", base64.b64encode(b"hunter2-pass").decode(), "tok-3b1f9e", "TOK-3B1F9E"):
        assert value not in vs[0].message
    assert "**masked**" in vs[0].message.lower()  # the value was there, and was masked


def test_validation_expressions_still_see_secret_values() -> None:
    ps = gate(
        policy("min-length", "object.stringData.token.size() >= 20", resources="[secrets]", message="short")
    )
    assert messages(evaluate(ps, EU, rendered(secret(password="x")))) == ["short"]


# -- bounds ------------------------------------------------------------------------------------------


def test_an_expensive_expression_stops_at_the_step_budget() -> None:
    expr = "object.data.items.split(',').all(a, object.data.items.split(',').all(b, a + b != 'zz'))"
    ps = gate(policy("quadratic", expr))
    obj = rendered(cm(items=",".join(str(i) for i in range(400))))
    vs = evaluate(ps, EU, obj, budget=Budget(max_steps=5_000))
    assert messages(vs) and "exceeded its budget of 5000 steps" in vs[0].message


def test_an_injected_clock_bounds_evaluation_time() -> None:
    ticks = itertools.count()
    budget = Budget(max_steps=10**9, time_limit=1.0, clock=lambda: float(next(ticks)))
    ps = gate(policy("slow", "object.data.items.split(',').all(a, a != 'zz')"))
    vs = evaluate(ps, EU, rendered(cm(items=",".join(["x"] * 2000))), budget=budget)
    assert "exceeded its time limit of 1.0s" in vs[0].message


def test_an_oversized_object_is_refused_before_any_expression_runs() -> None:
    ps = gate(policy("p", "true"))
    vs = evaluate(ps, EU, rendered(cm(blob="x" * (MAX_OBJECT_BYTES + 1))))
    assert [(v.reason, v.message.split(":")[0]) for v in vs] == [
        ("RequestEntityTooLarge", "object too large to check")
    ]


def test_a_broken_policy_is_reported_once_not_again_by_its_binding_or_the_settings() -> None:
    ps = gate(policy("p", "object.("), binding("b", "p", "[Deny]"), enabled=["p"])
    assert [f.field for f in ps.findings] == ["spec.validations[0].expression"]


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Deployment", "deployments"),
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Endpoints", "endpoints"),
        ("Gateway", "gateways"),
        ("GatewayClass", "gatewayclasses"),
        ("Policy", "policies"),
        ("FleetChange", "fleetchanges"),
    ],
)
def test_kinds_map_to_plural_resources_as_kubernetes_names_them(kind: str, plural: str) -> None:
    assert plural_of(kind) == plural


def test_cluster_info_comes_from_the_scheduler_cluster_state() -> None:
    info = cluster_info(
        ClusterState("eu-1", {"env": "prod"}, properties={"kubernetes-fleet.io/node-count": "3"})
    )
    ps = gate(
        policy(
            "p",
            "int(cluster.properties['kubernetes-fleet.io/node-count']) >= 3 && cluster.labels.env == 'prod'",
        )
    )
    assert evaluate(ps, info, rendered(cm())) == []
