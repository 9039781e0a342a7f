"""Whether a well-known Kubernetes kind is namespaced, without asking an API server.

KubeFleet's placement webhook asks the hub's discovery data whether a selected kind is
cluster-scoped (a ClusterResourcePlacement may only select cluster-scoped kinds besides
Namespaces) or namespaced (a ResourcePlacement may only select namespaced kinds). fleetsync has
no hub API server, so it answers from this table of built-in kinds; a kind it does not know
(a CRD, an aggregated API) is never rejected, because only the cluster that serves it knows.

The same table tells a kind the hub could not map at all (KubeFleet's webhook fails to find a
REST mapping and refuses the selector): kinds are case-sensitive, so ``namespace`` in the core
group, or any kind starting in lower case in a group the table knows, is no kind of that group.
"""

from __future__ import annotations

CLUSTER_SCOPED_KINDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("policy", "PodSecurityPolicy"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("gateway.networking.k8s.io", "GatewayClass"),
        ("cluster.kubernetes-fleet.io", "MemberCluster"),
        ("placement.kubernetes-fleet.io", "ClusterResourcePlacement"),
        ("placement.kubernetes-fleet.io", "ClusterResourceOverride"),
        ("placement.kubernetes-fleet.io", "ClusterResourceEnvelope"),
        ("placement.kubernetes-fleet.io", "ClusterStagedUpdateStrategy"),
        ("placement.kubernetes-fleet.io", "ClusterStagedUpdateRun"),
        ("placement.kubernetes-fleet.io", "ClusterApprovalRequest"),
    }
)

_NAMESPACED = frozenset(
    {
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "Service"),
        ("", "ServiceAccount"),
        ("", "Pod"),
        ("", "PodTemplate"),
        ("", "PersistentVolumeClaim"),
        ("", "ReplicationController"),
        ("", "ResourceQuota"),
        ("", "LimitRange"),
        ("", "Endpoints"),
        ("", "Event"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("policy", "PodDisruptionBudget"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("coordination.k8s.io", "Lease"),
        ("storage.k8s.io", "CSIStorageCapacity"),
        ("gateway.networking.k8s.io", "Gateway"),
        ("gateway.networking.k8s.io", "HTTPRoute"),
        ("gateway.networking.k8s.io", "GRPCRoute"),
        ("gateway.networking.k8s.io", "ReferenceGrant"),
        ("placement.kubernetes-fleet.io", "ResourcePlacement"),
        ("placement.kubernetes-fleet.io", "ResourceOverride"),
        ("placement.kubernetes-fleet.io", "ResourceEnvelope"),
    }
)


_KNOWN = CLUSTER_SCOPED_KINDS | _NAMESPACED
_KNOWN_GROUPS = frozenset(g for g, _ in _KNOWN)


def unmapped_kind(group: str, kind: str) -> tuple[bool, str]:
    """(True, the right spelling or "") when ``kind`` cannot be a kind of ``group``; (False, "") otherwise.

    Only groups the table knows are judged (in another group the kind may be a CRD's); there a
    kind that differs from a known one only in case, or starts in lower case, is no kind.
    """
    if not kind or (group, kind) in _KNOWN:
        return False, ""
    folded = kind.casefold()
    for g, k in _KNOWN:
        if g == group and k.casefold() == folded:
            return True, k
    return (group in _KNOWN_GROUPS and not kind[0].isupper()), ""


def is_namespaced(group: str, kind: str) -> bool | None:
    """True/False for a well-known kind, None when only the serving cluster knows."""
    if (group, kind) in CLUSTER_SCOPED_KINDS:
        return False
    if (group, kind) in _NAMESPACED:
        return True
    return None
