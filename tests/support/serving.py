"""Talking to fleetsync's HTTP port (fleetsync/serve/) in tests: real requests on 127.0.0.1,
answers as (status, headers, body), and /metrics read back with prometheus_client's own parser."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def request(
    port: int, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def github_signature(secret: bytes, body: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


T = TypeVar("T")


def samples(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics by sample name (``x_total``, ``x_bucket``, ...): (labels, value)."""
    reply = request(port, "GET", "/metrics")
    assert reply.status == 200, reply.text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(reply.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(found: Mapping[str, list[tuple[dict[str, str], float]]], metric: str, /, **labels: str) -> float:
    """The one sample ``metric`` whose labels include ``labels``."""
    hits = [v for got, v in found.get(metric, []) if all(got.get(k) == w for k, w in labels.items())]
    assert len(hits) == 1, f"{metric}{labels}: {len(hits)} samples in {found.get(metric)}"
    return hits[0]


class Passes:
    """Counts the passes an observer saw; ``wait(n)`` blocks (with a deadline) until n were seen."""

    def __init__(self) -> None:
        self.n = 0
        self._seen = threading.Condition()

    def wrap(self, inner: Callable[[T], None] | None) -> Callable[[T], None]:
        def observe(done: T) -> None:
            if inner is not None:
                inner(done)
            with self._seen:
                self.n += 1
                self._seen.notify_all()

        return observe

    def wait(self, n: int, timeout: float = 60) -> None:
        with self._seen:
            assert self._seen.wait_for(lambda: self.n >= n, timeout=timeout), f"{self.n} of {n} passes"


class FakeClock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
