"""The retry and backoff decisions (agent/apply/backoff.py) with a fixed clock and seeded
randomness, and the applier holding an object that keeps failing the same way."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from agent.apply import backoff
from agent.apply.backoff import (
    BackoffPolicy,
    Held,
    ObjectBackoff,
    RetryPolicy,
    due,
    hold,
    hold_delay,
    retry_delay,
    retrying,
)
from agent.apply.manager import Applier
from agent.errors import AccessDenied, Conflict, Forbidden, Invalid, KubeError, NotFound, Retryable
from fleetsync_contract.report import Outcome
from tests.agent.apply.test_manager import FakeCluster, P, cm, work

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Failing:
    """A request that raises the queued errors, then answers "ok"."""

    def __init__(self, *errors: KubeError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


# -- within a pass ------------------------------------------------------------------------------
def test_retries_back_off_and_honour_retry_after() -> None:
    call = Failing(Retryable("slow", status=429, retry_after=2.0), Retryable("slow", status=503))
    sleeps: list[float] = []
    assert retrying(call, policy=RetryPolicy(), sleep=sleeps.append, rng=random.Random(1)) == "ok"
    assert len(sleeps) == 2
    assert 2.0 <= sleeps[0] <= 2.2  # what the server asked, never less
    assert 0.2 <= sleeps[1] <= 0.4  # no Retry-After: the second exponential step, jittered


def test_transient_answers_are_retried_a_bounded_number_of_times() -> None:
    call = Failing(*(Retryable("etcd", status=500) for _ in range(10)))
    sleeps: list[float] = []
    with pytest.raises(Retryable):
        retrying(call, policy=RetryPolicy(attempts=5), sleep=sleeps.append, rng=random.Random(1))
    assert call.calls == 5 and len(sleeps) == 4


@pytest.mark.parametrize(
    "error",
    [
        Forbidden("exceeded quota", status=403),
        Invalid("denied", status=400),
        Conflict("conflict", status=409),
        NotFound("gone", status=404),
        Retryable("not implemented", status=501),
    ],
)
def test_an_answer_that_would_not_change_is_not_retried(error: KubeError) -> None:
    call = Failing(error)
    with pytest.raises(type(error)):
        retrying(call, policy=RetryPolicy(), sleep=lambda _s: pytest.fail("slept"), rng=random.Random())
    assert call.calls == 1


@pytest.mark.parametrize("status", [0, 429, 500, 502, 503, 504])
def test_the_exponential_delay_is_jittered_down_to_half_and_capped(status: int) -> None:
    policy = RetryPolicy(attempts=10, base=0.2, cap=1.0)
    rng = random.Random(3)
    e = Retryable("x", status=status)
    delays = [retry_delay(policy, n, e, rng) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        step = min(1.0, 0.2 * 2 ** (n - 1))
        assert d is not None and step / 2 <= d <= step
    assert retry_delay(policy, 10, e, rng) is None  # attempts used up


def test_a_retry_after_beyond_the_bound_is_not_waited_within_the_pass() -> None:
    policy = RetryPolicy(max_retry_after=10)
    assert retry_delay(policy, 1, Retryable("x", status=429, retry_after=11), random.Random()) is None
    asked = retry_delay(policy, 1, Retryable("x", status=503, retry_after=10), random.Random())
    assert asked is not None and asked >= 10


# -- across passes ------------------------------------------------------------------------------
def test_the_hold_grows_exponentially_up_to_its_cap() -> None:
    policy = BackoffPolicy(base=10, factor=2, cap=100)
    rng = random.Random(5)
    delays = [hold_delay(policy, n, rng) for n in range(1, 9)]
    assert delays[:4] == sorted(delays[:4])  # 10, 20, 40, 80 s, each jittered down to half
    assert 5 <= delays[0] <= 10 and all(50 <= d <= 100 for d in delays[4:])


@pytest.mark.parametrize(
    ("held", "desired", "now", "expected"),
    [
        (None, "a", NOW, True),
        (Held("a", 1, NOW + timedelta(seconds=5), "", ""), "a", NOW, False),
        (Held("a", 1, NOW + timedelta(seconds=5), "", ""), "a", NOW + timedelta(seconds=5), True),
        (Held("a", 1, NOW + timedelta(seconds=5), "", ""), "b", NOW, True),  # the hub changed it
    ],
)
def test_an_object_is_due_unless_held_for_the_same_desired_content(
    held: Held | None, desired: str, now: datetime, expected: bool
) -> None:
    assert due(held, desired, now) is expected


def test_failures_of_the_same_desired_content_count_up_and_a_new_content_starts_over() -> None:
    policy, rng = BackoffPolicy(), random.Random(2)
    denial = Invalid("denied", status=400)
    first = hold(None, "a", NOW, denial, policy=policy, rng=rng, reason="R", message="denied")
    assert first is not None and first.failures == 1
    second = hold(first, "a", NOW, denial, policy=policy, rng=rng, reason="R", message="denied")
    assert second is not None and second.failures == 2 and second.retry_at > first.retry_at
    other = hold(second, "b", NOW, denial, policy=policy, rng=rng, reason="R", message="denied")
    assert other is not None and other.failures == 1
    assert first.message == f"denied; next retry after {first.retry_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def test_a_transient_failure_is_held_only_as_long_as_the_server_asked() -> None:
    policy, rng = BackoffPolicy(), random.Random()
    busy = Retryable("busy", status=429, retry_after=600)
    held = hold(None, "a", NOW, busy, policy=policy, rng=rng, reason="R", message="busy")
    assert held is not None and held.retry_at == NOW + timedelta(minutes=10)
    assert (
        hold(None, "a", NOW, Retryable("etcd", status=500), policy=policy, rng=rng, reason="", message="")
        is None
    )
    assert (
        hold(None, "a", NOW, NotFound("ns", status=404), policy=policy, rng=rng, reason="", message="")
        is None
    )


def test_the_memory_of_held_objects_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff, "MAX_HELD", 3)
    memory = ObjectBackoff(clock=lambda: NOW, rng=random.Random())
    for i in range(5):
        memory.failed((P, f"o{i}"), "a", Invalid("x", status=422), reason="R", message="x")
    assert len(memory._held) == 3


# -- the applier holding an object ----------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_the_applier_holds_a_denied_object_until_its_time_or_a_new_manifest() -> None:
    c, clock = FakeCluster(), Clock()
    memory = ObjectBackoff(BackoffPolicy(base=10, cap=100), clock=clock, rng=random.Random(4))
    applier = Applier(c, "c1", "sha256:b", [P], sleep=lambda _s: None, backoff=memory)
    c.fail["settings"] = [AccessDenied("forbidden: the agent's identity cannot patch configmaps", status=403)]

    first = applier.process(work(cm()))
    assert first.outcome == Outcome.FAILED_TO_APPLY
    assert first.message.startswith(
        "forbidden: the agent's identity cannot patch configmaps; next retry after "
    )
    tries = len(c.applies)

    clock.now += timedelta(seconds=4)  # before the hold ends (5-10 s): not sent, same report
    again = applier.process(work(cm()))
    assert len(c.applies) == tries
    assert (again.outcome, again.message) == (first.outcome, first.message)

    changed = applier.process(work(cm(k="new")))  # a new manifest is tried at once, and succeeds
    assert len(c.applies) > tries and changed.outcome == Outcome.APPLIED
    assert applier.process(work(cm(k="new"))).outcome == Outcome.UNCHANGED  # the hold is gone


def test_the_applier_tries_a_held_object_again_when_its_time_comes() -> None:
    c, clock = FakeCluster(), Clock()
    memory = ObjectBackoff(BackoffPolicy(base=10, cap=100), clock=clock, rng=random.Random(4))
    applier = Applier(c, "c1", "sha256:b", [P], sleep=lambda _s: None, backoff=memory)
    c.fail["settings"] = [Invalid("denied", status=400), Invalid("denied", status=400)]
    assert applier.process(work(cm())).outcome == Outcome.FAILED_TO_APPLY
    clock.now += timedelta(seconds=10)
    second = applier.process(work(cm()))
    assert second.outcome == Outcome.FAILED_TO_APPLY and len(c.fail["settings"]) == 0
    held = memory._held[(P, "/ConfigMap/app/settings")]
    assert held.failures == 2 and held.retry_at - clock.now >= timedelta(seconds=10)
    clock.now = held.retry_at
    assert applier.process(work(cm())).outcome == Outcome.APPLIED


def test_an_rbac_denial_of_a_secret_keeps_the_agents_own_message() -> None:
    c = FakeCluster()
    denied = "forbidden: the agent's identity cannot patch secrets in namespace app; grant it"
    c.fail["token"] = [AccessDenied(denied, status=403), Forbidden('User cannot patch "s3cr3t"', status=403)]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "app"}}
    applier = Applier(c, "c1", "sha256:b", [P], sleep=lambda _s: None)
    assert applier.process(work(secret)).message == denied
    assert applier.process(work(secret)).message == "HTTP 403 (Secret message withheld)"  # not ours: withheld
