"""The agent's only door to a Kubernetes API server (the one module importing ``kubernetes``).

Everything goes through the official client's ``DynamicClient`` so any kind the server serves
works, custom resources included, and objects stay plain dicts (never the generated ``V1*``
classes, which drop unknown fields). Server-side apply bodies are sent as JSON: the API server
parses apply bodies as YAML 1.1, where an unquoted ``n`` or ``off`` is not a string, and JSON
sidesteps that entirely (shared/kube-golden/05-ssa-yaml11-booleans.json).

Errors are classified here, once, into agent/errors.py's tree by HTTP status and the Status
object's ``reason`` — never by matching message text further up. A kind the server does not
serve raises ``KindNotServed`` so the applier can wait for its CRD. Every object request goes
through ``_request``, which knows what it asked (verb, resource, namespace): a transient answer
(429/5xx, a reset connection) is retried there, within the pass, as agent/apply/backoff.py
decides (``Retry-After`` honoured, bounded), and an RBAC denial becomes an ``AccessDenied`` that
names the verb and resource to grant, composed from the request rather than the server's text.
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, KubeConfigMerger
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from agent.apply.backoff import DEFAULT_RETRY, RetryPolicy, retrying
from agent.apply.kubeconfig import Entry, Impersonation, Kubeconfig, Refused, check_exec, resolve
from agent.errors import (
    AccessDenied,
    Conflict,
    Forbidden,
    Invalid,
    KindNotServed,
    KubeError,
    NotFound,
    Retryable,
)

FIELD_MANAGER = "fleetsync"
CONNECTIONS = 16  # kept-alive connections to the API server: at least the applier's threads
# Where an operator grants the agent what an RBAC denial names.
RBAC_HINT = 'deploy/agent/rbac-apply.yaml; docs/agent.md "Retries and backoff"'
_RBAC_DENIAL = re.compile(r'User "([^"]{0,256})" cannot ')
MAX_RETRY_AFTER = 3600.0  # a longer (or unreadable) Retry-After is read as an hour (or ignored)

Obj = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KindRef:
    """A served kind: enough to build request paths."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool


@dataclass(frozen=True, slots=True)
class Request:
    """What a request asked for, as RBAC names it: the verb, the kind (None: discovery) and the
    namespace ("" for a cluster-scoped object or every namespace)."""

    verb: str
    ref: KindRef | None = None
    namespace: str = ""


def _line(text: str) -> str:
    """One line: a server's or a library's message may span several."""
    return " ".join(text.split())


def _message(e: ApiException) -> tuple[str, str, tuple[str, ...]]:
    try:
        body = json.loads(e.body or "")
    except (TypeError, ValueError):
        return (_line(str(e.body or e.reason or "")) or f"HTTP {e.status}", "", ())
    if not isinstance(body, dict):
        return (_line(str(body)), "", ())
    causes = tuple(
        _line(f"{c.get('field', '')}: {c.get('message', '')}".strip(": "))
        for c in (body.get("details") or {}).get("causes") or []
        if isinstance(c, dict)
    )
    return (_line(str(body.get("message") or e.reason or "")), str(body.get("reason") or ""), causes)


def denied(request: Request, user: str = "") -> str:
    """The one line an operator needs for an RBAC denial: who (the user the API server named,
    e.g. the impersonated account), which verb on which resource (``plural.group``), where, and
    where to grant it."""
    ref = request.ref
    who = f'User "{user}"' if user else "the agent's identity"
    if ref is None:
        return (
            f"forbidden: {who} cannot {request.verb} the API server's discovery "
            f"documents; grant it in the agent's RBAC ({RBAC_HINT})"
        )
    group = ref.api_version.rpartition("/")[0]
    resource = f"{ref.plural}.{group}" if group else ref.plural
    if request.namespace:
        where = f"in namespace {request.namespace}"
    else:
        where = "in all namespaces" if ref.namespaced else "(cluster-scoped)"
    return (
        f"forbidden: {who} cannot {request.verb} {resource} {where}; "
        f"grant it in the agent's RBAC ({RBAC_HINT})"
    )


