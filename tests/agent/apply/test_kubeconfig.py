"""A kubeconfig's identity is honoured (Impersonate-* headers) or refused in one line, never
silently ignored (issue 14, point 1): the pure functions of agent/apply/kubeconfig.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.apply.kubeconfig import (
    MAX_VALUES,
    Entry,
    Impersonation,
    Kubeconfig,
    Refused,
    check_exec,
    header_key_escape,
    resolve,
)

FILE = "/etc/agent/kubeconfig"


def config(user: dict[str, Any] | None, cluster: dict[str, Any] | None = None, **context: str) -> Kubeconfig:
    ctx = {"cluster": "c", "user": "agent", **context}
    return Kubeconfig(
        "main",
        (Entry("main", {"name": "main", "context": ctx}, FILE),),
        (Entry("c", {"name": "c", "cluster": cluster or {"server": "https://10.0.0.1:6443"}}, FILE),),
        () if user is None else (Entry("agent", {"name": "agent", "user": user}, FILE),),
    )


def identity(user: dict[str, Any] | None, **kw: Any) -> Impersonation | None:
    return resolve(config(user, **kw), None, socks=False)


CERT = {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}


def test_without_as_the_credential_acts_as_itself() -> None:
    assert identity(CERT) is None
    assert identity({"token": "t"}) is None
    assert identity({"exec": {"command": "x", "apiVersion": "v"}}) is None


def test_as_and_as_groups_become_one_header_line_each() -> None:
    got = identity({**CERT, "as": "system:serviceaccount:agent-sa:limited", "as-groups": ["a", "b"]})
    assert got is not None
    assert got.headers() == (
        ("Impersonate-User", "system:serviceaccount:agent-sa:limited"),
        ("Impersonate-Group", "a"),
        ("Impersonate-Group", "b"),
    )


def test_as_uid_and_user_extra_are_sent_as_kubectl_sends_them() -> None:
    got = identity(
        {
            **CERT,
            "as": "jane",
            "as-uid": "1234",
            "as-user-extra": {"scopes.example.com/Team": ["a", "b"], "reason": ["audit"]},
        }
    )
    assert got is not None
    assert got.headers() == (
        ("Impersonate-User", "jane"),
        ("Impersonate-Uid", "1234"),
        ("Impersonate-Extra-reason", "audit"),
        ("Impersonate-Extra-scopes.example.com%2FTeam", "a"),
        ("Impersonate-Extra-scopes.example.com%2FTeam", "b"),
    )


@pytest.mark.parametrize(
    ("key", "escaped"),
    [("reason", "reason"), ("a/b", "a%2Fb"), ("50%", "50%25"), ("é", "%C3%A9"), ("a b", "a%20b")],
)
def test_extra_keys_are_percent_encoded_like_client_go(key: str, escaped: str) -> None:
    assert header_key_escape(key) == escaped


@pytest.mark.parametrize(
    ("user", "cluster", "expected"),
    [
        (
            {**CERT, "as-groups": ["admins"]},
            None,
            "user 'agent': as-groups is set without as: name the user to impersonate in as",
        ),
        (
            {**CERT, "as-uid": "1", "as-user-extra": {"k": ["v"]}},
            None,
            "user 'agent': as-uid/as-user-extra is set without as",
        ),
        (
            {"auth-provider": {"name": "gcp", "config": {}}},
            None,
            "user 'agent': auth-provider 'gcp' is not implemented by the agent's Kubernetes client"
            " (only oidc is); use the exec credential plugin gke-gcloud-auth-plugin",
        ),
        (
            {"auth-provider": {"name": "azure"}},
            None,
            "use the exec credential plugin kubelogin",
        ),
        (
            {"auth-provider": {"name": "openstack"}, "token": "t"},
            None,
            "user 'agent': auth-provider 'openstack' is not implemented",
        ),
        (
            {"auth-provider": {"name": "oidc"}, "exec": {"command": "x"}},
            None,
            "user 'agent': auth-provider and exec are both set",
        ),
        (
            {"token": "t", "username": "u", "password": "p"},
            None,
            "user 'agent': token and username/password are both set",
        ),
        ({**CERT, "as": "a\r\nX-Evil: 1"}, None, "user 'agent': as contains a control character"),
        ({**CERT, "as": "x" * 2000}, None, "user 'agent': as is longer than 1024 characters"),
        ({**CERT, "as": "x", "as-groups": "admins"}, None, "as-groups must be a list of strings"),
        ({**CERT, "as": "x", "as-groups": ["g"] * (MAX_VALUES + 1)}, None, "as-groups has more than 64"),
        ({**CERT, "as": "x", "as-user-extra": {"": ["v"]}}, None, "as-user-extra has an empty key"),
        (
            {**CERT, "as": "x", "as-groups": ["a", "b"]},
            {"server": "http://10.0.0.1:8080", "proxy-url": "http://proxy:3128"},
            "cannot be sent through an HTTP proxy-url to an http:// server",
        ),
        (
            CERT,
            {"server": "https://h", "proxy-url": "ftp://proxy"},
            "cluster 'c': proxy-url has scheme 'ftp'",
        ),
        (CERT, {"server": "https://h", "proxy-url": "socks5://proxy:1080"}, "no SOCKS support (PySocks)"),
    ],
    ids=[
        "groups-without-as",
        "uid-extra-without-as",
        "gcp",
        "azure",
        "unknown-provider",
        "provider-and-exec",
        "token-and-basic",
        "header-injection",
        "too-long",
        "groups-not-a-list",
        "too-many-groups",
        "empty-extra-key",
        "folded-by-http-proxy",
        "proxy-scheme",
        "socks-unavailable",
    ],
)
def test_what_the_client_cannot_honour_is_refused_in_one_line_naming_file_user_and_field(
    user: dict[str, Any], cluster: dict[str, Any] | None, expected: str
) -> None:
    with pytest.raises(Refused) as e:
        identity(user, cluster=cluster)
    message = str(e.value)
    assert message.startswith(f"kubeconfig {FILE}: ")
    assert expected in message
    assert "\n" not in message and "\r" not in message


def test_a_context_naming_a_missing_user_is_refused_not_anonymous() -> None:
    with pytest.raises(Refused, match=r"context 'main' names user 'agent', which no users\[\] entry has"):
        identity(None)


def test_an_exec_plugin_that_gave_no_credential_is_refused_not_anonymous() -> None:
    exec_user = {"exec": {"command": "aws-iam-authenticator", "apiVersion": "v"}}
    assert resolve(config(exec_user), None, socks=False) is None
    check_exec(config(exec_user), None, authenticated=True)
    with pytest.raises(Refused, match="exec plugin 'aws-iam-authenticator' gave no credential"):
        check_exec(config(exec_user), None, authenticated=False)
    check_exec(config({"token": "t"}), None, authenticated=False)  # no exec: the client's own business


def test_honoured_fields_pass() -> None:
    honoured_cluster = {
        "server": "https://10.0.0.1:6443",
        "tls-server-name": "api.internal",
        "proxy-url": "https://proxy:3128",
        "disable-compression": True,
        "insecure-skip-tls-verify": False,
        "certificate-authority-data": "Y2E=",
    }
    assert identity({**CERT, "as": "x", "as-groups": ["a", "b"]}, cluster=honoured_cluster) is not None
    assert identity({"auth-provider": {"name": "oidc", "config": {}}}) is None
    got = resolve(
        config(CERT, {"server": "https://h", "proxy-url": "socks5h://p:1"}),
        None,
        socks=True,
    )
    assert got is None


def test_the_named_context_is_the_one_checked() -> None:
    cfg = config({"token": "t"})
    other = Entry("other", {"name": "other", "context": {"cluster": "c", "user": "ghost"}}, "/b")
    cfg = Kubeconfig(cfg.current_context, (*cfg.contexts, other), cfg.clusters, cfg.users)
    assert resolve(cfg, None, socks=False) is None
    with pytest.raises(Refused, match=r"^kubeconfig /b: context 'other' names user 'ghost'"):
        resolve(cfg, "other", socks=False)


def test_loading_a_kubeconfig_whose_exec_plugin_fails_is_refused_not_anonymous(tmp_path: Path) -> None:
    from agent.apply.kube import KubeconfigError, check_kubeconfig

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "m",
        "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [
            {
                "name": "agent",
                "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "false"}},
            }
        ],
        "contexts": [{"name": "m", "context": {"cluster": "m", "user": "agent"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(doc))
    with pytest.raises(
        KubeconfigError,
        match="^" + re.escape(f"kubeconfig {path}: user 'agent': exec plugin 'false' gave no credential"),
    ):
        check_kubeconfig(str(path), None)


def _kubeconfig_file(tmp_path: Path, cluster: dict[str, Any]) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "agent"}}],
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "agent", "user": {"token": "t"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_proxy_comes_from_the_environment_or_the_kubeconfig_and_stays_for_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.apply.kube import load_configuration

    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    configuration, _ = load_configuration(_kubeconfig_file(tmp_path, {"server": "https://h:6443"}), None)
    assert configuration.proxy == "http://env-proxy:3128"
    monkeypatch.setenv("HTTPS_PROXY", "http://changed:3128")
    configuration.host = "https://h:6443"  # what the client's refresh hook does before each request
    assert configuration.proxy == "http://env-proxy:3128"  # resolved once, not per request
    named = {"server": "https://h:6443", "proxy-url": "http://kube-proxy:3128"}
    configuration, _ = load_configuration(_kubeconfig_file(tmp_path, named), None)
    assert configuration.proxy == "http://kube-proxy:3128"
