"""The HTTP face of a simulated cluster: routing, auth, discovery documents, faults, the log.

One :class:`KubeSim` is one cluster: its own store, discovery, controllers and a
``ThreadingHTTPServer`` on 127.0.0.1 with a random port, served from a daemon thread, so several
can run side by side in one process without sharing anything. Requests need the cluster's bearer
token. Paths route as kube-apiserver's do: an unknown group is a plain-text 404, an unknown
resource in a known group a JSON 404, aggregated discovery is served when the Accept header asks
for ``apidiscovery.k8s.io/v2``.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kubesim import authz, kubeconfig, nsdefaults, ssa, tables, tls
from kubesim.api import Call, Objects
from kubesim.controllers import Controllers, parse_mode
from kubesim.discovery import Discovery, Resource
from kubesim.faults import Faults
from kubesim.status import (
    ApiError,
    internal,
    method_not_allowed,
    page_not_found,
    resource_not_found,
    status,
    unauthorized,
)
from kubesim.store import Store
from kubesim.watch import serve_watch

Obj = dict[str, Any]
_AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeSim:
    """A simulated Kubernetes API server (see docs/kubesim.md for what it reproduces)."""

    def __init__(
        self,
        controllers: str = "instant",
        crd_establish_delay: float = 0.0,
        namespace_delete_delay: float = 0.0,
        token: str | None = None,
        clock: Callable[[], str] = _utcnow,
        port: int = 0,
        use_tls: bool | None = None,
        status_delay: float = 0.0,
        authz_model: authz.Authz | None = None,
    ):
        parse_mode(controllers)
        self.authz = authz_model  # None: the one token may do anything; else kubesim/authz.py
        self.token = token or secrets.token_urlsafe(24)
        self.now = clock
        self.store = Store()
        self.discovery = Discovery()
        self.objects = Objects(self.store, self.discovery, clock)
        self.faults = Faults()
        self.request_log: list[tuple[str, str]] = []
        self._port = port
        self.tls = tls.available() if use_tls is None else use_tls
        self._ca: str | None = None
        self.controllers = Controllers(
            self.store,
            self.discovery,
            clock,
            controllers,
            crd_establish_delay,
            namespace_delete_delay,
            status_delay,
            ca_pem=self._ca_pem,
        )
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self._bootstrap_namespace(ns)

    def _ca_pem(self) -> str:  # what kube-root-ca.crt publishes: the serving certificate is its own CA
        self._ca = self._ca or (tls.ca_pem().decode() if self.tls else nsdefaults.NO_CA)
        return self._ca

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> KubeSim:
        handler = type("Handler", (_Handler,), {"sim": self})
        # listen() backlog 128: Python's default of 5 stalls a client ~1 s when it opens 16 connections at once
        self._httpd = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 128})(
            ("127.0.0.1", self._port), handler
        )
        self._httpd.daemon_threads = True
        if self.tls:
            self._httpd.socket = tls.server_context().wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="kubesim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.controllers.stop()
        self.store.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KubeSim:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def write_kubeconfig(self, path: Any, context: str = "kubesim") -> Any:
        return kubeconfig.write(path, self.url, self.token, context, tls.ca_pem() if self.tls else None)

    # -- direct access for tests -----------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> Resource:
        res = self.discovery.by_kind(api_version, kind)
        if res is None:
            raise KeyError(f"no resource for {api_version} {kind}")
        return res

    def get_object(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        res = self._resource(api_version, kind)
        return self.store.get(Objects.key(res, namespace or "", name))

    def create(self, obj: Obj, manager: str = "kubesim") -> Obj:
        """Create an object directly (as an Update manager), bypassing HTTP and faults."""
        res = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata", {})
        call = Call(
            res,
            meta.get("namespace", "") if res.namespaced else "",
            meta.get("name", ""),
            "",
            {"fieldManager": manager},
            json.dumps(obj).encode(),
            "application/json",
            manager,
        )
        return self.objects.create(call)[1]

    def apply(self, obj: Obj, manager: str = "kubesim", force: bool = False) -> Obj:
        """Server-side apply directly (bypassing HTTP and faults)."""
        res = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata", {})
        query = {"fieldManager": manager, **({"force": "true"} if force else {})}
        call = Call(
            res,
            meta.get("namespace", "") if res.namespaced else "",
            meta.get("name", ""),
            "",
            query,
            json.dumps(obj).encode(),
            "application/apply-patch+yaml",
            manager,
        )
        return self.objects.apply(call)[1]

    def edit(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        mutate: Callable[[Obj], None],
        manager: str = "kubectl-edit",
        subresource: str = "",
    ) -> Obj:
        """An out-of-band change (drift): ``mutate`` a copy, written as an Update by ``manager``.

        With ``subresource="status"`` the change goes through the status subresource (the only way to
        change the status of kinds that have one), as a controller would write it.
        """
        res = self._resource(api_version, kind)
        with self.store.lock:
            cur = self.store.get(Objects.key(res, namespace or "", name))
            if cur is None:
                raise KeyError(f"{kind} {namespace}/{name} not found")
            new = copy.deepcopy(cur)
            mutate(new)
            call = Call(
                res,
                namespace or "",
                name,
                subresource,
                {"fieldManager": manager},
                json.dumps(new).encode(),
                "application/json",
                manager,
            )
            return self.objects.update(call)[1]

    def add_node(
        self,
        name: str,
        cpu: str = "4",
        memory: str = "16Gi",
        labels: dict[str, str] | None = None,
        pods_cpu_requested: str | None = None,
        pods: str = "110",
        pods_memory_requested: str | None = None,
    ) -> Obj:
        """A Ready Node with capacity and allocatable.

        ``pods_cpu_requested`` / ``pods_memory_requested`` add a Running pod bound to the node
        (``kube-system/load-<node>``) that requests that much, so "available" resources, computed as
        allocatable minus the requests of bound, unfinished pods, come out below allocatable.
        """
        node_labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
        }
        node_labels.update(labels or {})
        resources = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
        node: Obj = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": node_labels},
            "spec": {},
            "status": {
                "capacity": dict(resources),
                "allocatable": dict(resources),
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": self.now(),
                        "lastTransitionTime": self.now(),
                    }
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.36.2",
                    "kubeProxyVersion": "",
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "osImage": "kubesim",
                    "kernelVersion": "6.1.0",
                    "containerRuntimeVersion": "containerd://2.0.0",
                    "machineID": name,
                    "systemUUID": name,
                    "bootID": name,
                },
            },
        }
        created = self.create({k: v for k, v in node.items() if k != "status"}, manager="kubelet")
        stored = self._set_status("v1", "Node", "", name, node["status"], "kubelet") or created
        requests = {k: v for k, v in (("cpu", pods_cpu_requested), ("memory", pods_memory_requested)) if v}
        if requests:
            self.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"load-{name}", "namespace": "kube-system"},
                    "spec": {
                        "nodeName": name,
                        "containers": [
                            {
                                "name": "load",
                                "image": "registry.k8s.io/pause:3.10",
                                "resources": {"requests": requests},
                            }
                        ],
                    },
                },
                manager="kube-scheduler",
            )
            self._set_status("v1", "Pod", "kube-system", f"load-{name}", {"phase": "Running"}, "kubelet")
        return stored

    def _set_status(
        self, api_version: str, kind: str, namespace: str, name: str, status: Obj, manager: str
    ) -> Obj | None:
        res = self._resource(api_version, kind)
        key = Objects.key(res, namespace, name)
        with self.store.lock:
            cur = self.store.get(key)
            if cur is None:
                return None
            new = copy.deepcopy(cur)
            new["status"] = status
            ssa.record_update(cur, new, manager, api_version, now=self.now(), subresource="status")
            return self.store.put(key, new)

    def _bootstrap_namespace(self, name: str) -> None:
        self.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, manager="kube-apiserver"
        )

    # -- HTTP dispatch -----------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: bytes,
        lines: Sequence[tuple[str, str]] = (),
    ) -> tuple[int, Any, dict[str, str]]:
        """``lines``: every header line as sent (repeated ``Impersonate-Group`` lines included)."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.request_log.append((method, path))
        if len(self.request_log) > 100_000:  # a long demo run must not grow without bound
            del self.request_log[:50_000]
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok", {"Content-Type": "text/plain; charset=utf-8"}
        user = self._authenticate(headers.get("authorization", ""), lines)
        accept = headers.get("accept", "")
        if method == "GET":
            doc = self._discovery(path, accept)
            if doc is not None:
                return doc
        return self._object_route(method, path, query, headers, body, user)

    def _authenticate(self, authorization: str, lines: Sequence[tuple[str, str]]) -> authz.UserInfo | None:
        """None without an authorization model; else the user the request acts as."""
        model = self.authz
        if model is None:
            if authorization != f"Bearer {self.token}":
                raise unauthorized()
            return None
        user = authz.authenticate(model, self.token, authorization)
        if user is None:
            raise unauthorized()
        return authz.impersonate(user, lines, lambda a: authz.allowed(self.store, a))

    def _discovery(self, path: str, accept: str) -> tuple[int, Any, dict[str, str]] | None:  # noqa: C901
        json_ct = {"Content-Type": "application/json"}
        if path == "/version":
            return 200, self.discovery.version(), json_ct
        if path in ("/api", "/apis") and "v=v2;as=APIGroupDiscoveryList" in accept.replace(" ", ""):
            return 200, self.discovery.aggregated(core=path == "/api"), {"Content-Type": _AGG}
        if path == "/api":
            return 200, self.discovery.api_versions(self.url.split("://", 1)[1]), json_ct
        if path == "/apis":
            return 200, self.discovery.api_groups(), json_ct
        if path == "/openapi/v3":
            return 200, self.discovery.openapi_index(), {"Content-Type": "text/plain; charset=utf-8"}
        if path.startswith("/openapi/v3/"):
            spec = self.discovery.openapi_v3(path.removeprefix("/openapi/v3"))
            if spec is None:
                raise page_not_found()
            return 200, spec, json_ct
        if path.startswith("/openapi/"):
            raise page_not_found()
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) == 2:
            doc = self.discovery.resource_list("", segs[1])
            if doc is None:
                raise page_not_found()
            return 200, doc, json_ct
        if segs[0] == "apis" and len(segs) == 2:
            group = self.discovery.api_group(segs[1])
            if group is None:
                raise page_not_found()
            return 200, group, json_ct
        if segs[0] == "apis" and len(segs) == 3:
            doc = self.discovery.resource_list(segs[1], segs[2])
            if doc is None:
                raise page_not_found()
            return 200, doc, json_ct
        return None

    def _object_route(  # noqa: C901
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        user: authz.UserInfo | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) >= 2 and segs[1] == "v1":
            group, version, rest = "", "v1", segs[2:]
        elif segs[0] == "apis" and len(segs) >= 3:
            group, version, rest = segs[1], segs[2], segs[3:]
            if version not in self.discovery.group_versions(group):
                raise page_not_found()
        else:
            raise page_not_found()
        if not rest:
            raise page_not_found()
        namespace = ""
        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and self.discovery.lookup(group, version, rest[2]) is not None
        ):
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        res = self.discovery.lookup(group, version, plural)
        if res is None or len(rest) > 3 or (sub and sub not in res.subresources):
            raise resource_not_found()
        if res.namespaced and name and not namespace and plural != "namespaces":
            raise resource_not_found()
        verb = _VERBS.get(method, "")
        if method == "GET" and not name:
            verb = "watch" if query.get("watch") in ("1", "true") else "list"
        elif method == "DELETE" and not name:
            verb = "deletecollection"
        if user is not None:
            scope = name if plural == "namespaces" and name else namespace  # as kube's RequestInfo
            asked = authz.Attributes(user, verb, group, plural, sub, scope, name)
            if not authz.allowed(self.store, asked):
                raise authz.forbidden(asked)
        fault = self.faults.take(verb, res.kind, name)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)  # a slow response is the fault itself
            err = fault.error()
            if err is not None:
                raise err
        ctype = headers.get("content-type", "")
        if body and method in ("POST", "PUT") and "json" not in ctype and "yaml" not in ctype and ctype:
            # Protobuf (kubectl's typed clients) and CBOR are not spoken; client-go falls back to JSON on 415.
            raise ApiError(415, status(415, "UnsupportedMediaType", "415: Unsupported Media Type", {}))
        call = Call(
            res,
            namespace,
            name,
            sub,
            query,
            body,
            headers.get("content-type", ""),
            headers.get("user-agent", ""),
        )
        if verb == "watch":
            return (
                200,
                serve_watch(self.store, res, namespace or None, query),
                {"Content-Type": "application/json"},
            )
        if verb == "list":
            code, out, warnings = self.objects.list_objects(res, namespace or None, query)
        elif verb == "get":
            code, out, warnings = self.objects.get(call)
        elif verb == "create" and not name:
            code, out, warnings = self.objects.create(call)
        elif verb == "update" and name:
            code, out, warnings = self.objects.update(call)
        elif verb == "patch" and name:
            code, out, warnings = self.objects.patch(call)
        elif verb == "delete" and name:
            code, out, warnings = self.objects.delete(call)
        elif verb == "deletecollection":
            code, out, warnings = self.objects.delete_collection(call)
        else:
            raise method_not_allowed()
        if verb in ("list", "get") and not sub and tables.wants_table(headers.get("accept", "")):
            rows = out["items"] if verb == "list" else [out]
            out = tables.table(
                res.group,
                res.kind,
                rows,
                out["metadata"].get("resourceVersion", ""),
                query.get("includeObject", ""),
                self.now(),
            )
        out_headers = {"Content-Type": "application/json"}
        if warnings:
            out_headers["Warning"] = ", ".join(warnings)
        return code, out, out_headers


class _Handler(BaseHTTPRequestHandler):
    sim: KubeSim
    protocol_version = "HTTP/1.1"
    server_version = "kubesim"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 4 * 1024 * 1024:
            self._send(413, "request too large\n", {"Content-Type": "text/plain; charset=utf-8"})
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            lines = list(self.headers.items())  # every line, repeated ones too
            code, out, out_headers = self.sim.handle(self.command, self.path, headers, body, lines)
        except ApiError as e:
            code, out, out_headers = e.code, e.body, {"Content-Type": "application/json", **e.headers}
        except Exception as e:  # a simulator bug must still answer, as kube-apiserver would with 500
            err = internal(f"kubesim: {type(e).__name__}: {e}")
            code, out, out_headers = err.code, err.body, {"Content-Type": "application/json"}
        if callable(out):
            self._stream(code, out, out_headers)
            return
        self._send(code, out, out_headers)

    def _send(self, code: int, out: Any, headers: dict[str, str]) -> None:
        data = out.encode() if isinstance(out, str) else json.dumps(out).encode()
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(
        self, code: int, frames: Callable[[Callable[[Obj], None]], None], headers: dict[str, str]
    ) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def emit(frame: Obj) -> None:
            data = json.dumps(frame).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            frames(emit)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
