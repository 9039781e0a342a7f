"""A whole fleet on one machine: a fleet repo with a bare remote, the hub, and one agent per member.

``fleetsync demo``, the end-to-end tests and bench/bench_e2e.py all need the same thing: the
template (or any fleet repo) committed to a fresh Git repository whose bare remote stands in for
the hosted fleet repo, one member per MemberCluster — a Kubernetes API simulator (kubesim) with
Nodes that match the cluster's declared properties, or a real kubeconfig context — and, per
member, the real agent (agent/loop.py) with its real Git source, next to the real hub
(reconciler/hub/loop.py) publishing into the same remote. Nothing is faked between them: bundles,
reports and status travel through Git exactly as in production, so whatever breaks here breaks
for users. The clock and the sleep are injected; the callers (the CLI, tests, the bench) own them.

Git plumbing the hub and agents do not do themselves — creating the repository and its bare
remote, committing a change as a user would — goes through reconciler/gitstore/worktree.py with a
fixed demo identity and no user or system git configuration, so the harness behaves the same on
every machine; a git failure there is a ``DemoGitError``. With ``secure`` (``demo --secure``) the
same parts run with trust on, set up by fleetsync/demo/trust.py: that identity signs every commit,
the hub signs with its key, each agent trusts only that key and recipients hold age identities.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from agent.apply.kube import KubeClient
from agent.loop import Agent, AgentConfig, SyncSummary
from agent.properties import DefaultProvider, PriceTableProvider, PropertyProvider
from agent.signatures import SignatureCheck, load_trusted
from agent.source import GitSource
from fleetsync.demo.trust import Trust, make_trust, repo_files, signing_identity
from fleetsync_contract.integrity import verify
from fleetsync_contract.quantity import QuantityError, parse_quantity
from kubesim.server import KubeSim
from reconciler.api.membercluster import MemberCluster
from reconciler.errors import TransientError, UserError
from reconciler.gitstore.refs import check_ref_component
from reconciler.gitstore.repo import HubRepo
from reconciler.gitstore.signing import load_signer
from reconciler.gitstore.worktree import Identity, WorkTree, WorkTreeError, init_bare
from reconciler.hub.inputs import HubInputs, read_inputs
from reconciler.hub.loop import ReconcileResult, reconcile_once
from reconciler.hub.session import HubSession
from reconciler.load.fleet import load_directory

Clock = Callable[[], datetime]
Say = Callable[[str], None]

NODE_COUNT = "kubernetes-fleet.io/node-count"
CPU_COST = "kubernetes.azure.com/per-cpu-core-cost"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
MAX_SIM_NODES = 64  # per simulated member: enough to mirror a declared fleet, bounded
_SHA = re.compile(r"^[0-9a-f]{40}$")
DEMO_IDENTITY = Identity("fleetsync demo", "demo@fleetsync.invalid")


class DemoGitError(TransientError):
    """git failed while building or changing the demo's fleet repo."""


@contextlib.contextmanager
def _demo_git() -> Iterator[None]:
    try:
        yield
    except WorkTreeError as e:
        raise DemoGitError(str(e)) from e


# -- the fleet repo -------------------------------------------------------------------------------
class FleetRepo:
    """A work tree (``fleet/``) whose ``main`` is pushed to a bare remote (``remote.git``)."""

    def __init__(self, root: Path, identity: Identity = DEMO_IDENTITY):
        self.work = root / "fleet"
        self.remote = root / "remote.git"
        self.identity = identity  # a SigningIdentity signs every commit (demo --secure)

    @classmethod
    def create(
        cls,
        root: Path,
        template: Path,
        hold_back: Sequence[str] = (),
        *,
        identity: Identity = DEMO_IDENTITY,
        files: Mapping[str, str] | None = None,
    ) -> FleetRepo:
        """The template's files committed on main and pushed, except ``hold_back`` (relative
        paths a caller commits later, such as staged update runs that need joined clusters),
        with ``files`` (relative path -> text) written over them first."""
        if not (template / "clusters").is_dir() and not any(template.glob("*.yaml")):
            raise UserError(f"{template}: not a fleet repo (no YAML files, no clusters/ directory)")
        repo = cls(root, identity)
        shutil.copytree(template, repo.work, ignore=shutil.ignore_patterns(".git"))
        for rel in hold_back:
            (repo.work / rel).unlink(missing_ok=True)
        with _demo_git():
            work = WorkTree.init(repo.work, identity, branch="main")
            written = {rel: text.encode() for rel, text in (files or {}).items()}
            work.commit(written, f"fleet repo from {template.name}\n".encode(), everything=True)
            init_bare(repo.remote)
            work.push(repo.remote, "main")
        return repo

    def commit(self, files: Mapping[str, str | None], message: str) -> str:
        """Write (text) or delete (None) files, commit them on main and push; the new commit."""
        work = WorkTree(self.work, self.identity)
        changes = {rel: None if text is None else text.encode() for rel, text in files.items()}
        with _demo_git():
            commit = work.commit(changes, f"{message}\n".encode(), everything=True)
            work.push(self.remote, "main")
        return commit

    def message(self, commit: str) -> str:
        """The full message of a commit in the remote (a report commit, a bundle commit)."""
        if not _SHA.match(commit):
            raise ValueError(f"{commit!r} is not a commit id")
        with HubRepo.local(self.remote) as remote:
            return remote.log(commit, "%B").decode(errors="replace").strip()


