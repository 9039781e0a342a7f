"""The kubeconfig a simulated cluster writes for its clients: token auth, its own CA."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path


def render(url: str, token: str, context: str, ca_pem: bytes | None = None) -> str:
    """A kubeconfig document (JSON is valid YAML, and needs no YAML writer)."""
    cluster: dict[str, str] = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    }
    return json.dumps(doc, indent=2) + "\n"


def write(
    path: str | os.PathLike[str], url: str, token: str, context: str, ca_pem: bytes | None = None
) -> Path:
    """Write it readable by the owner only: it holds the bearer token."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render(url, token, context, ca_pem))
    return p
