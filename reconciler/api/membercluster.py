"""MemberCluster (``cluster.kubernetes-fleet.io``): a cluster that has joined the fleet.

Joining is committing the object, leaving is deleting it (v1beta1 has no ``state``). ``status``
is accepted and kept: a MemberCluster may declare properties and resource usage there for
clusters whose agent cannot report them; an agent's report wins for whatever it reports
(reconciler/hub/clusters.py merges them). ``spec.identity`` is how a member reaches a hub
*cluster*; fleetsync has none, so it is accepted and ignored, never required.

Both served versions (v1beta1 and v1) parse into this one model; v1 lacks ``deleteOptions``.
The label ``kubernetes-fleet.io/member-name: <name>`` is added as KubeFleet adds it, so
overrides and stage selectors can pick a cluster by name.

Leaving (docs/hub.md "Leaving the fleet") is written in Git, not by deleting the file: the
annotation ``fleetsync.io/leave`` (``"true"``: remove what was placed; ``keep-resources``: leave
it on the cluster) or a ``metadata.deletionTimestamp`` copied from a KubeFleet hub (what a
MemberCluster being deleted carries there; it means ``"true"`` unless the annotation says
``keep-resources``). Any other annotation value is refused, so a typo never removes workloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from fleetsync_contract.quantity import QuantityError, parse_quantity
from reconciler.api.fields import Fields, check_dns_subdomain, check_label_key, check_label_value, type_name
from reconciler.api.meta import Named, ObjectMeta, Origin, empty_map, parse_metadata
from reconciler.api.policy import check_property_name
from reconciler.api.registry import KindInfo

GROUP = "cluster.kubernetes-fleet.io"
KIND = "MemberCluster"
MEMBER_NAME_LABEL = "kubernetes-fleet.io/member-name"
LEAVE_ANNOTATION = "fleetsync.io/leave"


class LeaveMode(StrEnum):
    """How a leaving cluster leaves: its placed objects removed (KubeFleet's) or kept."""

    REMOVE = "true"
    KEEP_RESOURCES = "keep-resources"


LEAVE_VALUES = ("true", "false", LeaveMode.KEEP_RESOURCES.value)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True, slots=True)
class PropertyValue:
    value: str
    observation_time: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceUsage:
    capacity: Mapping[str, str] = field(default_factory=empty_map)
    allocatable: Mapping[str, str] = field(default_factory=empty_map)
    available: Mapping[str, str] = field(default_factory=empty_map)
    observation_time: str | None = None


@dataclass(frozen=True, slots=True)
class MemberCluster(Named):
    api_version: str
    meta: ObjectMeta
    origin: Origin
    heartbeat_period_seconds: int = 60
    taints: tuple[Taint, ...] = ()
    delete_validation_mode: str = "Strict"
    # Declared in `status` by the repo author (or copied from `kubectl get -o yaml`).
    properties: Mapping[str, PropertyValue] = field(default_factory=empty_map)
    resource_usage: ResourceUsage | None = None
    status: Mapping[str, Any] = field(default_factory=empty_map)
    deletion_timestamp: str = ""  # metadata.deletionTimestamp as written in the repo

    @property
    def labels(self) -> Mapping[str, str]:
        return self.meta.labels

    @property
    def leave(self) -> LeaveMode | None:
        """None: a member; else the cluster is leaving the fleet, and how (module docstring)."""
        value = self.meta.annotations.get(LEAVE_ANNOTATION, "").lower()
        if value == LeaveMode.KEEP_RESOURCES:
            return LeaveMode.KEEP_RESOURCES
        if value == LeaveMode.REMOVE or self.deletion_timestamp:
            return LeaveMode.REMOVE
        return None


# -- parsing ------------------------------------------------------------------------------------


def _check_name(name: str) -> str | None:
    """KubeFleet's CEL rule: ``size(metadata.name) < 64``, on top of Kubernetes' name rules."""
    return check_dns_subdomain(name, 63)


