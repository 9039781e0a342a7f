"""The gate's policies: the shipped library's and the fleet repo's ValidatingAdmissionPolicies,
their bindings and parameter objects, read into one frozen ``PolicySet`` (docs/policies.md).

Which policies apply, and how, follows the precedence in reconciler/policy/gate.py's docstring:
a repo binding as it says, else fleetsync.yaml's ``policies:`` list, else every policy with its
default action. Reading is apart from judging (gate.py) because it runs once per fleet commit
and reports findings with file and line, while judging runs per cluster and object and must stay
cheap; ``load_policies`` never raises for bad repo content, it returns findings in the set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.api.meta import empty_map
from reconciler.errors import Finding, Findings
from reconciler.load.shipped import candidates, find_shipped
from reconciler.load.yamldoc import Document, YamlError, parse_documents
from reconciler.policy.match import field_map
from reconciler.policy.model import (
    BINDING_KIND,
    GATE_ANNOTATION,
    POLICY_KIND,
    Binding,
    Policy,
    parse_binding,
    parse_policy,
)


def _library_dir() -> Path:
    """The shipped library: beside the source tree, or where a wheel installs it (data-files,
    reconciler/load/shipped.py); when neither holds it, the last place looked (an absent directory
    holds no policy)."""
    return find_shipped("policies") or candidates("policies")[-1]


LIBRARY_DIR = _library_dir()
SETTINGS_BINDING = "fleetsync.yaml"  # the binding name of a policy enabled by the settings file
MAX_POLICY_FILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PolicySet:
    policies: Mapping[str, Policy] = field(default_factory=empty_map)
    bindings: tuple[Binding, ...] = ()  # explicit bindings, then implicit ones from the settings
    params: Mapping[tuple[str, str, str, str], Mapping[str, Any]] = field(default_factory=empty_map)
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def library_paths(directory: Path = LIBRARY_DIR) -> list[Path]:
    """The shipped policy library's files, in name order."""
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def _documents(sources: Iterable[Path | Document], findings: Findings) -> list[Document]:
    docs: list[Document] = []
    for src in sources:
        if isinstance(src, Document):
            docs.append(src)
            continue
        try:
            label = f"policies/{src.name}" if src.parent == LIBRARY_DIR else str(src)
            docs.extend(parse_documents(src.read_bytes(), label, max_bytes=MAX_POLICY_FILE_BYTES))
        except YamlError as e:
            findings.add(e.finding)
        except OSError as e:
            findings.add(Finding(str(src), 0, 0, "", f"cannot read policy file: {e.strerror or e}"))
    return docs


def _header(doc: Document) -> tuple[str, str, str, str, bool]:
    d = doc.data if isinstance(doc.data, dict) else {}
    meta = field_map(d, "metadata")
    ann = field_map(meta, "annotations")
    text = [d.get("apiVersion"), d.get("kind"), meta.get("namespace") or "", meta.get("name")]
    api_version, kind, namespace, name = (t if isinstance(t, str) else "" for t in text)
    return api_version, kind, namespace, name, ann.get(GATE_ANNOTATION) != "false"


def load_policies(
    sources: Iterable[Path | Document],
    *,
    enabled: Sequence[str] | None = None,
    library: Iterable[Path | Document] = (),
) -> PolicySet:
    """Policies, bindings and parameter objects → the gate (see the module docstring for precedence).

    ``sources`` are the fleet repo's documents (every one may be given: objects that are not
    policies or bindings become candidate ``paramRef`` targets) or files; ``library`` the
    shipped policies (``library_paths()``); ``enabled`` fleetsync.yaml's ``policies`` (None: all).
    """
    findings = Findings()
    declared = _Declarations()
    for from_library, group in ((True, library), (False, sources)):
        for doc in _documents(group, findings):
            declared.read(doc, from_library, findings)
    policies, bindings = declared.policies, declared.bindings
    bound = _check_policy_names(declared, enabled, findings)
    implicit = [
        Binding(SETTINGS_BINDING, name, (p.default_action,))
        for name, (p, _) in sorted(policies.items())
        if name not in bound and (enabled is None or name in enabled)
    ]
    ordered = sorted(bindings, key=lambda b: (b.policy, b.name)) + implicit
    return PolicySet(
        {k: v[0] for k, v in sorted(policies.items())}, tuple(ordered), declared.params, tuple(findings.items)
    )


@dataclass(slots=True)
class _Declarations:
    """What the library's and the repo's documents declare, gathered in reading order (an
    accumulator that ``load_policies`` turns into the frozen ``PolicySet``)."""

    policies: dict[str, tuple[Policy, bool]] = field(default_factory=dict)  # name -> (policy, from library)
    bindings: list[Binding] = field(default_factory=list)
    params: dict[tuple[str, str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # names of policies with findings: already reported

    def read(self, doc: Document, from_library: bool, findings: Findings) -> None:
        """One document: a policy, a binding, or (from the repo) a candidate parameter object."""
        api_version, kind, namespace, name, gate = _header(doc)
        is_admission = api_version.startswith("admissionregistration.k8s.io/")
        if is_admission and kind == POLICY_KIND and gate:
            self._policy(doc, name, from_library, findings)
        elif is_admission and kind == BINDING_KIND and gate:
            binding = parse_binding(doc, findings)
            if binding is not None:
                self.bindings.append(binding)
        elif not from_library and kind and name and isinstance(doc.data, dict):
            self.params[(api_version, kind, namespace, name)] = doc.data

    def _policy(self, doc: Document, name: str, from_library: bool, findings: Findings) -> None:
        """A policy; a repo policy replaces a shipped one of its name, a second repo one is a finding."""
        policy = parse_policy(doc, findings)
        if policy is None:
            self.broken.add(name)
            return
        prior = self.policies.get(policy.name)
        if prior is not None and not prior[1]:
            findings.add(
                Finding(
                    doc.file,
                    doc.line,
                    1,
                    "metadata.name",
                    f"policy {policy.name!r} is declared twice (first at {prior[0].origin})",
                    f"{POLICY_KIND}/{policy.name}",
                )
            )
            return
        self.policies[policy.name] = (policy, from_library)


def _check_policy_names(
    declared: _Declarations, enabled: Sequence[str] | None, findings: Findings
) -> set[str]:
    """A finding for each binding and each fleetsync.yaml entry naming no policy (a policy that
    failed to parse was reported already); → the names of the policies some binding binds."""
    policies, broken = declared.policies, declared.broken
    bound: set[str] = set()
    for b in declared.bindings:
        bound.add(b.policy)
        if b.policy not in policies and b.policy not in broken and b.origin is not None:
            findings.add(
                Finding(
                    b.origin.file,
                    b.origin.line,
                    1,
                    "spec.policyName",
                    f"no policy named {b.policy!r} (known: {', '.join(sorted(policies)) or 'none'})",
                    f"{BINDING_KIND}/{b.name}",
                )
            )
    for name in enabled or ():
        if name not in policies and name not in broken:
            findings.add(
                Finding(
                    SETTINGS_BINDING,
                    0,
                    0,
                    "policies",
                    f"no policy named {name!r} (known: {', '.join(sorted(policies)) or 'none'})",
                )
            )
    return bound
