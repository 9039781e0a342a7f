"""``fleetsync demo``: the whole GitOps loop on one machine, told as a story in stages.

1. *repo* — the template becomes a fleet repo in a temporary directory, with a bare remote;
2. *members* — one simulated Kubernetes API per MemberCluster (Nodes as the repo declares
   them), or the real contexts the user maps clusters onto;
3. *join* — the hub runs once (no agent has reported: nothing is eligible yet), then every
   agent syncs once, which reports its cluster's properties and heartbeat;
4. *converge* — hub, agents, hub, ... until the hub has folded every agent's report into
   ``fleet/status`` and every placement is Applied and Available (bounded rounds);
5. *staged* — the template's staged update runs, held back so far, are committed now that the
   clusters have joined, and driven stage by stage: agents sync, approvals are commits, TimedWaits
   pass on the demo's clock (fleetsync/demo/staged.py);
6. *drift* — one Deployment is scaled behind its agent's back, the agent syncs again, and the
   drift report commit it pushed is shown (message and drift file); the hub folds it in;
7. *trust* (``--secure`` only, fleetsync/demo/trust.py) — the fleet repo's commits were signed and
   rendered under ``verify.commits: strict``, every agent verified the hub's signature on the
   bundle it runs, and the encrypted Secret is plaintext on its recipients' members only: no file
   of any ref holds its value;
8. *teams* (``--teams`` only, fleetsync/demo/teams.py) — the fleet repo becomes a platform repo:
   two team repos on a loopback ``git daemon`` are onboarded with ``fleetsync team add`` commits
   and placed; team B pushes a commit that does not parse while team A's next change rolls out
   and B keeps its last good objects; then B's fix rolls out.

Each stage either passes or fails with a message; the run's exit code is 0 only when all pass.
Everything runs in this process (simulators on 127.0.0.1, agents and hub in threads) and is
stopped on the way out, whatever happened; ``--keep`` leaves the directory for inspection and
serves the fleet view (fleetsync/ui/) of the kept remote until the injected ``view`` returns.
The composition (clock, sleep, output, where the template is) is injected by the CLI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.loop import SyncSummary
from fleetsync.demo.browse import serve_view
from fleetsync.demo.fleet import DEMO_IDENTITY, LocalFleet, Target
from fleetsync.demo.staged import DemoClock, Driver, RunShown, held_runs, roll_out
from fleetsync.demo.teams import TeamsChapter, TeamsShown
from fleetsync.demo.trust import summary_lines
from fleetsync.demo.verified import show_trust
from fleetsync.demo.view import LANDING_HEADERS, Output, landing_rows, landings, summaries, unsettled
from fleetsync_contract.bundle import Bundle
from fleetsync_contract.canonical import load
from reconciler.api.placement import RolloutStrategyType
from reconciler.errors import FleetsyncError, UserError
from reconciler.load.fleet import load_directory
from reconciler.load.shipped import SOURCE_ROOT, candidates, find_shipped

TEMPLATE_NAME = "fleet-repo-template"
TEMPLATE = SOURCE_ROOT / TEMPLATE_NAME  # the checkout's (absent in a wheel install): see default_template
DRIFT_MANAGER = "kubectl-scale"
_DNS = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def default_template(*, source_root: Path = SOURCE_ROOT, prefixes: Sequence[Path] | None = None) -> Path:
    """The template the demo starts from without --template: the checkout's, else the copy a
    wheel installs under <prefix>/share/fleetsync (reconciler/load/shipped.py)."""
    found = find_shipped(TEMPLATE_NAME, source_root=source_root, prefixes=prefixes)
    if found is None:
        looked = ", ".join(
            str(p) for p in candidates(TEMPLATE_NAME, source_root=source_root, prefixes=prefixes)
        )
        raise UserError(
            f"no {TEMPLATE_NAME}/ shipped with this install (looked in {looked}); "
            "give a fleet repo to start from with --template DIR"
        )
    return found


@dataclass(frozen=True, slots=True)
class DemoOptions:
    template: Path = field(default_factory=default_template)
    workdir: Path | None = None  # None: a new temporary directory
    keep: bool = False
    kubeconfig: str | None = None
    contexts: tuple[str, ...] = ()  # mapped onto the template's clusters in name order
    mapping: tuple[tuple[str, str], ...] = ()  # explicit (cluster, context) pairs
    max_rounds: int = 6
    secure: bool = False  # signed commits and bundles, an encrypted Secret (fleetsync/demo/trust.py)
    teams: bool = False  # a platform repo and two team repos (fleetsync/demo/teams.py)
    # with keep: called with the fleet view's URL while it is served; the view stops when it returns
    view: Callable[[str], None] | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DriftShown:
    cluster: str
    identity: str
    commit: str
    message: str
    files: Mapping[str, str] = field(default_factory=dict)  # drift file path -> its text


@dataclass
class DemoResult:
    root: Path
    stages: list[Stage] = field(default_factory=list)
    drift: DriftShown | None = None
    runs: list[RunShown] = field(default_factory=list)
    view_url: str = ""
    teams: TeamsShown | None = None

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.ok for s in self.stages)


class StageFailed(FleetsyncError):
    """A stage of the demo did not reach its goal; the message says what is missing."""


def resolve_targets(
    clusters: Sequence[str],
    kubeconfig: str | None,
    contexts: Sequence[str],
    mapping: Sequence[tuple[str, str]],
) -> dict[str, Target]:
    """Which template clusters run on real contexts: ``--map`` pairs, then ``--context`` values
    in cluster-name order for the clusters not mapped explicitly."""
    targets: dict[str, Target] = {}
    for cluster, context in mapping:
        if cluster not in clusters:
            raise UserError(
                f"--map {cluster}={context}: the template has no cluster {cluster!r} "
                f"(it has {', '.join(clusters)})"
            )
        if cluster in targets:
            raise UserError(f"--map: cluster {cluster!r} is mapped twice")
        targets[cluster] = Target(context, kubeconfig)
    free = [c for c in sorted(clusters) if c not in targets]
    if len(contexts) > len(free):
        raise UserError(
            f"{len(contexts)} --context values but only {len(free)} template clusters left to map"
        )
    for cluster, context in zip(free, contexts, strict=False):
        targets[cluster] = Target(context, kubeconfig)
    if kubeconfig and not targets:
        raise UserError("--kubeconfig needs --context or --map to say which clusters run there")
    return targets


def external_placements(template: Path) -> list[str]:
    """Placements rolled out only by staged update runs: the demo does not wait for them."""
    spec = load_directory(template).spec
    return sorted(k for k, p in spec.placements.items() if p.strategy.type == RolloutStrategyType.EXTERNAL)


# -- the story -------------------------------------------------------------------------------------
def run_demo(
    options: DemoOptions, out: Output, *, clock: Callable[[], datetime], sleep: Callable[[float], None]
) -> DemoResult:
    root = options.workdir or Path(tempfile.mkdtemp(prefix="fleetsync-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    result = DemoResult(root)
    demo_clock = DemoClock(clock)
    fleet = LocalFleet(root, options.template, clock=demo_clock, sleep=sleep, secure=options.secure)
    try:
        _story(fleet, options, out, result, demo_clock)
    except FleetsyncError as e:
        result.stages.append(Stage(_current(result), False, str(e)))
        out.line(f"FAILED: {e}", style="bold red")
    except Exception as e:  # a bug in one of the parts: that stage failed, and everything still stops
        detail = f"{type(e).__name__}: {e}"
        result.stages.append(Stage(_current(result), False, detail))
        out.line(f"FAILED (a bug, please report it): {detail}", style="bold red")
    finally:
        fleet.close()
        if options.keep:
            out.line(f"kept {root} (fleet/ work tree, remote.git, hub/, agents/, kube/*.kubeconfig)")
        elif options.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    out.line(
        (
            "demo finished: every stage passed"
            if result.ok
            else "demo failed: " + "; ".join(f"{s.name}: {s.detail}" for s in result.stages if not s.ok)
        ),
        style="bold green" if result.ok else "bold red",
    )
    if options.keep and options.view is not None:
        result.view_url = serve_view(root / "remote.git", out, options.view, now=demo_clock)
    elif not options.keep:
        out.line("fleet view: `fleetsync demo --keep` serves it (fleetsync ui) at the end")
    return result


_ORDER = ("repo", "members", "join", "converge", "staged", "drift", "trust")


def _current(result: DemoResult) -> str:
    return _ORDER[min(len(result.stages), len(_ORDER) - 1)]


def _story(
    fleet: LocalFleet, options: DemoOptions, out: Output, result: DemoResult, clock: DemoClock
) -> None:
    with out.stage("repo: fleet repo from the template, with a bare remote"):
        held = held_runs(options.template)
        repo = fleet.create_repo(hold_back=list(held.files))
        fleet.targets = resolve_targets(
            list(fleet.declared), options.kubeconfig, options.contexts, options.mapping
        )
        waiting = external_placements(options.template)
    result.stages.append(Stage("repo", True, str(repo.remote)))
    out.line(f"fleet repo {repo.work} -> remote {repo.remote}; {len(fleet.declared)} MemberClusters")
    if held.files:
        out.line(f"held back until the clusters have joined: {', '.join(held.files)}")
    if fleet.trust is not None:
        for text in summary_lines(fleet.trust, DEMO_IDENTITY.email, list(fleet.declared)):
            out.line(text)

    with out.stage(f"members: {len(fleet.declared)} clusters"):
        fleet.start_members()
    for name, m in sorted(fleet.members.items()):
        where = f"kubesim {m.sim.url}" if m.sim else f"context {m.context}"
        out.line(f"  {name}: {where}")
    result.stages.append(Stage("members", True))

    with out.stage("join: hub once, then every agent reports in"):
        _hub(fleet, out)
        _agents(fleet, out, None)
    result.stages.append(Stage("join", True))

    with out.stage("converge: hub and agents until status shows Applied and Available"):
        problems = _converge(fleet, out, waiting, options.max_rounds)
    inputs = fleet.inputs()
    out.table("where everything landed (fleet/status)", LANDING_HEADERS, landing_rows(landings(inputs)))
    for s in summaries(inputs):
        note = " (External: waits for a staged update run)" if s.key in waiting else ""
        out.line(f"{s.key}{note}")
        for ctype, status, reason in s.conditions:
            out.line(f"  {ctype:<44} {status:<7} {reason}")
    if problems:
        raise StageFailed(problems[0] + ": " + "; ".join(problems[1:6]))
    result.stages.append(Stage("converge", True))

    driver = Driver(fleet, clock, lambda: _hub(fleet, out), lambda cs: _agents(fleet, out, cs), out)
    result.runs = roll_out(driver, held, external_placements(options.template))
    result.stages.append(Stage("staged", True, ", ".join(r.name for r in result.runs)))

    with out.stage("drift: scale a Deployment behind its agent's back"):
        result.drift = _drift(fleet, out)
    result.stages.append(Stage("drift", True, result.drift.identity))

    if fleet.trust is not None:
        with out.stage("trust: what was verified, and where the Secret's plaintext is"):
            detail = show_trust(fleet, fleet.trust, out)
        result.stages.append(Stage("trust", True, detail))

    if options.teams:
        with out.stage("teams: a platform repo and two team repos; one team's broken commit"):
            chapter = TeamsChapter(fleet, out, lambda: _hub(fleet, out), lambda: _agents(fleet, out, None))
            try:
                result.teams = chapter.run()
            except FleetsyncError as e:  # named here: the stage count does not tell it from trust
                result.stages.append(Stage("teams", False, str(e)))
                out.line(f"FAILED: {e}", style="bold red")
                return
        result.stages.append(Stage("teams", True, ", ".join(s.name for s in result.teams.steps)))


def _hub(fleet: LocalFleet, out: Output) -> list[str]:
    """One reconcile; the bundle branches it moved."""
    r = fleet.reconcile()
    if not r.loaded:
        raise StageFailed(
            "the hub could not load the fleet repo: " + "; ".join(str(f) for f in r.findings[:3])
        )
    out.line(
        f"hub: {r.source_commit[:12]} -> {len(r.written)} ref(s) written"
        + (f" ({', '.join(w.removeprefix('refs/heads/') for w in r.written)})" if len(r.written) <= 4 else "")
    )
    return [w for w in r.written if w.startswith("refs/heads/fleet/bundles/")]


def _agents(fleet: LocalFleet, out: Output, clusters: Sequence[str] | None) -> dict[str, SyncSummary]:
    done: dict[str, SyncSummary] = {}
    failed: list[str] = []
    for cluster, s in fleet.sync(clusters).items():
        if isinstance(s, BaseException):
            failed.append(f"{cluster}: {type(s).__name__}: {s}")
            continue
        done[cluster] = s
        outcomes: dict[str, int] = {}
        for r in s.results:
            outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
        summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "no bundle yet"
        pushed = f"report {s.report_commit[:12]}" if s.report_commit else "report unchanged"
        out.line(
            f"agent {cluster}: {summary}; {pushed}" + (f"; errors: {'; '.join(s.errors)}" if s.errors else "")
        )
        if s.errors:
            failed.append(f"{cluster}: {'; '.join(s.errors)}")
    if failed:
        raise StageFailed("agent sync failed: " + " | ".join(failed[:3]))
    return done


def _converge(fleet: LocalFleet, out: Output, waiting: Sequence[str], rounds: int) -> list[str]:
    problems: list[str] = []
    for n in range(1, rounds + 1):
        moved = _hub(fleet, out)
        problems = unsettled(fleet.inputs(), waiting)
        if not problems:
            out.line(f"converged after {n} round(s)")
            return []
        if n == rounds:
            break
        reported = [c for c, s in _agents(fleet, out, None).items() if s.report_commit]
        if not moved and not reported:  # nothing new on either side: another round changes nothing
            return [f"stuck after {n} round(s)", *problems]
    return [f"not converged after {rounds} rounds", *problems]


# -- drift ---------------------------------------------------------------------------------------
def detects_drift(strategy: Mapping[str, Any]) -> bool:
    """Whether an applyStrategy makes the agent report an out-of-band change rather than
    silently re-apply over it (KubeFleet: only IfNotDrifted, FullComparison, ReportDiff, and a
    server-side apply without force, which conflicts with the other field manager)."""
    ssa = strategy.get("serverSideApplyConfig") or {}
    return (
        strategy.get("whenToApply") == "IfNotDrifted"
        or strategy.get("comparisonOption") == "FullComparison"
        or strategy.get("type") == "ReportDiff"
        or (strategy.get("type") == "ServerSideApply" and not ssa.get("force"))
    )


def drift_target(bundles: Mapping[str, Bundle], simulated: Sequence[str]) -> tuple[str, str, str] | None:
    """(cluster, placement key, identity) of the first Deployment whose placement reports drift,
    simulated clusters first; None when no placed Deployment's strategy detects drift."""
    order = sorted(bundles, key=lambda c: (c not in simulated, c))
    for cluster in order:
        b = bundles[cluster]
        strategies = {p.key: p.apply_strategy for p in b.placements}
        for f in sorted(b.files, key=lambda f: f.identity):
            if f.identity.startswith("apps/Deployment/") and detects_drift(strategies.get(f.placement, {})):
                return cluster, f.placement, f.identity
    return None


