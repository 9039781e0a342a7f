"""Leader election for ``hub run --leader-elect``: one ``coordination.k8s.io/v1`` Lease, one leader.

The hub's only door to a Kubernetes API server, and only to the hub's OWN cluster (the one its
pod runs in): the hub never holds a credential to a member cluster. The election follows
client-go's ``leaderelection`` package, split in two so that the decisions are testable
without a server or a clock:

- a pure state machine over a frozen ``LeaseRecord`` (``attempt`` → the record to write or
  none; ``renewed`` / ``failed`` / ``is_leading`` → what the outcome means). A lease held by
  another is judged expired by OUR clock: ``leaseDurationSeconds`` after we last saw the record
  change, never by the holder's ``renewTime`` (clocks of two pods disagree). A leader that has
  not renewed for ``renew_deadline`` (shorter than the lease duration) stops leading before any
  other candidate may take the lease over. A released lease (empty holder) is taken at once.
- ``KubeLeaseApi``: get / create / update of the Lease with the official client, as plain
  dicts; an update carries the ``resourceVersion`` it read, so a 409 Conflict (or a create's
  409 AlreadyExists) means another candidate won the race (``LeaseConflict``).

``Elector`` runs the two: ``try_once`` is one acquire-or-renew round (what tests drive with an
injected clock), ``start`` runs rounds every ``retry_period`` in a thread, ``stop`` releases the
lease on shutdown. Leadership only gates when the hub reconciles (reconciler/hub/run.py); git's
atomic compare-and-swap ref update stays the last line of defence for a leader that loses the
lease in the middle of a reconcile: its publish fails with ``RefRace`` instead of losing an update.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from reconciler.errors import TransientError

log = logging.getLogger(__name__)

DEFAULT_NAME = "fleetsync-hub"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # metav1.MicroTime on the wire


class LeaseConflict(TransientError):
    """Another candidate wrote the Lease first (409): re-read it and try again next round."""


class LeaseUnavailable(TransientError):
    """The API server could not be asked (unreachable, 5xx, forbidden): try again next round."""


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A Lease's spec as the election reads it; ``version`` is its resourceVersion (None: unsaved)."""

    holder: str  # "" = released
    duration: timedelta
    acquired: datetime
    renewed: datetime
    transitions: int = 0
    version: str | None = None

    def same_as(self, other: LeaseRecord) -> bool:
        """The same content (the resourceVersion aside): nobody renewed or took it since."""
        return replace(self, version=None) == replace(other, version=None)


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    """client-go's defaults: lease 15s, renew deadline 10s, retry period 2s."""

    identity: str
    name: str = DEFAULT_NAME
    namespace: str = "default"
    lease_duration: timedelta = timedelta(seconds=15)
    renew_deadline: timedelta = timedelta(seconds=10)
    retry_period: timedelta = timedelta(seconds=2)

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("a leader election identity must not be empty")
        if not self.lease_duration > self.renew_deadline > self.retry_period > timedelta(0):
            raise ValueError("leader election needs lease duration > renew deadline > retry period > 0")


@dataclass(frozen=True, slots=True)
class ElectorState:
    """What one candidate knows: the record it last saw, when (by its clock), its last renewal."""

    observed: LeaseRecord | None = None
    observed_at: datetime | None = None
    renewed_at: datetime | None = None  # our last successful acquire or renew; None: not leading


# -- the pure state machine -----------------------------------------------------------------------
def observe(state: ElectorState, current: LeaseRecord | None, now: datetime) -> ElectorState:
    """Remember ``current``; its observation time moves only when its content changed."""
    if current is None:
        return replace(state, observed=None, observed_at=None)
    if state.observed is not None and state.observed_at is not None and state.observed.same_as(current):
        return replace(state, observed=current)  # a new resourceVersion alone is no renewal
    return replace(state, observed=current, observed_at=now)