def classify(e: ApiException, request: Request | None = None) -> KubeError:
    """Map an ApiException onto the agent's error tree; ``request`` names what was asked, so
    that an RBAC denial can say what to grant."""
    status = int(e.status or 0)
    message, reason, causes = _message(e)
    if status == 409:
        return Conflict(message, status=status, reason=reason, causes=causes)
    if status == 403:
        # The authorizer's denial reads 'User "NAME" cannot VERB resource ...'; quota, a
        # terminating namespace or an admission plugin answer 403 too, and keep their message.
        rbac = _RBAC_DENIAL.search(message)
        if request is not None and rbac:
            return AccessDenied(denied(request, rbac.group(1)), status=status, reason=reason)
        return Forbidden(message, status=status, reason=reason, causes=causes)
    if status in (400, 415, 422):
        return Invalid(message, status=status, reason=reason, causes=causes)
    if status == 404:
        return NotFound(message, status=status, reason=reason, causes=causes)
    if status == 429 or status >= 500 or status == 0:
        retry_after: float | None = None
        headers = e.headers or {}
        raw = headers.get("Retry-After") if hasattr(headers, "get") else None
        if raw:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
            if retry_after is not None and not 0 <= retry_after <= MAX_RETRY_AFTER:  # bounded input
                retry_after = MAX_RETRY_AFTER if retry_after > MAX_RETRY_AFTER else None
        return Retryable(message, status=status, reason=reason, retry_after=retry_after)
    return KubeError(message, status=status, reason=reason, causes=causes)


def unreachable(e: BaseException) -> Retryable:
    """No answer from the API server, as one line with the cause and what to check."""
    cause = getattr(e, "reason", None)  # urllib3's MaxRetryError and ProtocolError wrap the cause
    text = _line(str(cause)) if isinstance(cause, BaseException) else ""
    text = text or _line(str(e)) or type(e).__name__
    text = re.sub(r"<[^<>]*object at 0x[0-9a-f]+>: ", "", text)  # urllib3 names its connection object
    return Retryable(
        f"API server unreachable: {text[:300]}; check the kubeconfig's server address and that "
        "the API server is up"
    )


@contextmanager
def _classified(request: Request | None = None) -> Iterator[None]:
    try:
        yield
    except ApiException as e:
        raise classify(e, request) from e
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise unreachable(e) from e


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used (missing, not YAML, no such context): the user must fix
    it, so it is a usage error (exit 2) and never retried."""


def load_configuration(
    path: str | None, context: str | None
) -> tuple[k8s_client.Configuration, Impersonation | None]:
    """The client configuration of a kubeconfig file (and context), or of the in-cluster service
    account when ``path`` is None and we run in a pod, and whom to impersonate on every request
    (``as``; agent/apply/kubeconfig.py refuses what the client would silently ignore). Touches no
    network, so whatever fails here is the file's fault: a ``KubeconfigError``, one line."""
    configuration = k8s_client.Configuration()
    try:
        if path is None:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
                return _proxy_resolved(configuration), None
            except k8s_config.ConfigException:
                pass
        merged = _merged(path)  # None without a file: load_kube_config says so below
        identity = (
            resolve(merged, context, socks=importlib.util.find_spec("socks") is not None) if merged else None
        )
        k8s_config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
        if merged:  # the client only logs a failed exec plugin, and goes on anonymously
            check_exec(
                merged,
                context,
                authenticated=bool(configuration.api_key.get("BearerToken") or configuration.cert_file),
            )
    except Refused as e:
        raise KubeconfigError(str(e)) from e
    except Exception as e:
        where = f"kubeconfig {path or '(default)'}" + (f" context {context!r}" if context else "")
        raise KubeconfigError(f"{where}: {' '.join(str(e).split())[:300]}") from e
    return _proxy_resolved(configuration), identity


def _proxy_resolved(configuration: k8s_client.Configuration) -> k8s_client.Configuration:
    """The configuration with its proxy resolved once, now. The client's refresh hook sets
    ``host`` again before every request, and while the proxy comes from the environment each of
    those scans the environment for proxy variables (~0.5 ms of CPU per request, a quarter of the
    client's); a running agent's environment does not change. The value stays what the client
    resolved (``HTTPS_PROXY`` for an https server, or the kubeconfig's proxy-url)."""
    configuration.proxy = configuration.proxy  # the setter marks it as not from the environment
    return configuration


