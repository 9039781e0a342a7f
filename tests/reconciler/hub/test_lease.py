"""Leader election: the pure state machine as a table, then candidates against kubesim's Lease API.

Clocks are injected (``Clock``): a lease expires because a test moves a candidate's clock, never
because a test sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubesim.server import KubeSim
from kubesim.testing import running_sim
from reconciler.gitstore.refs import RefRace, RefUpdate
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.lease import (
    ElectionConfig,
    Elector,
    ElectorState,
    KubeLeaseApi,
    LeaseConflict,
    LeaseRecord,
    attempt,
    failed,
    is_leading,
    lease_body,
    record_from_lease,
    released,
    renewed,
)
from reconciler.hub.loop import reconcile_once
from reconciler.hub.run import Runner
from tests.support.fleethelpers import CLUSTERS, base_files, joined_fleet

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)
ME = ElectionConfig("hub-a_1")
LEASE_15 = timedelta(seconds=15)


def held(holder: str, at: datetime = T0, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, LEASE_15, at, at, transitions, version="7")


# -- the state machine --------------------------------------------------------------------------
# (case, what we knew, the lease we read, now) -> (the holder we write or None, transitions written)
SEEN_OTHER_AT_T0 = ElectorState(held("hub-b_2"), T0)
LEADING_SINCE_T0 = ElectorState(held("hub-a_1"), T0, renewed_at=T0)
ATTEMPTS = [
    ("no lease: create it", ElectorState(), None, T0, "hub-a_1", 0),
    ("first sight of another's lease: wait", ElectorState(), held("hub-b_2"), T0, None, None),
    ("another's lease, unchanged for 14s: wait", SEEN_OTHER_AT_T0, held("hub-b_2"), T0 + 14 * S, None, None),
    (
        "another's lease, unchanged for 15s: take it",
        SEEN_OTHER_AT_T0,
        held("hub-b_2"),
        T0 + 15 * S,
        "hub-a_1",
        1,
    ),
    (
        "another renewed (new renewTime) at 14s: wait again",
        SEEN_OTHER_AT_T0,
        held("hub-b_2", T0 + 14 * S),
        T0 + 20 * S,
        None,
        None,
    ),
    (
        "a holder's renewTime far in the past is not trusted: our clock judges",
        ElectorState(),
        held("hub-b_2", T0 - timedelta(hours=1)),
        T0,
        None,
        None,
    ),
    ("a released lease: take it at once", SEEN_OTHER_AT_T0, held("", T0, 3), T0 + S, "hub-a_1", 4),
    ("our own lease: renew it", LEADING_SINCE_T0, held("hub-a_1"), T0 + 2 * S, "hub-a_1", 0),
]


@pytest.mark.parametrize(
    ("state", "current", "now", "holder", "transitions"),
    [a[1:] for a in ATTEMPTS],
    ids=[a[0] for a in ATTEMPTS],
)
def test_attempt_writes_only_a_missing_expired_released_or_own_lease(
    state: ElectorState,
    current: LeaseRecord | None,
    now: datetime,
    holder: str | None,
    transitions: int | None,
) -> None:
    _, want = attempt(state, current, now, ME)
    if holder is None:
        assert want is None
        return
    assert want is not None
    assert (want.holder, want.transitions, want.renewed, want.duration) == (
        holder,
        transitions,
        now,
        LEASE_15,
    )
    assert want.version == (current.version if current else None)  # the update's precondition
    if current is not None and current.holder == holder:
        assert want.acquired == current.acquired  # a renewal keeps the acquire time
    else:
        assert want.acquired == now


# (case, state, now) -> leading?
LEADING = [
    ("never renewed", ElectorState(), T0, False),
    ("just renewed", LEADING_SINCE_T0, T0, True),
    ("9.9s after the renewal", LEADING_SINCE_T0, T0 + timedelta(seconds=9.9), True),
    (
        "10s (the renew deadline) after: steps down before the lease expires",
        LEADING_SINCE_T0,
        T0 + 10 * S,
        False,
    ),
    ("the clock went backwards", LEADING_SINCE_T0, T0 - S, False),
]


@pytest.mark.parametrize(("state", "now", "leading"), [c[1:] for c in LEADING], ids=[c[0] for c in LEADING])
def test_a_leader_leads_only_within_the_renew_deadline(
    state: ElectorState, now: datetime, leading: bool
) -> None:
    assert is_leading(state, now, ME) is leading


def test_a_lost_write_or_another_holder_ends_leadership_at_once() -> None:
    assert not is_leading(failed(LEADING_SINCE_T0), T0, ME)
    state, want = attempt(LEADING_SINCE_T0, held("hub-b_2", T0 + S), T0 + 2 * S, ME)
    assert want is None and not is_leading(state, T0 + 2 * S, ME)


def test_release_hands_back_only_our_own_lease() -> None:
    record = released(renewed(ElectorState(), held("hub-a_1", T0, 2), T0), T0 + S, ME)
    assert record is not None
    assert (record.holder, record.transitions, record.version) == ("", 2, "7")
    assert released(SEEN_OTHER_AT_T0, T0, ME) is None  # another's lease is never released by us
    assert released(ElectorState(), T0, ME) is None


def test_the_config_refuses_a_renew_deadline_not_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError, match="lease duration > renew deadline"):
        ElectionConfig("x", lease_duration=10 * S, renew_deadline=10 * S)
    with pytest.raises(ValueError, match="identity"):
        ElectionConfig("")


def test_a_lease_record_survives_the_wire_format() -> None:
    record = LeaseRecord("hub-a_1", LEASE_15, T0, T0 + timedelta(microseconds=1500), 3, version="42")
    body = lease_body(record, "fleetsync-hub", "fleet-system")
    assert body["spec"]["renewTime"] == "2026-12-07T12:00:00.001500Z"  # metav1.MicroTime
    assert record_from_lease(body) == record


# -- against kubesim: the API server's optimistic concurrency ------------------------------------
class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with running_sim(controllers="never") as s:
        yield s


@pytest.fixture
def kubeconfig(sim: KubeSim, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    sim.write_kubeconfig(path)
    return str(path)


@pytest.fixture
def lease_name(request: pytest.FixtureRequest) -> str:
    return f"hub-{abs(hash(request.node.name)) % 10**8}"  # one Lease per test on the shared server


def api(kubeconfig: str, name: str) -> KubeLeaseApi:
    return KubeLeaseApi.from_environment(name, "default", kubeconfig=kubeconfig)


def candidate(kubeconfig: str, name: str, identity: str, clock: Clock) -> Elector:
    return Elector(api(kubeconfig, name), ElectionConfig(identity, name=name), clock=clock)


def test_the_lease_api_refuses_a_second_create_and_a_stale_update(kubeconfig: str, lease_name: str) -> None:
    a, b = api(kubeconfig, lease_name), api(kubeconfig, lease_name)
    assert a.get() is None
    first = a.create(LeaseRecord("a", LEASE_15, T0, T0))
    assert first.version and a.get() == first
    with pytest.raises(LeaseConflict):  # AlreadyExists is a 409 too: b lost the race to create
        b.create(LeaseRecord("b", LEASE_15, T0, T0))
    second = a.update(replace(first, renewed=T0 + S))
    assert second.version != first.version and second.renewed == T0 + S
    with pytest.raises(LeaseConflict):  # b read `first`: its update carries a stale resourceVersion
        b.update(replace(first, holder="b"))
    assert a.get() == second


def test_two_candidates_racing_exactly_one_leads(kubeconfig: str, lease_name: str) -> None:
    clock = Clock()
    electors = [candidate(kubeconfig, lease_name, f"hub-{i}_x", clock) for i in range(2)]
    start = threading.Barrier(2)
    results: dict[int, bool] = {}

    def run(i: int) -> None:
        start.wait()
        results[i] = electors[i].try_once()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [False, True]
    leader = next(e for e in electors if e.is_leading())
    for _ in range(3):  # later rounds change nothing: the leader renews, the other waits
        clock.advance(2 * S)
        assert [e.try_once() for e in electors] == [e is leader for e in electors]


def test_a_silent_leader_is_replaced_after_the_lease_duration(kubeconfig: str, lease_name: str) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = candidate(kubeconfig, lease_name, "hub-a_1", clock_a)
    b = candidate(kubeconfig, lease_name, "hub-b_2", clock_b)
    assert a.try_once() and not b.try_once()
    clock_a.advance(10 * S)  # a's renewal thread is stuck: by its own clock it steps down...
    assert not a.is_leading()
    clock_b.advance(14 * S)  # ...before b may take over
    assert not b.try_once()
    clock_b.advance(S)  # 15s after b saw a's last renewal
    assert b.try_once()
    assert not a.try_once()  # a comes back: the lease is b's now
    lease = api(kubeconfig, lease_name).get()
    assert lease is not None and (lease.holder, lease.transitions) == ("hub-b_2", 1)


def test_a_released_lease_is_taken_at_once(kubeconfig: str, lease_name: str) -> None:
    clock = Clock()
    a = candidate(kubeconfig, lease_name, "hub-a_1", clock)
    b = candidate(kubeconfig, lease_name, "hub-b_2", clock)
    changes: list[bool] = []
    a.on_change = changes.append
    assert a.try_once() and not b.try_once()
    a.stop()  # shutdown: never started, still releases
    assert changes == [True, False] and not a.is_leading()
    clock.advance(S)
    assert b.try_once()


# -- two hub replicas, one fleet repo, one Lease ------------------------------------------------
def test_two_hub_replicas_never_both_publish(kubeconfig: str, lease_name: str, tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", T0)
    clock = Clock()
    published: list[tuple[str, float]] = []

    def replica(identity: str) -> tuple[Elector, Runner, HubRepo]:
        repo = HubRepo.local(work.path)
        publish = repo.publish

        def recorded(updates: Sequence[RefUpdate]) -> None:
            if updates:
                published.append((identity, clock().timestamp()))
            publish(updates)

        repo.publish = recorded  # type: ignore[method-assign]
        elector = candidate(kubeconfig, lease_name, identity, clock)
        return elector, Runner(repo, clock=clock, leading=elector.is_leading), repo

    replicas = [replica("hub-a_1"), replica("hub-b_2")]
    try:
        barrier = threading.Barrier(2)

        def loop(elector: Elector, runner: Runner) -> None:  # each replica: elect, then reconcile
            for _ in range(4):
                barrier.wait()
                elector.try_once()
                runner.tick()

        threads = [threading.Thread(target=loop, args=(e, r)) for e, r, _ in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        leaders = [e.config.identity for e, _, _ in replicas if e.is_leading()]
        assert len(leaders) == 1
        assert published and {who for who, _ in published} == set(leaders)  # the standby never wrote
        assert len(work.refs()) >= 1 + len(CLUSTERS)
    finally:
        for _, _, repo in replicas:
            repo.close()


def test_a_stale_leader_publish_fails_with_refrace_not_a_lost_update(
    kubeconfig: str, lease_name: str, tmp_path: Path
) -> None:
    work = joined_fleet(tmp_path / "fleet", T0)
    clock_a, clock_b = Clock(), Clock()
    a = candidate(kubeconfig, lease_name, "hub-a_1", clock_a)
    b = candidate(kubeconfig, lease_name, "hub-b_2", clock_b)
    with HubRepo.local(work.path) as repo_a, HubRepo.local(work.path) as repo_b:
        assert a.try_once() and not b.try_once()
        assert reconcile_once(repo_a, T0).written  # a leads and publishes
        work.commit(base_files(version="2"))
        won: list[tuple[str, ...]] = []

        def paused(message: str) -> None:  # a stalls right before its publish; b takes over
            if message.startswith("publishing") and not won:
                clock_b.advance(LEASE_15)
                assert b.try_once()
                won.append(reconcile_once(repo_b, T0 + LEASE_15).written)

        status_before = work.refs()["refs/heads/fleet/status"]
        with pytest.raises(RefRace):
            reconcile_once(repo_a, T0 + S, progress=paused, max_attempts=1)
        assert won and won[0]  # b's work is on the refs, a's stale update was refused as a whole
        assert work.refs()["refs/heads/fleet/status"] != status_before
        assert a.try_once() is False  # and a, back, finds the lease taken
