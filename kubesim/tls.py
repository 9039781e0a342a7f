"""A self-signed serving certificate for 127.0.0.1, made once per process with the openssl CLI.

kubectl does not send a bearer token over plain HTTP, so a simulated cluster must serve TLS for
token auth to work with it. The certificate is its own CA; the kubeconfig carries it as
``certificate-authority-data``, so clients verify the server as they would a real one.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_cached: tuple[Path, Path] | None = None


def available() -> bool:
    return shutil.which("openssl") is not None


def cert_and_key() -> tuple[Path, Path]:
    """(certificate PEM, key PEM) paths, generated on first use."""
    global _cached
    with _lock:
        if _cached is None:
            folder = Path(tempfile.mkdtemp(prefix="kubesim-tls-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            cert, key = folder / "tls.crt", folder / "tls.key"
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(cert),
                    "-days",
                    "3650",
                    "-subj",
                    "/CN=kubesim",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            key.chmod(0o600)
            _cached = (cert, key)
        return _cached


def server_context() -> ssl.SSLContext:
    cert, key = cert_and_key()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def ca_pem() -> bytes:
    return cert_and_key()[0].read_bytes()