def _merged(path: str | None) -> Kubeconfig | None:
    """The kubeconfig as the client merges it (first entry of a name wins), each entry with the
    file it came from; None when there is no file."""
    merged = KubeConfigMerger(path or KUBE_CONFIG_DEFAULT_LOCATION).config
    if merged is None:
        return None
    root = merged.value

    def entries(kind: str) -> tuple[Entry, ...]:
        return tuple(Entry(str(n.value.get("name")), n.value, str(n.path)) for n in root.get(kind) or [])

    return Kubeconfig(
        str(root.get("current-context") or ""), entries("contexts"), entries("clusters"), entries("users")
    )


class _Impersonating:
    """The client's urllib3 pool with the ``Impersonate-*`` headers added to every request. The
    client builds headers as a plain dict, which cannot repeat ``Impersonate-Group``; urllib3's
    HTTPHeaderDict sends each value on a line of its own, as kube-apiserver reads them."""

    def __init__(self, pool: Any, headers: tuple[tuple[str, str], ...]):
        self._pool = pool
        self._headers = headers

    def request(self, method: str, url: str, *args: Any, headers: Any = None, **kw: Any) -> Any:
        merged = urllib3.HTTPHeaderDict(headers or {})
        for name, value in self._headers:
            merged.add(name, value)
        return self._pool.request(method, url, *args, headers=merged, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def check_kubeconfig(path: str | None, context: str | None) -> None:
    """Raise ``KubeconfigError`` when the kubeconfig (and context) cannot be used; no network."""
    load_configuration(path, context)


class KubeClient:
    """A member cluster's API, as the agent uses it. Construct with ``from_kubeconfig``."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self._api = api_client
        # Transient answers are retried here, the one place that knows every request; tests
        # inject the sleep and the random source.
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Served kinds resolved once per discovery: the dynamic client's lookup searches its
        # whole cache on every call, and the applier asks for each object's kind several times.
        self._kinds: dict[tuple[str, str], tuple[KindRef, Any]] = {}
        # The discovery cache lives in a directory of this client's own: the library's default
        # file in /tmp is shared by every process talking to the same URL and can predate the
        # server's current kinds.
        self._cache_dir = tempfile.TemporaryDirectory(prefix="fleetsync-discovery-")
        try:
            with _classified():
                self._dyn = DynamicClient(api_client, cache_file=f"{self._cache_dir.name}/discovery.json")
        except BaseException:
            self._cache_dir.cleanup()
            api_client.close()
            raise

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        connections: int = CONNECTIONS,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> KubeClient:
        """A kubeconfig file (and context), or the in-cluster service account when ``path`` is None
        and the agent runs in a pod. ``connections`` is how many kept-alive connections the client
        pools: give at least the number of threads that call it at once, or the extra threads
        open a new TLS connection per request and throw it away (the library's default is five
        per CPU). ``retry``, ``sleep`` and ``rng``: how transient answers are retried."""
        configuration, identity = load_configuration(path, context)
        configuration.connection_pool_maxsize = max(connections, 1)
        api = k8s_client.ApiClient(configuration)
        if identity is not None:
            impersonating = _Impersonating(api.rest_client.pool_manager, identity.headers())
            api.rest_client.pool_manager = cast(urllib3.PoolManager, impersonating)  # duck-typed
        return cls(api, retry=retry, sleep=sleep, rng=rng)

    def close(self) -> None:
        self._api.close()
        self._cache_dir.cleanup()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------------------
    def _request(self, call: Callable[[], T], request: Request) -> T:
        """``call()`` with its errors classified, transient ones retried (agent/apply/backoff.py)."""

        def once() -> T:
            with _classified(request):
                return call()

        return retrying(once, policy=self._retry, sleep=self._sleep, rng=self._rng)

    # -- discovery --------------------------------------------------------------------------
    def kind(self, api_version: str, kind: str) -> KindRef:
        """The served kind, or ``KindNotServed`` (refresh discovery after a CRD is established)."""
        return self._lookup(api_version, kind)[0]

    def _lookup(self, api_version: str, kind: str) -> tuple[KindRef, Any]:
        found = self._kinds.get((api_version, kind))
        if found is not None:
            return found
        # A core kind is looked up under the "api" prefix only: without it the client searches
        # every group serving a version named like it ("v1": some twenty discovery requests in
        # a row, each written to the cache file) before it keeps the core match.
        prefix = None if "/" in api_version else "api"
        try:
            r = self._request(
                lambda: self._dyn.resources.get(prefix=prefix, api_version=api_version, kind=kind),
                Request("get"),
            )
        except ResourceNotFoundError as e:
            raise KindNotServed(f"the server does not serve {kind} in {api_version}") from e
        found = (KindRef(api_version, kind, str(r.name), bool(r.namespaced)), r)
        self._kinds[(api_version, kind)] = found  # a plain dict write: atomic across threads
        return found

    def refresh_discovery(self) -> None:
        self._kinds = {}
        self._request(self._dyn.resources.invalidate_cache, Request("get"))

    def _resource(self, ref: KindRef) -> Any:
        return self._lookup(ref.api_version, ref.kind)[1]

    # -- health -----------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        """The API server's ``/readyz`` (KubeFleet's member health probe); ``/version`` when the
        server has no readyz endpoint. Returns (healthy, message). Not retried: a probe reports
        what it sees."""
        for path in ("/readyz", "/version"):
            try:
                with _classified():
                    self._dyn.request("GET", path, _request_timeout=10)
            except NotFound:
                continue
            except KubeError as e:
                return False, f"{path}: {e.message}"[:512]
            return True, ""
        return False, "the API server answers neither /readyz nor /version"

    # -- objects ----------------------------------------------------------------------------
    def get(self, ref: KindRef, name: str, namespace: str = "") -> Obj | None:
        resource = self._resource(ref)
        try:
            out = self._request(
                lambda: self._dyn.get(resource, name=name, namespace=namespace or None, serialize=False),
                Request("get", ref, namespace),
            )
        except NotFound:
            return None
        return _plain(out)

    def list(self, ref: KindRef, namespace: str = "", label_selector: str | None = None) -> list[Obj]:
        resource = self._resource(ref)
        out = self._request(
            lambda: self._dyn.get(
                resource, namespace=namespace or None, label_selector=label_selector, serialize=False
            ),
            Request("list", ref, namespace),
        )
        items = _plain(out).get("items") or []
        for item in items:
            item.setdefault("apiVersion", ref.api_version)
            item.setdefault("kind", ref.kind)
        return list(items)

    def apply(self, manifest: Obj, *, force: bool = False, dry_run: bool = False) -> Obj:
        """Server-side apply ``manifest`` as field manager ``fleetsync`` (idempotent, so a
        transient answer is safely retried)."""
        ref, resource = self._lookup(manifest["apiVersion"], manifest["kind"])
        meta = manifest.get("metadata") or {}
        namespace = meta.get("namespace") if ref.namespaced else None
        out = self._request(
            lambda: self._dyn.server_side_apply(
                resource,
                body=manifest,
                name=meta.get("name"),
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=force,
                dry_run="All" if dry_run else None,
                serialize=False,
            ),
            Request("patch", ref, str(namespace or "")),
        )
        return _plain(out)

    def merge_patch(self, ref: KindRef, name: str, namespace: str, patch: Obj) -> Obj:
        resource = self._resource(ref)
        out = self._request(
            lambda: self._dyn.patch(
                resource,
                body=patch,
                name=name,
                namespace=namespace or None,
                content_type="application/merge-patch+json",
                field_manager=FIELD_MANAGER,
            ),
            Request("patch", ref, namespace),
        )
        return _plain(out)

    def delete(self, ref: KindRef, name: str, namespace: str = "", uid: str | None = None) -> bool:
        """Delete, only if the object still has ``uid`` (never someone else's re-created object).

        Returns False when it was already gone (also when a retried delete finds its first try
        went through)."""
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        resource = self._resource(ref)
        try:
            self._request(
                lambda: self._dyn.delete(resource, name=name, namespace=namespace or None, body=body),
                Request("delete", ref, namespace),
            )
        except NotFound:
            return False
        return True


def _plain(value: Any) -> Obj:
    """A raw response (``serialize=False``: decoded here, skipping the client's ResourceInstance
    round trip, which costs more CPU than the request), a ResourceInstance or a dict, as a dict."""
    if hasattr(value, "data") and isinstance(value.data, bytes):
        value = value.data
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, (bytes, str)):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise KubeError(f"unexpected API response: {type(value).__name__}")
    return value
