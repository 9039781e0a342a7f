"""A plan as a pull-request comment (Markdown) or as terminal text.

A PR comment holds at most 65,536 characters, and a plan for 500 clusters must still say
everything that matters in it: checks first (what blocks the merge), then placements (who is
picked or dropped and why, how the rollout starts), then the grouped per-cluster changes.
Lists of cluster names are cut after ``MAX_NAMES`` and of objects after ``MAX_OBJECTS``; every
group's list is shown first, and diffs are added in order (largest group first) while the
budget lasts, the rest left out with a pointer to the full JSON (``-o json``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from reconciler.plan.build import FleetPlan
from reconciler.plan.diff import CLUSTER_PLACEHOLDER, describe, generalise
from reconciler.plan.group import Group, PlacementPlan
from reconciler.plan.prune import APPROVE_PRUNE_LABEL, PruneCheck, confirmation_hint, grouped
from reconciler.policy.gate import Violation

MAX_CHARS = 60_000  # below GitHub's 65,536 per comment, with room for the workflow's header
MAX_NAMES = 30
MAX_OBJECTS = 50  # objects named per group in Markdown and text (JSON names all)
MAX_ERRORS = 5  # errors quoted per failed object (JSON has all)
OLD = " (already in base: not blocking this change)"


def names(clusters: Iterable[str], limit: int = MAX_NAMES) -> str:
    items = list(clusters)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _headline(plan: FleetPlan) -> str:
    s = plan.summary()
    base, head = plan.base.commit[:12], plan.head.commit[:12]
    verdict = "checks pass" if s["checksPassed"] else "CHECKS FAIL"
    if not plan.head.ok:
        return f"fleetsync plan {base} -> {head}: head does not load ({verdict})"
    return (
        f"fleetsync plan {base} -> {head}: {s['clustersTouched']} of {s['clustersInFleet']} cluster(s) "
        f"touched, {s['objectsTouched']} object change(s) (+{s['added']} ~{s['changed']} -{s['removed']}) "
        f"in {s['groups']} group(s); {verdict}"
    )


def _by_reason(mapping: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Clusters with the same reason (up to their own name) together; a lone cluster keeps its
    reason as the scheduler wrote it."""
    out: dict[str, list[str]] = {}
    for cluster, reason in sorted(mapping.items()):
        out.setdefault(generalise(reason, cluster), []).append(cluster)
    items = [(mapping[cs[0]] if len(cs) == 1 else describe(reason), cs) for reason, cs in out.items()]
    return sorted(items, key=lambda kv: (-len(kv[1]), kv[0]))


def _placement_lines(p: PlacementPlan, code: Callable[[str], str], md: bool) -> list[str]:
    how = p.strategy or "deleted"
    if p.strategy == "RollingUpdate":
        how += f" (maxSurge {p.max_surge}, maxUnavailable {p.max_unavailable})"
    lines = [f"{code(p.placement)}: {how}"]
    for reason, cs in _by_reason(dict(p.picked)):
        lines.append(f"  - picks {names(cs)}: {reason}")
    for reason, cs in _by_reason(dict(p.dropped)):
        lines.append(f"  - drops {names(cs)}: {reason}")
    lines += _rollout_lines(p)
    if p.settings_diff:
        lines.append("  - its entry in every cluster's bundle.yaml changes:")
        lines += (
            ["", "```diff", p.settings_diff.rstrip("\n"), "```", ""]
            if md
            else ["    " + line for line in p.settings_diff.rstrip("\n").splitlines()]
        )
    for run in p.runs:
        lines += _run_lines(run, code)
    return lines


def _rollout_lines(p: PlacementPlan) -> list[str]:
    """Who the rollout moves first, who follows, where the placement is removed, and its note."""
    lines: list[str] = []
    if p.first:
        lines.append(f"  - rollout moves first: {names(p.first)}")
    if p.held:
        lines.append(f"  - then, as those become available: {names(p.held)}")
    if p.removed:
        lines.append(f"  - removes from: {names(p.removed)}")
    if p.note:
        lines.append(f"  - {p.note}")
    return lines