def _drift(fleet: LocalFleet, out: Output) -> DriftShown:
    inputs = fleet.inputs()
    bundles = {c: p.bundle for c, p in inputs.bundles.items() if c in fleet.members}
    simulated = [c for c, m in fleet.members.items() if m.sim is not None]
    target = drift_target(bundles, simulated)
    if target is None:
        raise StageFailed(
            "no placed Deployment belongs to a placement that reports drift: with "
            "applyStrategy.whenToApply Always (the default) the agent re-applies over an "
            "out-of-band change; give one placement whenToApply: IfNotDrifted"
        )
    cluster, placement, ident = target
    _, _, namespace, name = ident.split("/", 3)
    entry = next(f for f in bundles[cluster].files if f.identity == ident and f.placement == placement)
    assert fleet.hub is not None
    data = fleet.hub.read_file(inputs.bundles[cluster].commit, entry.path)
    manifest = load(data) if data is not None else {}
    hub_replicas = int(((manifest or {}).get("spec") or {}).get("replicas", 1))
    replicas = hub_replicas + 2
    member = fleet.members[cluster]
    if member.sim is not None:
        member.sim.edit(
            "apps/v1",
            "Deployment",
            namespace,
            name,
            lambda o: o["spec"].__setitem__("replicas", replicas),
            manager=DRIFT_MANAGER,
        )
    else:
        _kubectl_scale(member.kubeconfig, member.context, namespace, name, replicas)
    out.line(f"{cluster}: {ident} spec.replicas {hub_replicas} -> {replicas} (field manager {DRIFT_MANAGER})")
    summary = _agents(fleet, out, [cluster])[cluster]
    if summary.report_commit is None:
        raise StageFailed(f"agent {cluster} pushed no report commit after the drift")
    assert fleet.repo is not None
    message = fleet.repo.message(summary.report_commit)
    fleet.inputs()  # fetches the report branch into the hub's cache
    drift_files = {p: d.decode() for p, d in fleet.hub.read_files(summary.report_commit, "drift").items()}
    mine = {
        p: t
        for p, t in drift_files.items()
        if p.endswith(f"/{namespace}/{name}.yaml") and "/Deployment/" in p
    }
    out.line(f"report commit {summary.report_commit[:12]} on fleet/reports/{cluster}:")
    for text in message.splitlines()[:3]:
        out.line(f"  {text}")
    for path, text in sorted(mine.items()):
        out.line(f"{path}:")
        for text_line in text.splitlines():
            out.line(f"  {text_line}")
    if not mine or "/spec/replicas" not in "".join(mine.values()):
        raise StageFailed(
            f"the report commit {summary.report_commit[:12]} has no drift file for {ident} "
            "naming /spec/replicas"
        )
    _hub(fleet, out)
    for s in summaries(fleet.inputs()):
        if s.drifted.get(cluster):
            out.line(f"fleet/status: {s.key} lists {s.drifted[cluster]} drifted object(s) on {cluster}")
    return DriftShown(cluster, ident, summary.report_commit, message, mine)


def _kubectl_scale(kubeconfig: Path | None, context: str, namespace: str, name: str, replicas: int) -> None:
    if not (_DNS.match(namespace) and _DNS.match(name)):
        raise StageFailed(f"refusing to pass {namespace}/{name} to kubectl: not DNS names")
    args = [
        "kubectl",
        f"--context={context}",
        f"--namespace={namespace}",
        "patch",
        f"deployment/{name}",
        "--type=merge",
        f'--patch={{"spec":{{"replicas":{int(replicas)}}}}}',
        f"--field-manager={DRIFT_MANAGER}",
    ]
    if kubeconfig is not None:
        args.insert(1, f"--kubeconfig={kubeconfig}")
    done = subprocess.run(args, capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        raise StageFailed(f"kubectl patch failed: {done.stderr.decode(errors='replace').strip()[:300]}")