def attempt(
    state: ElectorState, current: LeaseRecord | None, now: datetime, config: ElectionConfig
) -> tuple[ElectorState, LeaseRecord | None]:
    """One round: observe ``current`` and say what to write (None: another holds a valid lease)."""
    state = observe(state, current, now)
    me = config.identity
    if current is None:
        return state, LeaseRecord(me, config.lease_duration, now, now)
    if current.holder == me:
        return state, replace(current, duration=config.lease_duration, renewed=now)
    assert state.observed_at is not None
    if current.holder and now < state.observed_at + current.duration:
        return replace(state, renewed_at=None), None  # held by another: we do not lead
    return state, replace(  # expired or released: take it over
        current,
        holder=me,
        duration=config.lease_duration,
        acquired=now,
        renewed=now,
        transitions=current.transitions + 1,
    )


def renewed(state: ElectorState, written: LeaseRecord, now: datetime) -> ElectorState:
    """The write succeeded: we lead until ``renew_deadline`` after ``now``."""
    return ElectorState(observed=written, observed_at=now, renewed_at=now)


def failed(state: ElectorState) -> ElectorState:
    """The write lost a race: another candidate changed the Lease; we do not lead."""
    return replace(state, renewed_at=None)


def is_leading(state: ElectorState, now: datetime, config: ElectionConfig) -> bool:
    """Lead only within ``renew_deadline`` of the last renewal: a stuck leader steps down early."""
    return state.renewed_at is not None and state.renewed_at <= now < state.renewed_at + config.renew_deadline


def released(state: ElectorState, now: datetime, config: ElectionConfig) -> LeaseRecord | None:
    """What to write on shutdown so that another candidate takes over at once (None: not ours)."""
    lease = state.observed
    if lease is None or lease.holder != config.identity or state.renewed_at is None:
        return None
    return replace(lease, holder="", duration=timedelta(seconds=1), acquired=now, renewed=now)


# -- the API --------------------------------------------------------------------------------------
class LeaseApi(Protocol):
    """The Lease's store; ``update`` writes only if the record's ``version`` is still current."""

    def get(self) -> LeaseRecord | None: ...

    def create(self, record: LeaseRecord) -> LeaseRecord: ...

    def update(self, record: LeaseRecord) -> LeaseRecord: ...


def _time(text: Any) -> datetime:
    if not text:
        return datetime.fromtimestamp(0, UTC)
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def record_from_lease(obj: dict[str, Any]) -> LeaseRecord:
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0)),
        acquired=_time(spec.get("acquireTime")),
        renewed=_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        version=str((obj.get("metadata") or {}).get("resourceVersion") or "") or None,
    )


def lease_body(record: LeaseRecord, name: str, namespace: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if record.version is not None:
        metadata["resourceVersion"] = record.version
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": int(record.duration.total_seconds()),
            "acquireTime": record.acquired.astimezone(UTC).strftime(_MICRO_TIME),
            "renewTime": record.renewed.astimezone(UTC).strftime(_MICRO_TIME),
            "leaseTransitions": record.transitions,
        },
    }


