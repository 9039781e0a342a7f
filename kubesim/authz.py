"""Who is asking, and may they: an optional authorization model for a simulated cluster.

Without a model (the default) a simulated cluster knows one bearer token and lets it do
everything, as before. With an ``Authz`` it authenticates bearer tokens to users, honours the
``Impersonate-*`` headers and authorizes every resource request the way kube-apiserver does:
the requester must be allowed to ``impersonate`` the user (or ServiceAccount), each group, the
uid and each extra value, and the resulting user is then checked against the RBAC objects
stored in the simulated cluster itself (ClusterRoles, Roles and their bindings), so a test sets
up permissions with the same manifests it would apply to a real cluster. ``system:masters``
may do anything (the simulator's own token is ``kubesim-admin`` in that group), and
non-resource paths (discovery, /version, /openapi) are open to every authenticated user, as
``system:discovery`` makes them. Denials carry kube-apiserver's exact 403 Status body
(shared/kube-golden/06-error-forbidden.json; tests/data/kube-golden/). Not modelled: aggregated
ClusterRoles, ``nonResourceURLs`` rules, client certificates and anonymous requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from kubesim.status import ApiError, internal, status
from kubesim.store import Store

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"
ADMIN = "kubesim-admin"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or impersonated) user, as kube-apiserver's user.Info."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Authz:
    """``users``: bearer token → user, besides the simulator's own token (its admin)."""

    users: Mapping[str, UserInfo] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attributes:
    """One authorization question: may ``user`` do ``verb`` on this resource?"""

    user: UserInfo
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def authenticate(authz: Authz, admin_token: str, authorization: str) -> UserInfo | None:
    """The user of an ``Authorization: Bearer`` header, or None (401)."""
    token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
    if token and token == admin_token:
        return UserInfo(ADMIN, (MASTERS, AUTHENTICATED))
    user = authz.users.get(token) if token else None
    if user is None:
        return None
    groups = user.groups if AUTHENTICATED in user.groups else (*user.groups, AUTHENTICATED)
    return UserInfo(user.name, groups, user.uid, user.extra)


def impersonate(
    requester: UserInfo, lines: Sequence[tuple[str, str]], allowed: Callable[[Attributes], bool]
) -> UserInfo:
    """The user the request acts as: ``requester``, or whom its ``Impersonate-*`` header lines
    name when the requester may impersonate each of them (else kube-apiserver's 403)."""
    name: str | None = None
    uid = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    for header, value in lines:
        h = header.lower()
        if h == "impersonate-user":
            name = value
        elif h == "impersonate-uid":
            uid = value
        elif h == "impersonate-group":
            groups.append(value)
        elif h.startswith("impersonate-extra-"):
            extra.setdefault(unquote(h.removeprefix("impersonate-extra-")), []).append(value)
    if name is None:
        if groups or uid or extra:
            raise internal("Internal error occurred: requested impersonation without impersonating a user")
        return requester
    for check in _impersonation_checks(requester, name, uid, groups, extra):
        if not allowed(check):
            raise forbidden(check)
    return _impersonated(name, uid, groups, extra)


def _impersonation_checks(
    requester: UserInfo, name: str, uid: str, groups: list[str], extra: dict[str, list[str]]
) -> list[Attributes]:
    def check(group: str, resource: str, value: str, namespace: str = "", sub: str = "") -> Attributes:
        return Attributes(requester, "impersonate", group, resource, sub, namespace, value)

    sa = _service_account(name)
    out = [check("", "serviceaccounts", sa[1], sa[0]) if sa else check("", "users", name)]
    out.extend(check("", "groups", g) for g in groups)
    for key, values in extra.items():
        out.extend(check("authentication.k8s.io", "userextras", v, sub=key) for v in values)
    if uid:
        out.append(check("authentication.k8s.io", "uids", uid))
    return out


def _impersonated(name: str, uid: str, groups: list[str], extra: dict[str, list[str]]) -> UserInfo:
    sa = _service_account(name)
    out = list(groups)
    if sa and not groups:
        out = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
    if name != "system:anonymous" and not {AUTHENTICATED, UNAUTHENTICATED} & set(out):
        out.append(AUTHENTICATED)
    return UserInfo(name, tuple(out), uid, tuple((k, tuple(v)) for k, v in sorted(extra.items())))


def _service_account(name: str) -> tuple[str, str] | None:
    """(namespace, name) of ``system:serviceaccount:NS:NAME``."""
    if not name.startswith(SA_PREFIX):
        return None
    parts = name.removeprefix(SA_PREFIX).split(":")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None


def allowed(store: Store, a: Attributes) -> bool:
    """RBAC over the stored ClusterRoles, Roles and bindings (and system:masters)."""
    if MASTERS in a.user.groups:
        return True
    bindings = [(b, "") for _, b in store.items(RBAC, "clusterrolebindings")]
    if a.namespace:
        bindings += [(b, a.namespace) for _, b in store.items(RBAC, "rolebindings", a.namespace)]
    for binding, namespace in bindings:
        if not any(_subject_matches(s, a.user, namespace) for s in binding.get("subjects") or []):
            continue
        if any(_rule_allows(r, a) for r in _role_rules(store, binding.get("roleRef") or {}, namespace)):
            return True
    return False


def _subject_matches(subject: Obj, user: UserInfo, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"{SA_PREFIX}{subject.get('namespace') or namespace}:{name}"
    return False


def _role_rules(store: Store, ref: Obj, namespace: str) -> list[Obj]:
    if ref.get("kind") == "ClusterRole":
        role = store.get((RBAC, "clusterroles", "", str(ref.get("name") or "")))
    elif ref.get("kind") == "Role" and namespace:
        role = store.get((RBAC, "roles", namespace, str(ref.get("name") or "")))
    else:
        role = None
    return list((role or {}).get("rules") or [])


def _rule_allows(rule: Obj, a: Attributes) -> bool:
    verbs, groups = rule.get("verbs") or [], rule.get("apiGroups") or []
    resources, names = rule.get("resources") or [], rule.get("resourceNames") or []
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    resource_ok = "*" in resources or resource in resources
    if a.subresource and f"*/{a.subresource}" in resources:
        resource_ok = True
    return (
        ("*" in verbs or a.verb in verbs)
        and ("*" in groups or a.group in groups)
        and resource_ok
        and (not names or a.name in names)
    )


def forbidden(a: Attributes) -> ApiError:
    """kube-apiserver's 403 (responsewriters.Forbidden): the qualified resource, the object's
    name when the request names one, then who cannot do what where."""
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f"in the namespace {_q(a.namespace)}" if a.namespace else "at the cluster scope"
    why = f"User {_q(a.user.name)} cannot {a.verb} resource {_q(resource)} in API group {_q(a.group)} {where}"
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    head = f"{qualified} {_q(a.name)} is forbidden" if a.name else f"{qualified} is forbidden"
    details: Obj = {"name": a.name} if a.name else {}
    if a.group:
        details["group"] = a.group
    details["kind"] = a.resource
    return ApiError(403, status(403, "Forbidden", f"{head}: {why}", details))


def _q(s: str) -> str:
    """Go's %q for the strings that occur here."""
    return json.dumps(s, ensure_ascii=False)
