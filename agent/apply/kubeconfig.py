"""Who the agent is on its member cluster: a kubeconfig's identity, honoured or refused.

The official Python client reads only part of a kubeconfig, and what it does not read it
ignores without a word: ``users[].user.as`` (impersonation) is dropped, so a kubeconfig meant to
act as a limited ServiceAccount acts with the full rights of its certificate; an unknown
``auth-provider`` is skipped and the next credential (or none) is used; a context naming a user
that does not exist connects anonymously. An agent that applies whatever Git says must never run
as someone other than the kubeconfig says, so every field that decides *who we are* is either
honoured or refused here, before a single request is sent. Impersonation is honoured the way
kubectl honours it: the ``Impersonate-*`` headers on every request (``Impersonation.headers``,
sent by agent/apply/kube.py). Everything else that the client cannot honour is refused with one
line naming the file, the user entry and the field, and what to do instead. These are pure
functions over the merged kubeconfig (``Kubeconfig``), which kube.py reads with the client's own
merger, so the check sees exactly the entries the client will use. docs/agent.md, "Identity".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_VALUE = 1024  # characters of one impersonated name, group, uid, extra key or value
MAX_VALUES = 64  # groups; extra keys; values of one extra key

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_UID = "Impersonate-Uid"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_EXTRA = "Impersonate-Extra-"
_IMPERSONATION_FIELDS = ("as", "as-uid", "as-groups", "as-user-extra")

# auth-provider names the client does not implement, and what to use instead (kubectl itself
# dropped gcp and azure in v1.26 in favour of these exec plugins).
_PROVIDER_HINTS = {
    "gcp": "use the exec credential plugin gke-gcloud-auth-plugin",
    "azure": "use the exec credential plugin kubelogin",
}
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
_HEADER_TOKEN = frozenset("!#$&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Refused(ValueError):
    """A kubeconfig the agent will not use as written: the message is the one line to print."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One named entry of ``clusters``, ``users`` or ``contexts``, and the file it came from."""

    name: str
    body: Mapping[str, Any]
    file: str