class KubeLeaseApi:
    """One Lease through the official client's CoordinationV1Api, read and written as dicts."""

    def __init__(self, api_client: Any, name: str, namespace: str):
        from kubernetes import client

        self._client = api_client
        self._api = client.CoordinationV1Api(api_client)
        self.name = name
        self.namespace = namespace

    @classmethod
    def from_environment(cls, name: str, namespace: str, kubeconfig: str | None = None) -> KubeLeaseApi:
        """In a pod: its service account; elsewhere: ``kubeconfig``, $KUBECONFIG or ~/.kube/config."""
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
                from kubernetes import client

                return cls(client.ApiClient(), name, namespace)
            # $KUBECONFIG read now, not when the client was imported (it may list several files)
            path = kubeconfig or os.environ.get("KUBECONFIG") or None
            return cls(config.new_client_from_config(config_file=path), name, namespace)
        except (ConfigException, OSError) as e:
            raise LeaseUnavailable(f"leader election: no Kubernetes configuration: {e}") from e

    def close(self) -> None:
        self._client.close()

    def _call(self, verb: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = fn(*args, _preload_content=False, _request_timeout=10)
            return dict(json.loads(response.data))
        except ApiException as e:
            if e.status == 404 and verb == "get":
                return None
            if e.status == 409:
                raise LeaseConflict(f"lease {self.namespace}/{self.name}: {verb} conflict") from e
            raise LeaseUnavailable(f"lease {self.namespace}/{self.name}: {verb}: HTTP {e.status}") from e
        except (OSError, ValueError) as e:  # urllib3's errors are OSErrors; ValueError: a bad body
            raise LeaseUnavailable(f"lease {self.namespace}/{self.name}: {verb}: {e}") from e

    def get(self) -> LeaseRecord | None:
        obj = self._call("get", self._api.read_namespaced_lease, self.name, self.namespace)
        return None if obj is None else record_from_lease(obj)

    def create(self, record: LeaseRecord) -> LeaseRecord:
        body = lease_body(replace(record, version=None), self.name, self.namespace)
        obj = self._call("create", self._api.create_namespaced_lease, self.namespace, body)
        assert obj is not None
        return record_from_lease(obj)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        body = lease_body(record, self.name, self.namespace)
        obj = self._call("update", self._api.replace_namespaced_lease, self.name, self.namespace, body)
        assert obj is not None
        return record_from_lease(obj)


# -- the candidate --------------------------------------------------------------------------------
def default_identity() -> str:
    """client-go's convention: the pod (host) name and a random suffix, unique per process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:12]}"


def default_namespace() -> str:
    """The pod's own namespace when in a cluster, else ``default``."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class Elector:
    """One candidate: ``try_once`` is a round; ``start`` runs rounds in a thread until ``stop``."""

    def __init__(
        self,
        api: LeaseApi,
        config: ElectionConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[bool], None] | None = None,
    ):
        self.api = api
        self.config = config
        self.clock = clock
        self.on_change = on_change
        self.state = ElectorState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_leading = False

    def is_leading(self) -> bool:
        with self._lock:
            return is_leading(self.state, self.clock(), self.config)

    def try_once(self) -> bool:
        """Acquire or renew once; True when this candidate leads afterwards."""
        with self._lock:
            now = self.clock()
            try:
                self.state, want = attempt(self.state, self.api.get(), now, self.config)
                if want is not None:
                    written = self.api.update(want) if want.version else self.api.create(want)
                    self.state = renewed(self.state, written, now)
            except LeaseConflict:
                self.state = failed(self.state)
            except LeaseUnavailable as e:  # keep leading until the renew deadline says otherwise
                log.warning("leader election: cannot reach the lease", extra={"error": str(e)})
            leading = is_leading(self.state, self.clock(), self.config)
        self._announce(leading)
        return leading

    def release(self) -> None:
        """Hand the lease back (shutdown) so that another replica takes over without waiting."""
        with self._lock:
            record = released(self.state, self.clock(), self.config)
            self.state = failed(self.state)
            if record is not None:
                try:
                    self.api.update(record)
                except TransientError as e:
                    log.warning("leader election: lease not released", extra={"error": str(e)})
        self._announce(False)

    def _announce(self, leading: bool) -> None:
        if leading == self._was_leading:
            return
        self._was_leading = leading
        log.info(
            "leader election: " + ("leading" if leading else "not leading"),
            extra={"identity": self.config.identity, "lease": f"{self.config.namespace}/{self.config.name}"},
        )
        if self.on_change is not None:
            self.on_change(leading)

    def start(self) -> None:
        def rounds() -> None:
            while not self._stop.is_set():
                self.try_once()
                self._stop.wait(self.config.retry_period.total_seconds())

        self._thread = threading.Thread(target=rounds, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the rounds and release the lease if held."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.release()