def _run_lines(run: Mapping[str, Any], code: Callable[[str], str]) -> list[str]:
    """A staged run the change would start: its stages, or why it cannot."""
    index = f", resource snapshot {run['resourceSnapshotIndex']}" if run.get("resourceSnapshotIndex") else ""
    lines = [
        f"  - {run['change']} run {code(str(run['run']))} (state {run['state']}, strategy "
        f"{run['strategy']}{index}) would start:"
    ]
    for stage in run["stages"]:
        lines.append(f"    - stage {stage['name']}: {names(stage['clusters']) or '(no clusters)'}")
    if run.get("blocking"):
        lines.append(f"    - fails to initialize (blocks the merge): {run['error']}")
    elif run.get("error"):
        lines.append(f"    - fails: {run['error']}")
    elif not run["stages"]:
        lines.append("    - (no stages: the run cannot initialize; see `fleetsync get runs`)")
    return lines


def _violation_lines(items: Sequence[tuple[Violation, str]], code: Callable[[str], str]) -> list[str]:
    grouped: dict[tuple[str, str, str, str, str], list[str]] = {}
    for v, key in items:
        k = (str(v.action), v.policy, key, v.identity, generalise(v.message, v.cluster))
        grouped.setdefault(k, []).append(v.cluster)
    return [
        f"- {action} {code(policy)} on {code(ident)} ({key}) in {names(sorted(set(cs)))}: "
        + (describe(msg) if len(set(cs)) > 1 else msg.replace(CLUSTER_PLACEHOLDER, cs[0]))
        for (action, policy, key, ident, msg), cs in sorted(grouped.items())
    ]


def _failure_lines(plan: FleetPlan, code: Callable[[str], str]) -> list[str]:
    """Placements that fail on a cluster: clusters with the same failure (up to their name) on one line."""
    grouped: dict[tuple[bool, str, str, str], list[str]] = {}
    for f in plan.failures:
        k = (not f.new, f.placement, f.reason, generalise(f.message, f.cluster))
        grouped.setdefault(k, []).append(f.cluster)
    lines: list[str] = []
    for (old, key, reason, msg), cs in sorted(grouped.items()):
        where = "every cluster" if cs == [""] else names(cs)
        text = describe(msg) if len(cs) > 1 else msg.replace(CLUSTER_PLACEHOLDER, cs[0])
        tail = OLD if old else ""
        lines.append(
            f"- {code(key)} on {where}: {reason}: {text}; the hub keeps its previous version there{tail}"
        )
    return lines


def _failed_object_lines(plan: FleetPlan, code: Callable[[str], str]) -> list[str]:
    """Per failed object (or file that does not load): its errors, scope and what the hub does."""
    lines: list[str] = []
    for f in plan.failed_objects[:MAX_OBJECTS]:
        what = f"{code(f.identity)}" if f.scope == "object" else f"file {code(f.file)}"
        errors = "; ".join(str(e) for e in f.errors[:MAX_ERRORS]) or "does not load"
        if len(f.errors) > MAX_ERRORS:
            errors += f"; and {len(f.errors) - MAX_ERRORS} more"
        kept = f" ({', '.join(f.kept[:MAX_OBJECTS])})" if f.kept else ""
        tail = "" if f.new else OLD
        lines.append(f"- {what} ({f.scope} scope): {errors}; {f.outcome}{kept}{tail}")
    if len(plan.failed_objects) > MAX_OBJECTS:
        lines.append(f"- ... and {len(plan.failed_objects) - MAX_OBJECTS} more: `fleetsync plan -o json`")
    return lines


def _prune_lines(checks: Sequence[PruneCheck]) -> list[str]:
    """Clusters with the same counts on one line; at most ``MAX_OBJECTS`` lines."""
    groups = grouped(checks)
    lines = [f"- {names(cs)}: {msg}" for msg, cs in groups[:MAX_OBJECTS]]
    if len(groups) > MAX_OBJECTS:
        rest = sum(len(cs) for _, cs in groups[MAX_OBJECTS:])
        lines.append(f"- ... and {rest} more cluster(s): `fleetsync plan -o json`")
    return lines


