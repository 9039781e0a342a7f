"""The hub's webhook: a Git host's push, verified and rate-limited, pokes the reconcile loop.

A push only brings the next poll forward (the body is never trusted for what to do), yet an
open endpoint lets anyone on the network make the hub fetch at will, so every push must prove
its sender knows a shared secret, the way each host signs: GitHub sends
``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``, GitLab sends the secret
itself in ``X-Gitlab-Token``. Both are compared in constant time (``hmac.compare_digest``).
No credential is 401, a wrong one 403. Without a secret the webhook is off unless the operator
says ``--webhook-insecure`` (the CLI refuses ``--webhook-port`` with neither, at start-up).

A token bucket (1 push a second, bursts of 5) sits in front of everything, before the body is
read: past it the answer is 429 with ``Retry-After``. Polling goes on at its interval whatever
the webhook sees, so a flood can delay a poke, never stop the hub. Answers are small JSON
objects, never HTML.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_ENV = "FLEETSYNC_WEBHOOK_SECRET"
MAX_BODY = 1024 * 1024
GITHUB_HEADER = "X-Hub-Signature-256"
GITLAB_HEADER = "X-Gitlab-Token"
PATHS = ("/hook",)  # only there: "/" is the fleet view's (GET) and takes no push


class SecretError(ValueError):
    """The webhook secret cannot be read (a usage error at start-up)."""


def load_secret(path: Path | None, env: Mapping[str, str] = os.environ) -> bytes | None:
    """The secret from ``path`` (a mounted Secret; surrounding whitespace dropped) or from
    ``FLEETSYNC_WEBHOOK_SECRET``; None when neither is set."""
    if path is not None:
        try:
            secret = path.read_bytes().strip()
        except OSError as e:
            raise SecretError(f"--webhook-secret-file {path}: {e.strerror or e}") from e
        if not secret:
            raise SecretError(f"--webhook-secret-file {path}: the file is empty")
        return secret
    value = env.get(SECRET_ENV, "").strip()
    return value.encode() if value else None


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take()`` is None when a token was taken, else
    the seconds until one will be there. Thread-safe; the clock is injected for tests."""

    def __init__(self, rate: float = 1.0, burst: int = 5, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate


@dataclass(frozen=True, slots=True)
class Answer:
    code: int
    body: dict[str, str]
    retry_after: int | None = None

    def json(self) -> bytes:
        return (json.dumps(self.body, sort_keys=True) + "\n").encode()


def verify(secret: bytes, headers: Mapping[str, str], body: bytes) -> Answer | None:
    """None when the push carries a valid GitHub signature or GitLab token; the refusal otherwise.
    ``headers`` are keyed by lower-case name."""
    signature = headers.get(GITHUB_HEADER.lower())
    token = headers.get(GITLAB_HEADER.lower())
    if signature is not None:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature.strip().encode(), expected.encode()):
            return None
        return Answer(403, {"error": f"{GITHUB_HEADER} does not match the body signed with the secret"})
    if token is not None:
        if hmac.compare_digest(token.strip().encode(), secret):
            return None
        return Answer(403, {"error": f"{GITLAB_HEADER} is not the secret"})
    return Answer(401, {"error": f"no {GITHUB_HEADER} (GitHub) or {GITLAB_HEADER} (GitLab) header"})


class Webhook:
    """What ``POST /hook`` does; the HTTP server (server.py) only moves bytes."""

    def __init__(
        self,
        secret: bytes | None,
        trigger: Callable[[], None],
        *,
        insecure: bool = False,
        bucket: TokenBucket | None = None,
    ):
        if secret is None and not insecure:
            raise SecretError("a webhook needs a secret, or insecure=True")
        self.secret = secret
        self.trigger = trigger
        self.bucket = bucket or TokenBucket()

    def admit(self, length: int) -> Answer | None:
        """Checked before the body is read: the rate limit and the size bound."""
        wait = self.bucket.take()
        if wait is not None:
            return Answer(429, {"error": "too many pushes; polling continues"}, math.ceil(wait))
        if length > MAX_BODY:
            return Answer(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
        return None

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        if self.secret is not None and (refused := verify(self.secret, headers, body)) is not None:
            return refused
        self.trigger()
        return Answer(202, {"status": "accepted: the hub reconciles now"})


OFF = Answer(
    404,
    {
        "error": "the webhook is off: start the hub with --webhook-secret-file "
        f"(or {SECRET_ENV}), or --webhook-insecure"
    },
)