@dataclass(frozen=True, slots=True)
class Kubeconfig:
    """A merged kubeconfig: the first entry of a name wins, as in the client's merger."""

    current_context: str
    contexts: tuple[Entry, ...]
    clusters: tuple[Entry, ...]
    users: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Impersonation:
    """``as``, ``as-uid``, ``as-groups``, ``as-user-extra``: whom every request acts as."""

    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The request headers, one line per group and per extra value (as client-go sends them:
        kube-apiserver reads repeated header lines, never a comma-joined list)."""
        out = [(IMPERSONATE_USER, self.user)]
        if self.uid:
            out.append((IMPERSONATE_UID, self.uid))
        out.extend((IMPERSONATE_GROUP, g) for g in self.groups)
        for key, values in self.extra:
            out.extend((IMPERSONATE_EXTRA + header_key_escape(key), v) for v in values)
        return tuple(out)


def header_key_escape(key: str) -> str:
    """An extra key as a header name suffix: bytes outside an HTTP token, and ``%``, are
    percent-encoded (client-go's ``headerKeyEscape``; the API server unescapes them)."""
    return "".join(chr(b) if chr(b) in _HEADER_TOKEN else f"%{b:02X}" for b in key.encode())


def _named(entries: Sequence[Entry], name: str) -> Entry | None:
    return next((e for e in entries if e.name == name), None)


def _user(config: Kubeconfig, context: str | None) -> tuple[Entry, Mapping[str, Any]] | None:
    """The chosen context's user entry and its ``user`` body; None when the context names no
    user (anonymous, as intended) or does not exist (the client refuses that itself)."""
    ctx = _named(config.contexts, context or config.current_context)
    if ctx is None:
        return None
    user_name = str((ctx.body.get("context") or {}).get("user") or "")
    if not user_name:
        return None
    user = _named(config.users, user_name)
    if user is None:
        raise Refused(
            f"kubeconfig {ctx.file}: context {ctx.name!r} names user {user_name!r}, which no users[]"
            " entry has (the client would connect anonymously); add the user or fix the context"
        )
    body = user.body.get("user") or {}
    if not isinstance(body, Mapping):
        raise _refuse(user, "user", "is not a mapping")
    return user, body


def resolve(config: Kubeconfig, context: str | None, *, socks: bool) -> Impersonation | None:
    """The impersonation the chosen context's user asks for (None: act as the credential itself),
    or ``Refused`` when a field that decides the identity cannot be honoured. Run it before the
    client loads the file: the client fails on some of these with a message that helps nobody.

    ``socks``: whether a SOCKS ``proxy-url`` can be used (the client needs PySocks for it).
    """
    ctx = _named(config.contexts, context or config.current_context)
    if ctx is None:
        return None
    cluster = _named(config.clusters, str((ctx.body.get("context") or {}).get("cluster") or ""))
    _check_cluster(cluster, socks)
    found = _user(config, context)
    if found is None:
        return None
    user, body = found
    _check_credentials(user, body)
    identity = _impersonation(user, body)
    if identity is not None and cluster is not None:
        _check_proxy(user, identity, cluster.body.get("cluster") or {})
    return identity


def check_exec(config: Kubeconfig, context: str | None, *, authenticated: bool) -> None:
    """``Refused`` when the user has an exec plugin and the client came out of loading without a
    credential (no bearer token, no client certificate): the plugin failed, which the client
    only logs before going on anonymously."""
    found = _user(config, context)
    if found is None or "exec" not in found[1] or authenticated:
        return
    user, body = found
    command = body["exec"].get("command") if isinstance(body["exec"], Mapping) else None
    raise _refuse(
        user,
        f"exec plugin {str(command or '')!r}",
        "gave no credential (its error is logged above), and the client would connect"
        " anonymously; fix the plugin or its environment",
    )


def _check_cluster(cluster: Entry | None, socks: bool) -> None:
    """A ``proxy-url`` the client cannot use fails only when the first request is built, with a
    traceback; refuse it here instead, in one line."""
    body = (cluster.body.get("cluster") or {}) if cluster else {}
    proxy = str(body.get("proxy-url") or "") if isinstance(body, Mapping) else ""
    if cluster is None or not proxy:
        return
    scheme = proxy.split("://", 1)[0].lower() if "://" in proxy else ""
    where = f"kubeconfig {cluster.file}: cluster {cluster.name!r}: proxy-url"
    if scheme not in _PROXY_SCHEMES:
        raise Refused(f"{where} has scheme {scheme or '(none)'!r}; use one of {', '.join(_PROXY_SCHEMES)}")
    if scheme.startswith("socks") and not socks:
        raise Refused(
            f"{where} is a SOCKS proxy, and this installation has no SOCKS support (PySocks);"
            " install it or use an http(s) proxy"
        )


def _refuse(user: Entry, field: str, why: str) -> Refused:
    return Refused(f"kubeconfig {user.file}: user {user.name!r}: {field} {why}")


def _check_credentials(user: Entry, body: Mapping[str, Any]) -> None:
    provider = body.get("auth-provider")
    if provider is not None:
        name = str(provider.get("name") or "") if isinstance(provider, Mapping) else ""
        if "exec" in body:
            raise _refuse(user, "auth-provider", "and exec are both set (kubectl refuses this too); keep one")
        if name != "oidc":
            hint = _PROVIDER_HINTS.get(name, "use an exec credential plugin, a token or a client certificate")
            raise _refuse(
                user,
                f"auth-provider {name!r}",
                "is not implemented by the agent's Kubernetes client (only oidc is); " + hint,
            )
    if (body.get("token") or body.get("tokenFile")) and (body.get("username") or body.get("password")):
        raise _refuse(
            user,
            "token",
            "and username/password are both set: more than one authentication method"
            " (kubectl refuses this too); keep one",
        )


def _impersonation(user: Entry, body: Mapping[str, Any]) -> Impersonation | None:
    name = _string(user, "as", body.get("as"))
    uid = _string(user, "as-uid", body.get("as-uid"))
    groups = _strings(user, "as-groups", body.get("as-groups"))
    extra = _extra(user, body.get("as-user-extra"))
    if not name:
        asked = [f for f in _IMPERSONATION_FIELDS[1:] if body.get(f)]
        if asked:
            raise _refuse(
                user,
                "/".join(asked),
                "is set without as: name the user to impersonate in as (kubectl refuses this too)",
            )
        return None
    return Impersonation(name, uid, groups, extra)


def _string(user: Entry, field: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _refuse(user, field, f"must be a string, not {type(value).__name__}")
    if len(value) > MAX_VALUE:
        raise _refuse(user, field, f"is longer than {MAX_VALUE} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _refuse(user, field, "contains a control character, which no HTTP header may carry")
    return value


def _strings(user: Entry, field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _refuse(user, field, f"must be a list of strings, not {type(value).__name__}")
    if len(value) > MAX_VALUES:
        raise _refuse(user, field, f"has more than {MAX_VALUES} entries")
    return tuple(_string(user, field, v) for v in value)


def _extra(user: Entry, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise _refuse(user, "as-user-extra", f"must map keys to lists of strings, not {type(value).__name__}")
    if len(value) > MAX_VALUES:
        raise _refuse(user, "as-user-extra", f"has more than {MAX_VALUES} keys")
    out = []
    for key in sorted(value, key=str):
        k = _string(user, "as-user-extra key", key)
        if not k:
            raise _refuse(user, "as-user-extra", "has an empty key")
        out.append((k, _strings(user, f"as-user-extra[{k}]", value[key])))
    return tuple(out)


def _check_proxy(user: Entry, identity: Impersonation, cluster: Mapping[str, Any]) -> None:
    """Through an HTTP proxy to a plain-http server, urllib3 folds repeated header lines into one
    comma-joined line, which the API server would read as a single group (or extra value)."""
    proxy = str(cluster.get("proxy-url") or "").lower()
    server = str(cluster.get("server") or "").lower()
    names = [n for n, _ in identity.headers()]
    repeated = len(names) != len(set(names))
    if repeated and server.startswith("http://") and proxy.startswith(("http://", "https://")):
        raise _refuse(
            user,
            "as-groups/as-user-extra",
            "with several values cannot be sent through an HTTP proxy-url to an http:// server;"
            " use an https:// server or a single value",
        )