def _group_facts(g: Group, gen: Callable[[str], str]) -> list[str]:
    """A group's picks and drops, overrides and new violations: messages in words (a group of
    one names its cluster), and the legend of the diffs' placeholder when they show it."""
    c, many = g.change, len(g.clusters) > 1

    def words(text: str) -> str:
        return describe(gen(text)) if many else gen(text)

    lines = [f"- {pc.change} by {pc.placement}: {words(pc.reason)}" for pc in c.placements]
    lines += [
        f"- override {oc.override} {'starts' if oc.change == 'starts' else 'stops'} applying ({oc.placement})"
        for oc in c.overrides
    ]
    lines += [
        f"- new {v.action} violation of {v.policy} on {v.identity}: {words(v.message)}" for v in c.violations
    ]
    if many and any(CLUSTER_PLACEHOLDER in gen(o.diff) for o in c.objects[:MAX_OBJECTS]):
        lines.append(f"- in the diffs below, `{CLUSTER_PLACEHOLDER}` stands for each cluster's own name")
    return lines


def _group_block(g: Group, md: bool, budget: list[int] | None) -> list[str]:
    """One group's section. Diffs are added while ``budget`` (characters, shared by every
    group and spent here) lasts; None: every diff. At most ``MAX_OBJECTS`` objects are named."""
    c = g.change
    title = f"{names(g.clusters)}: same change" if len(g.clusters) > 1 else g.clusters[0]

    def gen(text: str) -> str:  # a diff: a group of one names its cluster; of many, the placeholder
        return (
            generalise(text, c.cluster)
            if len(g.clusters) > 1
            else text.replace(CLUSTER_PLACEHOLDER, c.cluster)
        )

    count = f"{len(c.objects)} object(s)"
    lines = (
        [f"<details><summary><b>{title}</b> ({len(g.clusters)} cluster(s), {count})</summary>", ""]
        if md
        else [f"== {title} ({len(g.clusters)} cluster(s), {count})"]
    )
    lines += _group_facts(g, gen)
    left_out = 0
    for o in c.objects[:MAX_OBJECTS]:
        lines.append(f"- {o.action} {o.identity} ({o.placement})")
        if not o.diff:
            continue
        text = gen(o.diff).rstrip("\n")
        diff = ["", "```diff", text, "```"] if md else ["    " + line for line in text.splitlines()]
        size = sum(len(x) + 1 for x in diff)
        if budget is not None:
            if size > budget[0]:
                left_out += 1
                continue
            budget[0] -= size
        lines += diff
    if len(c.objects) > MAX_OBJECTS:
        lines.append(f"- ... and {len(c.objects) - MAX_OBJECTS} more object(s): `fleetsync plan -o json`")
    if left_out:
        lines.append(f"- ({left_out} diff(s) left out to fit a comment: `fleetsync plan -o json`)")
    lines += ["", "</details>", ""] if md else [""]
    return lines


def render(plan: FleetPlan, md: bool = True, max_chars: int = MAX_CHARS) -> str:
    """The plan as Markdown (``md``) or plain text, within ``max_chars`` when Markdown."""

    def code(s: str) -> str:
        return f"`{s}`" if md else s

    def heading(s: str) -> str:
        return f"#### {s}" if md else f"-- {s}"

    head: list[str] = [f"### {_headline(plan)}" if md else _headline(plan), ""]
    head.append(("> " if md else "") + plan.state.note)
    for n in plan.notes:
        head.append(("> " if md else "") + n)
    head.append("")
    head += _check_sections(plan, code, heading)
    head += _violation_sections(plan, code, heading)
    if plan.placements:
        head += [heading("Placements"), ""]
        for p in plan.placements:
            head += _placement_lines(p, code, md)
        head.append("")
    if plan.groups:
        head += [heading(f"Changes by cluster ({len(plan.groups)} group(s))"), ""]
    elif plan.head.ok:
        head += ["No cluster's rendered objects change.", ""]
    out = "\n".join(head) + "\n"
    if not md:
        return out + "".join("\n".join(_group_block(g, md, None)) + "\n" for g in plan.groups)
    return _with_groups(out, plan.groups, max_chars)


