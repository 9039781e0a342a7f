"""Kubernetes ``Status`` error bodies, shaped exactly as kube-apiserver writes them.

Every failure inside the simulator is an :class:`ApiError` carrying the HTTP code and the body a
real API server would send, so handlers raise and the HTTP layer only serialises. The helpers are
named after the ``reason`` clients switch on (``NotFound``, ``Conflict``, ``Invalid`` ...), because
the official client and kubectl classify errors by reason and code, never by message text.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


class ApiError(Exception):
    """An HTTP error answer: status code, body (a Status dict or plain text) and headers."""

    def __init__(self, code: int, body: Obj | str, headers: dict[str, str] | None = None):
        super().__init__(body if isinstance(body, str) else body.get("message", ""))
        self.code = code
        self.body = body
        self.headers = headers or {}


def status(code: int, reason: str | None, message: str, details: Obj | None = None) -> Obj:
    out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    if reason:
        out["reason"] = reason
    if details is not None:
        out["details"] = details
    out["code"] = code
    return out


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(404, status(404, "NotFound", f'{qualified} "{name}" not found', details))


def resource_not_found() -> ApiError:
    return ApiError(404, status(404, "NotFound", "the server could not find the requested resource", {}))


def page_not_found() -> ApiError:
    return ApiError(404, "404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"})


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(409, status(409, "AlreadyExists", f'{qualified} "{name}" already exists', details))


def conflict(plural: str, name: str, group: str, why: str, kind_detail: str | None = None) -> ApiError:
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind_detail or plural
    qualified = f"{plural}.{group}" if group else plural
    return ApiError(
        409, status(409, "Conflict", f'Operation cannot be fulfilled on {qualified} "{name}": {why}', details)
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, status(400, "BadRequest", message))


def invalid(kind: str, group: str, name: str, causes: list[Obj]) -> ApiError:
    """A 422 Invalid: causes are ``{"reason", "message", "field"}`` as validation reports them."""
    qualified = f"{kind}.{group}" if group else kind
    parts = list(
        dict.fromkeys(f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes)
    )
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = causes
    if not name:
        del details["name"]
    return ApiError(422, status(422, "Invalid", f'{qualified} "{name}" is invalid: {joined}', details))


def forbidden(message: str, details: Obj | None = None) -> ApiError:
    return ApiError(403, status(403, "Forbidden", message, details))


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        status(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
        ),
    )


def unauthorized() -> ApiError:
    return ApiError(401, status(401, "Unauthorized", "Unauthorized"))


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        status(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            None,
        ),
    )


def internal(message: str) -> ApiError:
    return ApiError(500, status(500, None, message))
