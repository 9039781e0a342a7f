"""Drift correction never waits on the network (issue 14, point 3).

A running agent fetches its bundle on a thread of its own and waits for it at most a short bound
(``Agent.fetch_wait``): against a remote that accepts the connection and never answers, a pass
corrects drift from the last verified bundle it holds in far less than the git timeout, the next
passes start no second fetch while the first is in flight (one git process against the clone),
and once the remote answers again the new bundle is applied. The git timeout here is 60 s and a
pass must end within 20 s: "well under the timeout", never a finer timing assertion.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.errors import SourceError
from agent.loop import Agent, SyncSummary
from agent.runner import Runner
from agent.source import FetchedBundle, GitSource
from tests.support.agentfixtures import AgentFactory, Hub, Member, placement
from tests.support.hangingpeer import HangingPeer

GIT_TIMEOUT = 60.0
WELL_UNDER = 20.0  # seconds: a pass that waited for the git timeout would take 60
FETCH_WAIT = 2.0  # the bound a pass waits for its fetch (injected; `agent run` uses 5 s)


def _objects(member: Member, value: str) -> list[tuple[Any, dict[str, Any]]]:
    p = placement()
    ns = f"{member.prefix}-app"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": ns},
        "data": {"k": value},
    }
    return [(p, namespace), (p, cm)]


class _Counting:
    """Counts the source's fetches and report pushes (started, not finished)."""

    def __init__(self, source: GitSource):
        self.fetches = 0
        self.pushes = 0
        fetch, push = source.fetch_bundle, source.push_report

        def counted_fetch(last: str | None) -> FetchedBundle | None:
            self.fetches += 1
            return fetch(last)

        def counted_push(*args: Any) -> str | None:
            self.pushes += 1
            return push(*args)

        source.fetch_bundle = counted_fetch  # type: ignore[method-assign,assignment]
        source.push_report = counted_push  # type: ignore[method-assign,assignment]


def _timed(sync: Callable[[], SyncSummary]) -> tuple[SyncSummary, float]:
    started = time.monotonic()
    summary = sync()
    return summary, time.monotonic() - started


def _silenced(agent: Agent, peer: HangingPeer) -> tuple[GitSource, _Counting]:
    source = agent.source
    assert isinstance(source, GitSource)
    source.url, source.timeout = peer.url("git"), GIT_TIMEOUT  # the remote goes silent
    return source, _Counting(source)


def test_drift_is_corrected_well_under_the_git_timeout_while_the_remote_is_silent(
    member: Member, hub: Hub, make_agent: AgentFactory, peer: HangingPeer
) -> None:
    commit = hub.publish(_objects(member, "v"))
    agent = make_agent(member, hub)
    agent.fetch_wait = FETCH_WAIT
    assert not agent.sync().errors
    _, counting = _silenced(agent, peer)
    for _ in range(3):  # each pass: the drift corrected, the one fetch still in flight
        member.kube.delete(member.kube.kind("v1", "ConfigMap"), "a", f"{member.prefix}-app")
        summary, took = _timed(agent.sync)
        assert took < WELL_UNDER
        live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "a")
        assert live is not None and live["data"]["k"] == "v"
        assert summary.errors == (
            f"fetch of fleet/bundles/{hub.cluster} still running after {FETCH_WAIT:g} s; enforcing the "
            f"last verified bundle {commit[:12]} (the report is pushed once it ends)",
        )
    assert counting.fetches == 1  # never a second git process against the clone
    assert counting.pushes == 0  # nor a report push beside the fetch in flight


