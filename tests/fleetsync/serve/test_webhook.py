"""The webhook on a real HTTP port: who may poke the hub (GitHub's signature, GitLab's token),
how often (a token bucket), and that every refusal is a small JSON or text answer, never HTML."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from fleetsync.serve.health import Health
from fleetsync.serve.metrics import Metrics
from fleetsync.serve.server import HttpServer, parse_address
from fleetsync.serve.webhook import SECRET_ENV, SecretError, TokenBucket, Webhook, load_secret
from fleetsync.ui.app import UiApp
from tests.support.serving import FakeClock, github_signature, request, samples, value

SECRET = b"It's a Secret to Everybody"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


class Hook:
    """A webhook on 127.0.0.1 whose trigger counts pokes; its bucket runs on a clock the test moves."""

    def __init__(self, secret: bytes | None, insecure: bool = False) -> None:
        self.pokes = 0
        self.clock = FakeClock()
        metrics = Metrics()
        hook = None
        if secret is not None or insecure:
            hook = Webhook(secret, self.poke, insecure=insecure, bucket=TokenBucket(1.0, 5, self.clock))
        self.server = HttpServer(("127.0.0.1", 0), Health("reconcile", 30), metrics.registry, hook)

    def poke(self) -> None:
        self.pokes += 1

    def post(
        self,
        signed: Mapping[str, str] | None = None,
        /,
        *,
        body: bytes = PUSH,
        path: str = "/hook",
        **named: str,
    ) -> tuple[int, dict[str, str]]:
        headers = {**(signed or {}), **{k.replace("_", "-"): v for k, v in named.items()}}
        reply = request(self.server.port, "POST", path, body, headers)
        assert reply.headers["content-type"] == "application/json"
        return reply.status, json.loads(reply.body)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(SECRET)
    h.server.start()
    yield h
    h.server.stop()


def test_a_push_signed_the_github_way_pokes_the_hub(hook: Hook) -> None:
    status, body = hook.post(github_signature(SECRET, PUSH), X_GitHub_Event="push")
    assert (status, hook.pokes) == (202, 1)
    assert body["status"].startswith("accepted")


def test_a_wrong_github_signature_is_403_and_pokes_nothing(hook: Hook) -> None:
    signed_other_body = github_signature(SECRET, PUSH + b" ")
    assert hook.post(signed_other_body)[0] == 403
    assert hook.post(github_signature(b"another secret", PUSH))[0] == 403
    assert hook.post(X_Hub_Signature_256="sha256=")[0] == 403
    assert hook.pokes == 0


def test_a_push_without_credentials_is_401_and_pokes_nothing(hook: Hook) -> None:
    status, body = hook.post()
    assert (status, hook.pokes) == (401, 0)
    assert "X-Hub-Signature-256" in body["error"] and "X-Gitlab-Token" in body["error"]


def test_gitlab_sends_the_secret_itself_as_its_token(hook: Hook) -> None:
    assert hook.post(X_Gitlab_Token=SECRET.decode())[0] == 202
    assert hook.post(X_Gitlab_Token="guess")[0] == 403
    assert hook.pokes == 1


def test_pushes_past_the_burst_are_429_until_a_token_refills(hook: Hook) -> None:
    signed = github_signature(SECRET, PUSH)
    assert [hook.post(signed)[0] for _ in range(5)] == [202] * 5
    reply = request(hook.server.port, "POST", "/hook", PUSH, signed)
    assert (reply.status, reply.headers["retry-after"]) == (429, "1")
    assert hook.pokes == 5
    hook.clock.now += 1.0  # one token a second
    assert hook.post(signed)[0] == 202
    assert hook.post(signed)[0] == 429
    found = samples(hook.server.port)
    assert value(found, "fleetsync_webhook_requests_total", code="202") == 6
    assert value(found, "fleetsync_webhook_requests_total", code="429") == 2


def test_the_webhook_is_only_on_its_path_a_signed_post_elsewhere_pokes_nothing(hook: Hook) -> None:
    for path in ("/", "/hook/", "/HOOK", "/healthz/hook"):
        reply = request(hook.server.port, "POST", path, PUSH, github_signature(SECRET, PUSH))
        assert reply.status == 404 and "POST /hook" in reply.text, path
    assert hook.pokes == 0
    assert hook.post(github_signature(SECRET, PUSH))[0] == 202 and hook.pokes == 1


def test_beside_the_fleet_view_a_post_to_one_of_its_pages_is_405_and_pokes_nothing() -> None:
    """``hub run --ui``: "/" is the view's page, so a push sent there is refused, not taken."""
    h = Hook(SECRET)
    h.server.pages = lambda target: (200, b"<h1>Fleet</h1>", "text/html; charset=utf-8")
    h.server.page_paths = UiApp.serves
    h.server.start()
    try:
        reply = request(h.server.port, "POST", "/", PUSH, github_signature(SECRET, PUSH))
        assert (reply.status, reply.headers["allow"]) == (405, "GET, HEAD")
        assert "POST /hook" in reply.text and h.pokes == 0
        assert request(h.server.port, "GET", "/").status == 200
        assert h.post(github_signature(SECRET, PUSH))[0] == 202 and h.pokes == 1
    finally:
        h.server.stop()


