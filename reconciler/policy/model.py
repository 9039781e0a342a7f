"""ValidatingAdmissionPolicy and its Binding, as the gate reads them: models and located parsers.

The shapes are Kubernetes' ``admissionregistration.k8s.io/v1`` kinds, so a policy written for a
member cluster's API server also works as a hub-side gate, and the reverse. Each CEL expression
is compiled while the policy is parsed: a syntax error, an unknown root variable or an
undeclared ``variables.*`` reference is a located finding (file:line, field path), never an
exception at evaluation time. A policy with any finding is not used.

Two fleetsync additions, both documented in docs/policies.md: a resource rule may name
``kinds:`` instead of plural ``resources:`` (the plural of a kind comes from ``plural_of``: a
table of the common kinds, then Kubernetes' own naive pluralisation), and the annotation
``fleetsync.io/default-action`` gives the action a policy gets when fleetsync.yaml enables it
without a binding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from reconciler.api.fields import Context, Fields, check_dns_subdomain
from reconciler.api.meta import LabelSelector, Origin, parse_label_selector, parse_metadata
from reconciler.errors import Findings
from reconciler.load.yamldoc import Document
from reconciler.policy.cel import Compiled, CompileError, compile_expression

GROUP = "admissionregistration.k8s.io"
API_VERSIONS = tuple(f"{GROUP}/{v}" for v in ("v1", "v1beta1", "v1alpha1"))
POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
DEFAULT_ACTION_ANNOTATION = "fleetsync.io/default-action"
GATE_ANNOTATION = "fleetsync.io/gate"  # "false": an object to place on members, not a hub gate
MAX_VALIDATIONS = 64
MAX_VARIABLES = 64
MAX_MESSAGE_CHARS = 1024
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# kind → plural resource for the kinds policies usually name; others fall back to plural_of's rule.
PLURALS: Mapping[str, str] = MappingProxyType(
    {
        "Pod": "pods",
        "Deployment": "deployments",
        "StatefulSet": "statefulsets",
        "DaemonSet": "daemonsets",
        "ReplicaSet": "replicasets",
        "Job": "jobs",
        "CronJob": "cronjobs",
        "Service": "services",
        "ConfigMap": "configmaps",
        "Secret": "secrets",
        "Namespace": "namespaces",
        "ServiceAccount": "serviceaccounts",
        "Role": "roles",
        "RoleBinding": "rolebindings",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Ingress": "ingresses",
        "NetworkPolicy": "networkpolicies",
        "PersistentVolumeClaim": "persistentvolumeclaims",
        "PersistentVolume": "persistentvolumes",
        "StorageClass": "storageclasses",
        "ResourceQuota": "resourcequotas",
        "LimitRange": "limitranges",
        "HorizontalPodAutoscaler": "horizontalpodautoscalers",
        "PodDisruptionBudget": "poddisruptionbudgets",
        "CustomResourceDefinition": "customresourcedefinitions",
        "Endpoints": "endpoints",
        "PriorityClass": "priorityclasses",
        "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
        "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
        "MutatingWebhookConfiguration": "mutatingwebhookconfigurations",
        "ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
        "FleetChange": "fleetchanges",
    }
)


def plural_of(kind: str) -> str:
    """The plural resource name of ``kind``: the table, else Kubernetes' naive rule."""
    known = PLURALS.get(kind)
    if known:
        return known
    low = kind.lower()
    if low.endswith("s"):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in ("a", "e", "i", "o", "u"):
        return low[:-1] + "ies"
    return low + "s"


class Action(StrEnum):
    DENY = "Deny"
    WARN = "Warn"
    AUDIT = "Audit"