# -- members --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Target:
    """A real cluster a template cluster is mapped onto instead of a simulator."""

    context: str
    kubeconfig: str | None = None


@dataclass(frozen=True, slots=True)
class NodePlan:
    """Nodes for a simulated member so that its agent reports what the repo declares."""

    count: int
    cpu: str
    memory: str
    instance_type: str
    hourly_price: float | None  # per node, so the price table reproduces the declared per-core cost


def _fraction(text: str | None) -> Fraction | None:
    if text is None:
        return None
    try:
        return parse_quantity(text)
    except QuantityError:
        return None


def node_plan(member: MemberCluster, default_count: int = 3) -> NodePlan:
    """Node count, per-node capacity and price from the MemberCluster's declared status."""
    declared = member.properties.get(NODE_COUNT)
    count = default_count
    if declared is not None and declared.value.isdigit():
        count = min(max(int(declared.value), 1), MAX_SIM_NODES)
    usage = member.resource_usage.capacity if member.resource_usage else {}
    cpu = _fraction(usage.get("cpu")) or Fraction(4 * count)
    memory = _fraction(usage.get("memory")) or Fraction(16 * 2**30 * count)
    cpu_milli = max(int(cpu * 1000 / count), 100)
    mem_mi = max(int(memory / count / 2**20), 256)
    cost = member.properties.get(CPU_COST)
    per_core = _fraction(cost.value) if cost is not None else None
    price = float(per_core * Fraction(cpu_milli, 1000)) if per_core is not None else None
    cpu_text = str(cpu_milli // 1000) if cpu_milli % 1000 == 0 else f"{cpu_milli}m"
    mem_text = f"{mem_mi // 1024}Gi" if mem_mi % 1024 == 0 else f"{mem_mi}Mi"
    return NodePlan(count, cpu_text, mem_text, f"demo-{member.name}", price)


@dataclass
class Member:
    cluster: str
    kube: KubeClient
    source: GitSource
    agent: Agent
    sim: KubeSim | None = None
    kubeconfig: Path | None = None
    context: str = ""


def _start_sim(cluster: str, plan: NodePlan, kube_dir: Path) -> tuple[KubeSim, Path]:
    sim = KubeSim(controllers="instant").start()
    try:
        path = kube_dir / f"{cluster}.kubeconfig"
        sim.write_kubeconfig(path, context=cluster)
        for i in range(plan.count):
            sim.add_node(
                f"{cluster}-node-{i}",
                cpu=plan.cpu,
                memory=plan.memory,
                labels={INSTANCE_TYPE_LABEL: plan.instance_type},
            )
    except BaseException:
        sim.stop()
        raise
    return sim, path


# -- the fleet ------------------------------------------------------------------------------------
class LocalFleet:
    """The fleet repo, the hub and one member + agent per cluster; ``close()`` stops everything.

    ``remote_url`` is where the hub and the agents reach the fleet repo (default: the bare
    remote's path; a ``git://`` URL of a daemon serving it works the same).
    """

    def __init__(
        self,
        root: Path,
        template: Path,
        *,
        clock: Clock,
        sleep: Callable[[float], None],
        targets: Mapping[str, Target] | None = None,
        remote_url: str | None = None,
        say: Say | None = None,
        agent_workers: int = 4,
        secure: bool = False,
    ):
        self.root = root
        self.template = template
        self.clock = clock
        self.sleep = sleep
        self.targets = dict(targets or {})
        self.say = say or (lambda _m: None)
        self.agent_workers = agent_workers
        self._remote_url = remote_url
        self.repo: FleetRepo | None = None
        self.hub: HubRepo | None = None
        self.session = HubSession()  # the demo's hub is a long-running one
        self.members: dict[str, Member] = {}
        self.declared: dict[str, MemberCluster] = {}
        self.secure = secure  # signed commits and bundles, an encrypted Secret (fleetsync/demo/trust.py)
        self.trust: Trust | None = None

    @property
    def url(self) -> str:
        assert self.repo is not None, "create_repo() first"
        return self._remote_url or str(self.repo.remote)

    def __enter__(self) -> LocalFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- setting up ---------------------------------------------------------------------------
    def create_repo(self, hold_back: Sequence[str] = ()) -> FleetRepo:
        loaded = load_directory(self.template)
        if not loaded.ok:
            first = "; ".join(str(f) for f in loaded.errors[:3])
            raise UserError(f"{self.template} does not load: {first}")
        self.declared = {name: loaded.spec.members[name] for name in sorted(loaded.spec.members)}
        unknown = sorted(set(self.targets) - set(self.declared))
        if unknown:
            raise UserError(f"no MemberCluster named {', '.join(unknown)} in {self.template}")
        for name in self.declared:
            check_ref_component(name)
        identity, files = DEMO_IDENTITY, {}
        if self.secure:
            self.trust = make_trust(self.root, self.declared)
            identity = signing_identity(self.trust, DEMO_IDENTITY)
            files = repo_files(self.template, self.declared, self.trust, DEMO_IDENTITY.email)
        self.repo = FleetRepo.create(self.root, self.template, hold_back, identity=identity, files=files)
        self.hub = HubRepo.cached(self.root / "hub", self.url)
        if self.trust is not None:
            self.hub.sign_commits(load_signer(self.trust.hub.private))
        return self.repo

    def start_members(self) -> None:
        """A simulator (or the mapped real context) and an agent per declared cluster, in parallel."""
        kube_dir = self.root / "kube"
        kube_dir.mkdir(exist_ok=True)
        errors: dict[str, BaseException] = {}
        lock = threading.Lock()

        def start(cluster: str) -> None:
            try:
                member = self._member(cluster, kube_dir)
            except BaseException as e:  # reported below, the others still start and get closed
                with lock:
                    errors[cluster] = e
                return
            with lock:
                self.members[cluster] = member

        self._in_threads(start, list(self.declared))
        if errors:
            cluster, error = sorted(errors.items())[0]
            raise UserError(f"cannot start member {cluster}: {error}") from error

    def _member(self, cluster: str, kube_dir: Path) -> Member:
        sim: KubeSim | None = None
        providers: list[PropertyProvider] = [DefaultProvider()]
        target = self.targets.get(cluster)
        if target is None:
            plan = node_plan(self.declared[cluster])
            sim, path = _start_sim(cluster, plan, kube_dir)
            kubeconfig: Path | None = path
            context = cluster
            if plan.hourly_price is not None:
                providers.append(PriceTableProvider({plan.instance_type: plan.hourly_price}))
        else:
            kubeconfig = Path(target.kubeconfig) if target.kubeconfig else None
            context = target.context
        trust = self.trust
        try:
            kube = KubeClient.from_kubeconfig(str(kubeconfig) if kubeconfig else None, context)
            source = GitSource(
                self.url,
                cluster,
                self.root / "agents" / cluster,
                verify=lambda files: verify(files, cluster),
                signatures=SignatureCheck(load_trusted([trust.hub.public])) if trust else None,
            )
        except BaseException:
            if sim is not None:
                sim.stop()
            raise
        agent = Agent(
            AgentConfig(
                cluster,
                workers=self.agent_workers,
                fleet=source.fleet,
                age_identity_file=str(trust.identities.get(cluster, "")) if trust else "",
            ),
            kube,
            source,
            clock=self.clock,
            sleep=self.sleep,
            providers=providers,
        )
        return Member(cluster, kube, source, agent, sim, kubeconfig, context)

    # -- running ------------------------------------------------------------------------------
    def reconcile(self) -> ReconcileResult:
        assert self.hub is not None, "create_repo() first"
        return reconcile_once(self.hub, self.clock(), session=self.session)

    def sync(self, clusters: Sequence[str] | None = None) -> dict[str, SyncSummary | BaseException]:
        """One agent pass (sync, then heartbeat) per cluster, in parallel threads."""
        out: dict[str, SyncSummary | BaseException] = {}
        lock = threading.Lock()

        def one(cluster: str) -> None:
            agent = self.members[cluster].agent
            result: SyncSummary | BaseException
            try:
                result = agent.sync()
                agent.heartbeat()
            except Exception as e:  # one agent's failure is that cluster's result, not the run's end
                result = e
            with lock:
                out[cluster] = result

        self._in_threads(one, list(clusters if clusters is not None else sorted(self.members)))
        return dict(sorted(out.items()))

    def beat(self) -> None:
        """A heartbeat from every agent, in parallel threads (after the clock moved on)."""
        failed: dict[str, Exception] = {}

        def one(cluster: str) -> None:
            try:
                self.members[cluster].agent.heartbeat()
            except Exception as e:  # reported below, the other agents still beat
                failed[cluster] = e

        self._in_threads(one, sorted(self.members))
        if failed:
            cluster, error = sorted(failed.items())[0]
            raise DemoGitError(f"agent {cluster} could not beat: {error}") from error

    def inputs(self) -> HubInputs:
        """Every hub ref as the remote has it now (bundles, reports, heartbeats, status)."""
        assert self.hub is not None, "create_repo() first"
        self.hub.refresh()
        return read_inputs(self.hub)

    @staticmethod
    def _in_threads(fn: Callable[[str], None], names: Sequence[str]) -> None:
        threads = [threading.Thread(target=fn, args=(n,), name=f"fleet-{n}") for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def close(self) -> None:
        """Close every client, stop every simulator; safe to call twice."""
        members, self.members = self.members, {}
        for m in members.values():
            for closer in (m.source.close, m.kube.close):
                try:
                    closer()
                except Exception:  # closing must reach the simulators whatever a client does
                    continue
            if m.sim is not None:
                m.sim.stop()
        if self.hub is not None:
            self.hub.close()
            self.hub = None
