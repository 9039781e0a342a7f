"""The client edge's classification (agent/apply/kube.py): one line per error, an RBAC denial
that says what to grant, and a ``Retry-After`` read within bounds."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from agent.apply.kube import KindRef, Request, classify
from agent.errors import AccessDenied, Forbidden, Invalid, Retryable

DEPLOYMENTS = KindRef("apps/v1", "Deployment", "deployments", True)
CLUSTERROLES = KindRef("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False)
CONFIGMAPS = KindRef("v1", "ConfigMap", "configmaps", True)


def answer(
    status: int, message: str, reason: str = "", headers: dict[str, str] | None = None
) -> ApiException:
    e = ApiException(status=status, reason=reason)
    e.body = json.dumps({"kind": "Status", "message": message, "reason": reason, "code": status})
    e.headers = headers or {}
    return e


def rbac(verb: str, resource: str, group: str, where: str) -> ApiException:
    return answer(
        403,
        f'{resource} "x" is forbidden: User "system:serviceaccount:fleetsync-system:fleetsync-agent" '
        f'cannot {verb} resource "{resource}" in API group "{group}" {where}',
        "Forbidden",
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (Request("patch", DEPLOYMENTS, "team-a"), "cannot patch deployments.apps in namespace team-a; "),
        (Request("list", CONFIGMAPS, ""), "cannot list configmaps in all namespaces; "),
        (
            Request("patch", CLUSTERROLES, ""),
            "cannot patch clusterroles.rbac.authorization.k8s.io (cluster-scoped); ",
        ),
        (Request("get"), "cannot get the API server's discovery documents; "),
    ],
)
def test_an_rbac_denial_names_the_verb_the_resource_and_the_scope(request_: Request, expected: str) -> None:
    e = classify(rbac("patch", "deployments", "apps", 'in the namespace "team-a"'), request_)
    assert isinstance(e, AccessDenied)
    assert e.message.startswith(
        'forbidden: User "system:serviceaccount:fleetsync-system:fleetsync-agent" ' + expected
    )
    assert e.message.endswith(
        """grant it in the agent's RBAC (deploy/agent/rbac-apply.yaml; docs/agent.md "Retries and backoff")"""
    )


def test_a_403_that_is_not_rbac_keeps_the_servers_reason() -> None:
    quota = "exceeded quota: quota, requested: pods=1, used: pods=10, limited: pods=10"
    e = classify(answer(403, quota, "Forbidden"), Request("patch", CONFIGMAPS, "a"))
    assert type(e) is Forbidden and e.message == quota


def test_a_multi_line_server_message_becomes_one_line() -> None:
    e = classify(
        answer(400, 'admission webhook "w" denied the request:\n  line one\n  line two', "BadRequest")
    )
    assert isinstance(e, Invalid)
    assert e.message == 'admission webhook "w" denied the request: line one line two'


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("1e9", 3600.0), ("inf", 3600.0), ("-5", None), ("nan", None), ("soon", None)],
)
def test_retry_after_is_read_within_bounds(header: str, expected: float | None) -> None:
    e = classify(answer(429, "slow down", "TooManyRequests", {"Retry-After": header}))
    assert isinstance(e, Retryable) and e.retry_after == expected