def test_a_body_over_the_bound_is_413_unread(hook: Hook) -> None:
    """Only the headers are sent: the answer comes without the server waiting for the body
    (sending the whole body would race the server closing the connection: a broken pipe)."""
    with socket.create_connection(("127.0.0.1", hook.server.port), timeout=10) as conn:
        head = (
            "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024 * 1024 + 1}\r\n\r\n"
        )
        conn.sendall(head.encode())
        reply = conn.makefile("rb").read()
    assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"413"
    assert b"larger than" in reply
    assert hook.pokes == 0


def test_without_a_secret_the_webhook_is_off_and_says_how_to_turn_it_on() -> None:
    h = Hook(None)
    h.server.start()
    try:
        status, body = h.post(github_signature(SECRET, PUSH))
    finally:
        h.server.stop()
    assert (status, h.pokes) == (404, 0)
    assert "--webhook-secret-file" in body["error"]


def test_insecure_accepts_an_unsigned_push() -> None:
    h = Hook(None, insecure=True)
    h.server.start()
    try:
        assert h.post()[0] == 202
    finally:
        h.server.stop()
    assert h.pokes == 1


def test_wrong_methods_and_paths_answer_plain_text_never_html(hook: Hook) -> None:
    for method, path, status in [
        ("GET", "/hook", 405),
        ("GET", "/", 404),
        ("POST", "/", 404),
        ("GET", "/nope", 404),
        ("POST", "/metrics", 405),
        ("POST", "/nope", 404),
        ("PUT", "/hook", 501),
    ]:
        reply = request(hook.server.port, method, path)
        assert reply.status == status, (method, path)
        assert reply.headers["content-type"].startswith("text/plain"), (method, path)
        assert b"<" not in reply.body, (method, path)
    assert hook.pokes == 0


def test_the_secret_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    assert load_secret(tmp_path / "secret", {SECRET_ENV: "other"}) == b"s3cret"
    assert load_secret(None, {SECRET_ENV: "from-env"}) == b"from-env"
    assert load_secret(None, {}) is None
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretError, match="empty"):
        load_secret(tmp_path / "empty")
    with pytest.raises(SecretError, match="missing"):
        load_secret(tmp_path / "missing")


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9440", ("127.0.0.1", 9440)), ("[::1]:80", ("::1", 80))],
)
def test_addresses_follow_flux_host_port_flags(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["8080", "host:", ":http", ":70000"])
def test_a_bad_address_names_the_expected_form(address: str) -> None:
    with pytest.raises(ValueError, match=r"\[HOST\]:PORT"):
        parse_address(address)