def test_the_new_bundle_is_applied_once_the_remote_answers_again(
    member: Member, hub: Hub, make_agent: AgentFactory, peer: HangingPeer
) -> None:
    hub.publish(_objects(member, "v"))
    agent = make_agent(member, hub)
    agent.fetch_wait = FETCH_WAIT
    assert not agent.sync().errors
    source, counting = _silenced(agent, peer)
    summary, took = _timed(agent.sync)
    assert took < WELL_UNDER and "still running" in summary.errors[0]
    newer = hub.publish(_objects(member, "w"))
    source.url = str(hub.bare)  # the real hub is back ...
    peer.close()  # ... and the silent one hangs up: the fetch in flight fails now
    deadline = time.monotonic() + WELL_UNDER
    while time.monotonic() < deadline:  # the failed fetch is taken, then a new one applies
        summary = agent.sync()
        if agent.state.commit == newer:
            break
    assert agent.state.commit == newer and not summary.errors
    live = member.get("v1", "ConfigMap", f"{member.prefix}-app", "a")
    assert live is not None and live["data"]["k"] == "w"
    assert counting.fetches == 2 and counting.pushes >= 1  # the report went out again
    assert hub.report()[0].applied_bundle_id == summary.bundle_id


def test_closing_the_source_ends_a_fetch_the_remote_never_answers(peer: HangingPeer, tmp_path: Path) -> None:
    """What a stop relies on: ``agent run`` closes its source on the way out, and a fetch still in
    flight (its thread does not hold the exit) ends with it instead of leaving git running."""
    failed: list[BaseException] = []
    with GitSource(peer.url("git"), "eu-1", tmp_path, timeout=GIT_TIMEOUT) as source:

        def fetch() -> None:
            try:
                source.fetch_bundle(None)
            except SourceError as e:
                failed.append(e)

        thread = threading.Thread(target=fetch, daemon=True)
        thread.start()
        deadline = time.monotonic() + WELL_UNDER
        while not source.in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.in_flight()
    thread.join(timeout=WELL_UNDER)
    assert not thread.is_alive()
    assert failed and "closed" in str(failed[0])
    with pytest.raises(SourceError, match="closed"):
        source.fetch_bundle(None)  # nothing new starts once closed


def test_a_running_agent_stops_promptly_while_its_fetch_is_in_flight(
    member: Member, hub: Hub, make_agent: AgentFactory, peer: HangingPeer
) -> None:
    """SIGTERM sets the runner's stop; the runner waits for the pass in flight, which waits for
    its fetch no longer than ``fetch_wait``: the stop is not held by the silent remote."""
    hub.publish(_objects(member, "v"))
    agent = make_agent(member, hub)
    agent.fetch_wait = FETCH_WAIT
    assert not agent.sync().errors
    source, counting = _silenced(agent, peer)
    source.beat = lambda *args: ""  # type: ignore[method-assign]  # heartbeats are not under test
    runner = Runner(agent, interval=0.2, heartbeat=3600)
    thread = threading.Thread(target=runner.start, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WELL_UNDER
    while runner.passes < 2 and time.monotonic() < deadline:  # passes end with the fetch in flight
        time.sleep(0.05)
    assert runner.passes >= 2 and counting.fetches == 1 and source.in_flight()
    stopping = time.monotonic()
    runner.stop()
    thread.join(timeout=WELL_UNDER)
    assert not thread.is_alive() and time.monotonic() - stopping < WELL_UNDER
    source.close()  # what `agent run` does next: the fetch in flight ends with it
    deadline = time.monotonic() + WELL_UNDER
    while source.in_flight() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not source.in_flight()


def test_no_read_of_the_last_report_beside_the_fetch_in_flight(
    member: Member, hub: Hub, make_agent: AgentFactory, peer: HangingPeer
) -> None:
    """A restarted agent reads its last report back before it publishes one; while its fetch is in
    flight that read waits (it would be a second git process against the clone)."""
    hub.publish(_objects(member, "v"))
    agent = make_agent(member, hub)
    agent.fetch_wait = FETCH_WAIT
    source, _ = _silenced(agent, peer)
    reads: list[int] = []

    def unreadable() -> None:
        reads.append(1)
        raise SourceError("cannot fetch fleet/reports/member-1: no answer")

    source.last_report = unreadable  # type: ignore[method-assign,assignment]
    _, took = _timed(agent.sync)  # the read fails, the fetch is left in flight
    assert took < WELL_UNDER and len(reads) == 1 and source.in_flight()
    second, took = _timed(agent.sync)
    assert took < WELL_UNDER and len(reads) == 1  # not read again while the fetch runs
    assert any("still running" in e for e in second.errors)
