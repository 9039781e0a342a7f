"""What ``hub run`` and ``agent run`` call: flags → a bound port, and an ``attach`` for the runner.

``serving_hub`` / ``serving_agent`` bind the port first (a taken port or a bad address is a
usage error before any Git or cluster work starts) and yield a service whose ``attach`` the
loop calls with its runner just before it starts: only then do the webhook's trigger
(``runner.poke``), liveness (``runner.scheduler.running``) and the pass recorder exist to be
wired. Leaving the block closes the port. No address: nothing is served, the service is None.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import agent.runner
import reconciler.hub.run
from fleetsync.serve.health import Health
from fleetsync.serve.metrics import Metrics
from fleetsync.serve.reconciles import HubRecorder
from fleetsync.serve.server import HttpServer, parse_address
from fleetsync.serve.syncs import AgentRecorder, CountedSource
from fleetsync.serve.webhook import SecretError, Webhook

Clock = Callable[[], float]


def http_address(address: str | None, port: int | None) -> tuple[str, int] | None:
    """``--http-address [HOST]:PORT`` or its shorthand ``--http-port P`` (``:P``); None: off."""
    if address is not None and port is not None:
        raise ValueError("give --http-address or --http-port, not both")
    if port is not None:
        return ("0.0.0.0", port)
    return parse_address(address) if address is not None else None


def hub_address(
    address: str | None,
    port: int | None,
    webhook_port: int | None,
    webhook_host: str,
    *,
    secret: bytes | None,
    insecure: bool,
) -> tuple[str, int] | None:
    """The hub's address, ``--webhook-port``/``--webhook-host`` (the flags from before one port
    served everything) included as an alias; ValueError for flags that do not go together."""
    chosen = http_address(address, port)
    if webhook_port is not None:
        if secret is None and not insecure:
            raise SecretError(
                "--webhook-port serves a webhook: give --webhook-secret-file (or "
                "FLEETSYNC_WEBHOOK_SECRET), or --webhook-insecure to accept unsigned pushes"
            )
        old = (webhook_host, webhook_port)
        if chosen is not None and chosen != old:
            raise ValueError("--webhook-port is an alias of --http-address: give one of them")
        chosen = old
    if chosen is None and (secret is not None or insecure):
        raise ValueError("the webhook is served on the HTTP port: give --http-address too")
    return chosen


class Service:
    """A bound port with its health and metrics; ``attach`` is what the loop calls with its runner."""

    def __init__(self, address: tuple[str, int], what: str, interval: float, intervals: int, clock: Clock):
        self.metrics = Metrics()
        self.health = Health(what, interval, intervals, clock=clock)
        self.server = HttpServer(address, self.health, self.metrics.registry)
        self.server.bind()


class HubService(Service):
    def __init__(self, address: tuple[str, int], interval: float, intervals: int, clock: Clock):
        super().__init__(address, "reconcile", interval, intervals, clock)
        self.webhook: tuple[bytes | None, bool] | None = None  # (secret, insecure) when served

    def attach(self, runner: reconciler.hub.run.Runner) -> None:
        self.health.watch(lambda: bool(runner.scheduler.running))
        if (leading := runner.leading) is not None:  # --leader-elect: a standby is ready too
            self.health.standby(lambda: not leading())
        runner.on_pass = HubRecorder(self.metrics, self.health, runner.repo)
        if self.webhook is not None:
            secret, insecure = self.webhook
            self.server.webhook = Webhook(secret, runner.poke, insecure=insecure)
        self.server.serve()


class AgentService(Service):
    def __init__(self, address: tuple[str, int], cluster: str, interval: float, intervals: int, clock: Clock):
        super().__init__(address, "sync", interval, intervals, clock)
        self.cluster = cluster

    def attach(self, runner: agent.runner.Runner) -> None:
        self.health.watch(lambda: bool(runner.scheduler.running))
        recorder = AgentRecorder(self.metrics, self.health, self.cluster)
        runner.on_pass = recorder
        runner.agent.source = CountedSource(runner.agent.source, self.metrics, recorder.agent)
        self.server.serve()


@contextmanager
def serving_hub(
    address: tuple[str, int] | None,
    *,
    interval: float,
    intervals: int = 3,
    secret: bytes | None = None,
    insecure: bool = False,
    clock: Clock = time.monotonic,
) -> Iterator[HubService | None]:
    """The hub's port; the webhook is served when there is a secret or ``insecure``."""
    if address is None:
        yield None
        return
    service = HubService(address, interval, intervals, clock)
    if secret is not None or insecure:
        service.webhook = (secret, insecure)
    try:
        yield service
    finally:
        service.server.stop()


@contextmanager
def serving_agent(
    address: tuple[str, int] | None,
    *,
    cluster: str,
    interval: float,
    intervals: int = 3,
    clock: Clock = time.monotonic,
) -> Iterator[AgentService | None]:
    if address is None:
        yield None
        return
    service = AgentService(address, cluster, interval, intervals, clock)
    try:
        yield service
    finally:
        service.server.stop()
