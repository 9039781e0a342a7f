"""kubesim's optional authorization model (kubesim/authz.py): users, impersonation and RBAC, with
kube-apiserver's exact 403 bodies (tests/data/kube-golden/06-error-forbidden.json)."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from kubesim.authz import Authz, UserInfo
from kubesim.server import KubeSim
from kubesim.testing import running_sim
from tests.support import DATA

SA_TOKEN = "sa-nobody-token"
BOB_TOKEN = "bob-token"
GOLDEN = json.loads((DATA / "kube-golden" / "06-error-forbidden.json").read_text())


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    users = {
        SA_TOKEN: UserInfo(
            "system:serviceaccount:golden-errors:nobody",
            ("system:serviceaccounts", "system:serviceaccounts:golden-errors"),
        ),
        BOB_TOKEN: UserInfo("bob"),
    }
    with running_sim(authz_model=Authz(users)) as s:
        yield s


def call(
    sim: KubeSim,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """One request; ``headers`` may repeat a name (one line each, as client-go sends them)."""
    url = urlsplit(sim.url)
    if url.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(url.netloc, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection(url.netloc, timeout=10)
    data = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    try:
        conn.putrequest(method, path)
        conn.putheader("Authorization", f"Bearer {token or sim.token}")
        for name, value in headers:
            conn.putheader(name, value)
        if data:
            conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith(b"{") else raw.decode()
    finally:
        conn.close()


def golden_call(sim: KubeSim, i: int) -> tuple[int, Any]:
    q = GOLDEN["requests"][i]
    headers = dict(q.get("headers") or {})
    token = SA_TOKEN if headers.pop("Authorization", None) else None
    path = q["path"] + (f"?{urlencode(q['query'])}" if q["query"] else "")
    return call(
        sim,
        q["method"],
        path,
        token=token,
        headers=list(headers.items()),
        body=q["body"],
        content_type=q["content_type"] or "application/json",
    )


@pytest.mark.parametrize(
    "i",
    [0, 1, 2, 3, 7],
    ids=["jane-list", "jane-create", "jane-apply", "jane-group-cluster-scope", "sa-token-list"],
)
def test_a_denied_request_gets_kube_apiservers_exact_403(sim: KubeSim, i: int) -> None:
    sim.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "golden-errors"}})
    expected = GOLDEN["responses"][i]
    assert golden_call(sim, i) == (expected["status"], expected["body"])


def test_discovery_is_open_to_every_authenticated_user(sim: KubeSim) -> None:
    status, body = call(sim, "GET", "/apis/apps/v1", token=SA_TOKEN)
    assert status == 200 and body["groupVersion"] == "apps/v1"
    assert call(sim, "GET", "/api/v1/namespaces", token="wrong")[0] == 401


def test_impersonating_without_the_right_gets_the_impersonation_403(sim: KubeSim) -> None:
    status, body = call(
        sim,
        "GET",
        "/api/v1/namespaces",
        token=BOB_TOKEN,
        headers=[("Impersonate-User", "system:serviceaccount:agent-sa:limited")],
    )
    assert status == 403
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'serviceaccounts "limited" is forbidden: User "bob" cannot impersonate resource'
        ' "serviceaccounts" in API group "" in the namespace "agent-sa"',
        "reason": "Forbidden",
        "details": {"name": "limited", "kind": "serviceaccounts"},
        "code": 403,
    }
    status, body = call(
        sim, "GET", "/api/v1/namespaces", token=BOB_TOKEN, headers=[("Impersonate-User", "jane")]
    )
    assert (status, body["message"]) == (
        403,
        'users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope',
    )


def rbac(sim: KubeSim, name: str, rules: list[dict[str, Any]], subjects: list[dict[str, Any]]) -> None:
    group = "rbac.authorization.k8s.io"
    sim.create(
        {"apiVersion": f"{group}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}
    )
    sim.create(
        {
            "apiVersion": f"{group}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        }
    )


def test_a_user_allowed_to_impersonate_acts_as_the_impersonated_user_under_its_rbac(sim: KubeSim) -> None:
    rbac(
        sim,
        "impersonator",
        [{"apiGroups": [""], "resources": ["serviceaccounts", "groups"], "verbs": ["impersonate"]}],
        [{"kind": "User", "name": "bob"}],
    )
    rbac(
        sim,
        "reader",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        [{"kind": "ServiceAccount", "name": "limited", "namespace": "agent-sa"}],
    )
    sa = [("Impersonate-User", "system:serviceaccount:agent-sa:limited")]
    assert call(sim, "GET", "/api/v1/namespaces/default/configmaps", token=BOB_TOKEN)[0] == 403
    assert call(sim, "GET", "/api/v1/namespaces/default/configmaps", token=BOB_TOKEN, headers=sa)[0] == 200
    status, body = call(
        sim,
        "PATCH",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/x?fieldManager=fleetsync",
        token=BOB_TOKEN,
        headers=sa,
        body={"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}},
        content_type="application/apply-patch+yaml",
    )
    assert status == 403
    assert body["message"] == (
        'clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "system:serviceaccount:agent-sa:limited"'
        ' cannot patch resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )
    assert body["details"] == {"name": "x", "group": "rbac.authorization.k8s.io", "kind": "clusterroles"}
    assert sim.get_object("rbac.authorization.k8s.io/v1", "ClusterRole", None, "x") is None


def test_each_impersonate_group_line_is_one_group(sim: KubeSim) -> None:
    rbac(
        sim,
        "impersonator",
        [{"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}],
        [{"kind": "User", "name": "bob"}],
    )
    rbac(
        sim,
        "ops",
        [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
        [{"kind": "Group", "name": "ops"}],
    )
    as_jane = [("Impersonate-User", "jane"), ("Impersonate-Group", "dev")]
    assert call(sim, "GET", "/api/v1/nodes", token=BOB_TOKEN, headers=as_jane)[0] == 403
    assert (
        call(sim, "GET", "/api/v1/nodes", token=BOB_TOKEN, headers=[*as_jane, ("Impersonate-Group", "ops")])[
            0
        ]
        == 200
    )
    joined = [("Impersonate-User", "jane"), ("Impersonate-Group", "dev,ops")]
    assert call(sim, "GET", "/api/v1/nodes", token=BOB_TOKEN, headers=joined)[0] == 403


def test_impersonating_a_group_requires_the_right_for_that_group(sim: KubeSim) -> None:
    rbac(
        sim,
        "impersonator",
        [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}],
        [{"kind": "User", "name": "bob"}],
    )
    status, body = call(
        sim,
        "GET",
        "/api/v1/nodes",
        token=BOB_TOKEN,
        headers=[("Impersonate-User", "jane"), ("Impersonate-Group", "system:masters")],
    )
    assert (status, body["message"]) == (
        403,
        'groups "system:masters" is forbidden: User "bob" cannot impersonate resource "groups" in API group ""'
        " at the cluster scope",
    )


def test_without_a_model_the_cluster_token_may_do_anything_as_before() -> None:
    with running_sim() as plain:
        headers = [("Impersonate-User", "system:serviceaccount:agent-sa:limited")]
        assert call(plain, "GET", "/api/v1/namespaces", headers=headers)[0] == 200
        assert call(plain, "GET", "/api/v1/namespaces", token="wrong")[0] == 401