_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT", "*")


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression and where it was written (for messages about it)."""

    compiled: Compiled
    where: str  # file:line field.path

    @property
    def text(self) -> str:
        return self.compiled.text


@dataclass(frozen=True, slots=True)
class ResourceRule:
    api_groups: tuple[str, ...]
    api_versions: tuple[str, ...]
    resources: tuple[str, ...]  # plural names, "*" or from ``kinds``
    operations: tuple[str, ...]
    scope: str = "*"
    resource_names: tuple[str, ...] = ()

    def matches(self, group: str, version: str, resource: str, name: str, namespaced: bool, op: str) -> bool:
        return (
            _any(self.api_groups, group)
            and _any(self.api_versions, version)
            and _any(self.resources, resource)
            and _any(self.operations, op)
            and (self.scope == "*" or (self.scope == "Namespaced") == namespaced)
            and (not self.resource_names or name in self.resource_names)
        )

    def names_explicitly(self, group: str, resource: str) -> bool:
        """True when the rule names this group and resource without wildcards."""
        return group in self.api_groups and resource in self.resources


def _any(allowed: tuple[str, ...], value: str) -> bool:
    return "*" in allowed or value in allowed


@dataclass(frozen=True, slots=True)
class MatchResources:
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    rules: tuple[ResourceRule, ...] = ()
    exclude: tuple[ResourceRule, ...] = ()
    has_rules: bool = False  # an absent resourceRules list in a binding means "whatever the policy matches"


@dataclass(frozen=True, slots=True)
class Validation:
    expression: Expr
    message: str = ""
    message_expression: Expr | None = None
    reason: str = "Invalid"


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    origin: Origin
    match: MatchResources
    validations: tuple[Validation, ...]
    variables: tuple[tuple[str, Expr], ...] = ()
    match_conditions: tuple[tuple[str, Expr], ...] = ()
    failure_policy: str = "Fail"
    param_kind: tuple[str, str] | None = None  # (apiVersion, kind)
    default_action: Action = Action.DENY
    gate: bool = True

    @property
    def roots(self) -> frozenset[str]:
        exprs = [v.expression for v in self.validations] + [v.message_expression for v in self.validations]
        exprs += [e for _, e in self.variables] + [e for _, e in self.match_conditions]
        return frozenset().union(*(e.compiled.roots for e in exprs if e is not None))


@dataclass(frozen=True, slots=True)
class ParamRef:
    name: str
    namespace: str = ""
    not_found_action: str = "Deny"


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    policy: str
    actions: tuple[Action, ...]
    origin: Origin | None = None  # None: an implicit binding made from fleetsync.yaml
    match: MatchResources | None = None
    param_ref: ParamRef | None = None


def unfold(text: str) -> str:
    """Drop the BEL marks ruamel's round-trip scanner leaves at the fold points of a ``>`` scalar.

    reconciler/load/yamldoc.py builds scalars from composed nodes, where a folded block scalar still
    carries them (``a\\a b`` for ``a`` folded onto ``b``); CEL would reject the character.
    """
    return text.replace("\a", "")


def _expr(f: Fields, key: str, declared: tuple[str, ...], *, required: bool = True) -> Expr | None:
    text = f.str(key, required=required)
    if text is None:
        return None
    text = unfold(text)
    line, _ = f.ctx.doc.locate(f.at(key))
    try:
        compiled = compile_expression(text, declared)
    except CompileError as e:
        f.error(key, f"invalid CEL expression: {e}")
        return None
    return Expr(compiled, f"{f.ctx.doc.file}:{line}")


def _rules(f: Fields, key: str) -> tuple[ResourceRule, ...]:
    out: list[ResourceRule] = []
    for r in f.objects(key, max_items=100):
        groups = tuple(r.str_list("apiGroups"))
        versions = tuple(r.str_list("apiVersions"))
        resources = [s.split("/", 1)[0] for s in r.str_list("resources")]
        kinds = r.str_list("kinds")
        resources += [plural_of(k) if k != "*" else "*" for k in kinds]
        ops = r.str_list("operations")
        for i, op in enumerate(ops):
            if op not in _OPERATIONS:
                r.ctx.error(
                    (*r.at("operations"), i), f"unsupported operation {op!r}: use {', '.join(_OPERATIONS)}"
                )
        scope = r.str("scope", "*", enum=("*", "Cluster", "Namespaced")) or "*"
        names = tuple(r.str_list("resourceNames"))
        r.done()
        for what, value in (("apiGroups", groups), ("apiVersions", versions), ("operations", ops)):
            if not value:
                r.error(None, f"{what} is required: list values or '*'")
        if not resources:
            r.error(None, "resources (plural names such as 'deployments', or '*') or kinds is required")
        out.append(ResourceRule(groups, versions, tuple(resources), tuple(ops), scope, names))
    return tuple(out)


def _match(f: Fields | None, *, required_rules: bool) -> MatchResources:
    if f is None:
        return MatchResources()
    ns = f.map("namespaceSelector")
    obj = f.map("objectSelector")
    has_rules = f.has("resourceRules")
    if required_rules and not has_rules:
        f.error(None, "resourceRules is required: which resources and operations the policy checks")
    rules = _rules(f, "resourceRules")
    exclude = _rules(f, "excludeResourceRules")
    f.str("matchPolicy", enum=("Exact", "Equivalent"))
    f.done()
    return MatchResources(
        parse_label_selector(ns) if ns is not None else None,
        parse_label_selector(obj) if obj is not None else None,
        rules,
        exclude,
        has_rules,
    )


def _header(f: Fields, kind: str) -> tuple[str, Any]:
    f.str("apiVersion", required=True, enum=API_VERSIONS)
    f.str("kind", required=True, enum=(kind,))
    meta = parse_metadata(f.map("metadata", required=True), namespaced=False, name_check=check_dns_subdomain)
    return meta.name, meta


def parse_policy(doc: Document, findings: Findings) -> Policy | None:
    """One ValidatingAdmissionPolicy document → Policy, or None with findings when it is invalid."""
    mine = Findings()
    f = Fields(Context(doc, mine, f"{POLICY_KIND}/{_name(doc)}"), (), doc.data)
    name, meta = _header(f, POLICY_KIND)
    spec = f.map("spec", required=True)
    policy = None
    if spec is not None:
        failure = spec.str("failurePolicy", "Fail", enum=("Fail", "Ignore")) or "Fail"
        pk = spec.map("paramKind")
        param_kind = None
        if pk is not None:
            param_kind = (pk.str("apiVersion", required=True) or "", pk.str("kind", required=True) or "")
            pk.done()
        match = _match(spec.map("matchConstraints", required=True), required_rules=True)
        declared: list[str] = []
        variables: list[tuple[str, Expr]] = []
        for v in spec.objects("variables", max_items=MAX_VARIABLES):
            vname = v.str("name", required=True, pattern=_IDENT, pattern_hint="a CEL identifier") or ""
            e = _expr(v, "expression", tuple(declared))
            v.done()
            if vname in declared:
                v.error("name", f"variable {vname!r} is declared twice")
            if vname and e is not None:
                variables.append((vname, e))
            declared.append(vname)
        conditions: list[tuple[str, Expr]] = []
        for c in spec.objects("matchConditions", max_items=64):
            cname = c.str("name", required=True) or ""
            e = _expr(c, "expression", tuple(declared))
            c.done()
            if e is not None:
                conditions.append((cname, e))
        validations: list[Validation] = []
        for v in spec.objects("validations", required=True, min_items=1, max_items=MAX_VALIDATIONS):
            e = _expr(v, "expression", tuple(declared))
            message = unfold(v.str("message", "", max_len=MAX_MESSAGE_CHARS) or "")
            if "\n" in message:
                v.error("message", "message must be a single line")
            me = _expr(v, "messageExpression", tuple(declared), required=False)
            reason = v.str(
                "reason", "Invalid", enum=("Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge")
            )
            v.done()
            if e is not None:
                validations.append(Validation(e, message, me, reason or "Invalid"))
        spec.ignore("auditAnnotations")  # accepted for compatibility; the gate has no audit log
        spec.done()
        default = meta.annotations.get(DEFAULT_ACTION_ANNOTATION, "Deny")
        if default not in Action.__members__.values():
            f.ctx.error(
                ("metadata", "annotations", DEFAULT_ACTION_ANNOTATION),
                f"unsupported value {default!r}: supported values: 'Deny', 'Warn', 'Audit'",
            )
            default = "Deny"
        gate = meta.annotations.get(GATE_ANNOTATION, "true") != "false"
        policy = Policy(
            name,
            Origin(doc.file, doc.line),
            match,
            tuple(validations),
            tuple(variables),
            tuple(conditions),
            failure,
            param_kind,
            Action(default),
            gate,
        )
    f.done()
    findings.extend(mine.items)
    return None if mine or not name else policy


def parse_binding(doc: Document, findings: Findings) -> Binding | None:
    """One ValidatingAdmissionPolicyBinding document → Binding, or None with findings."""
    mine = Findings()
    f = Fields(Context(doc, mine, f"{BINDING_KIND}/{_name(doc)}"), (), doc.data)
    name, meta = _header(f, BINDING_KIND)
    spec = f.map("spec", required=True)
    binding = None
    if spec is not None:
        policy = spec.str("policyName", required=True) or ""
        actions: list[Action] = []
        for item in spec.list("validationActions", required=True, min_items=1, max_items=3) or []:
            text = item.str()
            if text is None:
                continue
            if text not in Action.__members__.values():
                item.error(f"unsupported value {text!r}: supported values: 'Deny', 'Warn', 'Audit'")
            elif Action(text) in actions:
                item.error(f"{text!r} is listed twice")
            else:
                actions.append(Action(text))
        if Action.DENY in actions and Action.WARN in actions:
            spec.error("validationActions", "Deny and Warn may not be used together (Deny already reports)")
        ref = None
        pr = spec.map("paramRef")
        if pr is not None:
            if pr.has("selector"):
                pr.error("selector", "paramRef.selector is not supported by fleetsync: name one object")
                pr.ignore("selector")
            ref = ParamRef(
                pr.str("name", required=True) or "",
                pr.str("namespace", "") or "",
                pr.str("parameterNotFoundAction", "Deny", enum=("Allow", "Deny")) or "Deny",
            )
            pr.done()
        mr = spec.map("matchResources")
        match = _match(mr, required_rules=False) if mr is not None else None
        spec.done()
        gate = meta.annotations.get(GATE_ANNOTATION, "true") != "false"
        if gate:
            binding = Binding(name, policy, tuple(actions), Origin(doc.file, doc.line), match, ref)
    f.done()
    findings.extend(mine.items)
    return None if mine or not name else binding


def _name(doc: Document) -> str:
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else "?"