def _check_sections(plan: FleetPlan, code: Callable[[str], str], heading: Callable[[str], str]) -> list[str]:
    """Validation of head, KubeFleet's update rules, and what prune would refuse or warn about."""
    lines: list[str] = []
    if plan.validation:
        new = set(plan.new_errors)
        lines += [heading("Validation of head"), ""]
        lines += [
            f"- {f.severity}: {code(str(f))}" + (OLD if f.severity == "error" and f not in new else "")
            for f in plan.validation
        ] + [""]
    if plan.refusals:
        lines += [heading("Refused updates (KubeFleet's update rules)"), ""]
        new_refusals = set(plan.new_errors)
        lines += [f"- {code(str(f))}" + ("" if f in new_refusals else OLD) for f in plan.refusals] + [""]
    elif not plan.immutability_checked:
        which = "base" if not plan.base.ok else "head"
        lines += [f"Update rules (immutability): not checked, {which} does not load.", ""]
    if plan.immutable:
        lines += [heading("Changes Kubernetes refuses (immutable fields)"), ""]
        lines += [
            f"- {code(c.identity)} ({c.placement}): {code(c.rule.field)} changes on {names(c.clusters)}; "
            f"{c.rule.reason} ({c.rule.doc}). Fix: {c.rule.fix}"
            for c in plan.immutable
        ] + [""]
    if plan.failed_objects:
        lines += [heading("Objects that fail (the hub keeps their previous version)"), ""]
        lines += [*_failed_object_lines(plan, code), ""]
    if plan.failures:
        lines += [heading("Placements that would fail (the hub keeps their previous version)"), ""]
        lines += [*_failure_lines(plan, code), ""]
    return lines + _prune_sections(plan, heading)


def _prune_sections(plan: FleetPlan, heading: Callable[[str], str]) -> list[str]:
    """Removals the hub would hold (blocking, with the trailer that confirms them), then the
    confirmed ones as a loud warning."""
    lines: list[str] = []
    blocked = [c for c in plan.prune if c.blocking]
    if blocked:
        lines += [heading("Prune refused: removals the hub will not publish without confirmation"), ""]
        lines += [*_prune_lines(blocked), "", confirmation_hint(blocked)]
        if APPROVE_PRUNE_LABEL in plan.labels:
            lines.append(
                f"The label {APPROVE_PRUNE_LABEL} is not a confirmation: the hub reads only commits."
            )
        lines.append("")
    warned = [c for c in plan.prune if not c.blocking]
    if warned:
        lines += [
            heading(
                f"WARNING: large removals (more than {plan.prune_max_share:.0%} of a cluster's objects, "
                "or all), confirmed"
            ),
            "",
            *_prune_lines(warned),
            "",
        ]
    return lines


def _violation_sections(
    plan: FleetPlan, code: Callable[[str], str], heading: Callable[[str], str]
) -> list[str]:
    """Policy violations new in head (with the blast-radius checks), then those already in base."""
    lines: list[str] = []
    new = [(v, k) for v, k, is_new in plan.violations if is_new]
    old = [(v, k) for v, k, is_new in plan.violations if not is_new]
    if new or plan.blast:
        lines += [heading("Policy violations (new in head)"), ""]
        lines += [f"- {v.action} {code(v.policy)}: {v.message}" for v in plan.blast]
        lines += [*_violation_lines(new, code), ""]
    if old:
        lines += [heading("Policy violations already in base (not blocking this change)"), ""]
        lines += [*_violation_lines(old, code), ""]
    return lines


def _with_groups(out: str, groups: Sequence[Group], max_chars: int) -> str:
    """Markdown: every group's list, then diffs while ``max_chars`` lasts (see the module docstring)."""
    shorts = ["\n".join(_group_block(g, True, [0])) + "\n" for g in groups]
    spare = max_chars - len(out) - sum(len(x) for x in shorts) - 200  # 200: the notes the diffs leave out
    if spare < 0:  # not even every group's list fits: as many groups as do, then a pointer
        for i, short in enumerate(shorts):
            if len(out) + len(short) > max_chars - 200:
                return out + f"\n... {len(shorts) - i} more group(s) not shown: `fleetsync plan -o json`\n"
            out += short
        return out
    budget = [spare]
    return out + "".join("\n".join(_group_block(g, True, budget)) + "\n" for g in groups)