def parse_member_cluster(f: Fields, api_version: str, origin: Origin) -> MemberCluster:
    version = api_version.rpartition("/")[2]
    md = f.map("metadata", required=True)
    deleting = md.raw("deletionTimestamp") if md is not None else None
    meta = parse_metadata(md, namespaced=False, max_name=63, name_check=_check_name)
    leave = meta.annotations.get(LEAVE_ANNOTATION)
    if md is not None and leave is not None and leave.lower() not in LEAVE_VALUES:
        md.error("annotations", f"{LEAVE_ANNOTATION}: {leave!r} is not one of {', '.join(LEAVE_VALUES)}")
    # KubeFleet labels every MemberCluster with its own name (MemberNameLabel).
    labels = dict(meta.labels)
    if meta.name:
        labels[MEMBER_NAME_LABEL] = meta.name
    meta = ObjectMeta(meta.name, "", MappingProxyType(labels), meta.annotations)
    spec = f.map("spec")  # nothing in it is required once identity is not
    heartbeat, mode = 60, "Strict"
    taints: tuple[Taint, ...] = ()
    if spec is not None:
        spec.ignore("identity")  # how a member agent reaches a hub cluster; fleetsync has no hub cluster
        if spec.has("state"):
            spec.ignore("state")
            spec.error(
                "state",
                "spec.state (Join/Leave) is not a MemberCluster field since v1beta1: a cluster "
                "joins when its MemberCluster is committed and leaves when it is deleted; remove it",
            )
        heartbeat = spec.int("heartbeatPeriodSeconds", 60, minimum=1, maximum=600) or 60
        taints = _taints(spec)
        if version == "v1" and spec.has("deleteOptions"):
            spec.ignore("deleteOptions")
            spec.error(
                "deleteOptions",
                "deleteOptions is not served by cluster.kubernetes-fleet.io/v1: use "
                "apiVersion cluster.kubernetes-fleet.io/v1beta1 for it",
            )
        else:
            do = spec.map("deleteOptions")
            if do is not None:
                mode = do.str("validationMode", "Strict", enum=("Skip", "Strict")) or "Strict"
                do.done()
        spec.done()
    properties: dict[str, PropertyValue] = {}
    usage = None
    raw_status: dict[str, Any] = {}
    st = f.map("status")
    if st is not None:
        raw_status = dict(st.data)
        properties = _properties(st)
        ru = st.map("resourceUsage")
        usage = _resource_usage(ru) if ru is not None else None
        st.ignore("conditions", "agentStatus", "namespaces")  # agent-reported; kept raw in `status`
        st.done()
    f.done()
    return MemberCluster(
        api_version,
        meta,
        origin,
        heartbeat,
        taints,
        mode,
        MappingProxyType(properties),
        usage,
        MappingProxyType(raw_status),
        str(deleting)[:64] if deleting else "",
    )


def _taints(spec: Fields) -> tuple[Taint, ...]:
    out: list[Taint] = []
    for t in spec.objects("taints", max_items=100):
        key = t.str("key", required=True) or ""
        value = t.str("value", "") or ""
        effect = t.str("effect", required=True, enum=("NoSchedule",))
        t.done()
        show = f"{{Key:{key} Value:{value} Effect:{effect or ''}}}"  # Go's %+v, as KubeFleet prints it
        if key:
            why = check_label_key(key)
            if why:
                t.error("key", f"invalid taint key {show}: {why} (a taint key is a qualified name)")
        if value:
            why = check_label_value(value)
            if why:
                t.error("value", f"invalid taint value {show}: {why} (a taint value is a label value)")
        taint = Taint(key, value, effect or "NoSchedule")
        if taint in out:
            t.error(None, f"taint {show} already exists, taints must be unique")
        out.append(taint)
    return tuple(out)


def _properties(st: Fields) -> dict[str, PropertyValue]:
    out: dict[str, PropertyValue] = {}
    props = st.map("properties")
    if props is None:
        return out
    for name in list(props.data):
        pf = props.map(name)
        if pf is None:
            continue
        check_property_name(props, name, name)
        value = pf.str("value", required=True)
        when = pf.str("observationTime")
        pf.done()
        if value is not None:
            out[name] = PropertyValue(value, when)
    props.done()
    return out


def _resource_usage(ru: Fields) -> ResourceUsage:
    lists = {key: _resource_list(ru, key) for key in ("capacity", "allocatable", "available")}
    when = ru.str("observationTime")
    ru.done()
    return ResourceUsage(
        MappingProxyType(lists["capacity"]),
        MappingProxyType(lists["allocatable"]),
        MappingProxyType(lists["available"]),
        when,
    )


def _resource_list(ru: Fields, key: str) -> dict[str, str]:
    """A ResourceList: resource name -> quantity (JSON numbers are quantities too, as in Kubernetes)."""
    out: dict[str, str] = {}
    value = ru.raw(key)
    if value is None:
        return out
    if not isinstance(value, dict):
        ru.error(key, f"expected a map of resource name to quantity, got {type_name(value)}")
        return out
    for res, q in value.items():
        text = str(q) if isinstance(q, int | float) and not isinstance(q, bool) else q
        if not isinstance(text, str):
            ru.ctx.error(
                (*ru.at(key), res), f"expected a quantity such as 4, 500m or 16Gi, got {type_name(q)}"
            )
            continue
        try:
            parse_quantity(text)
        except QuantityError as err:
            ru.ctx.error((*ru.at(key), res), str(err))
            continue
        out[res] = text
    return out


KINDS: list[KindInfo] = [KindInfo(GROUP, KIND, False, parse_member_cluster, "cluster")]
