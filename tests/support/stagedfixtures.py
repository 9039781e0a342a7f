"""Builders for staged-run tests: real YAML through the parser, and a tiny fleet that obeys the hub.

``Fleet`` plays the hub loop and the agents around ``advance_run``: it applies the step's
``bind``/``remove`` to the bindings, lets a test say which clusters became available or failed,
moves a fixed clock, and can "restart the hub" by writing the status to its document and
reading it back, as the real hub does through fleet/status. ``WEB_CRP``, ``RINGS_STRATEGY`` and
``RING_LABELS`` are the two-cluster fleet the hub-side tests plan runs on; ``git`` and
``fleet_checkout`` make the real repo that approval tests commit to.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.api.registry import parse_fleet_object
from reconciler.api.staged import ApprovalRequest, RunState, StagedUpdateRun, StagedUpdateStrategy
from reconciler.errors import Findings
from reconciler.load.yamldoc import parse_documents
from reconciler.rollout.staged.documents import parse_run_status, run_status_doc
from reconciler.rollout.staged.execute import RunStep, advance_run, approvals_for
from reconciler.rollout.staged.init import initialize_run
from reconciler.rollout.staged.model import ClusterOverrides, ClusterProgress, PlacementFacts, RunStatus
from tests.support import DATA
from tests.support.gitdaemon import git_identity

T0 = datetime(2026, 11, 25, 3, 0, 0, tzinfo=UTC)
EXAMPLES = DATA / "kubefleet-examples"  # copied from shared/
APPLY = {
    "type": "ClientSideApply",
    "comparisonOption": "PartialComparison",
    "whenToApply": "Always",
    "whenToTakeOver": "Always",
    "allowCoOwnership": False,
    "serverSideApplyConfig": {"force": False},
}


def parse(text: str, file: str = "fleet/staged.yaml") -> Any:
    doc = parse_documents(text, file)[0]
    group, _, version = doc.data["apiVersion"].rpartition("/")
    findings = Findings()
    obj = parse_fleet_object(doc, group, version, doc.data["kind"], findings)
    assert [str(f) for f in findings.items] == []
    return obj


def example(name: str) -> Any:
    path = EXAMPLES / "fleet" / name
    return parse(path.read_text(), str(path))


def strategy(stages: str, name: str = "s") -> StagedUpdateStrategy:
    body = textwrap.indent(textwrap.dedent(stages).strip("\n"), "    ")
    s = parse(
        f"apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterStagedUpdateStrategy\n"
        f"metadata:\n  name: {name}\nspec:\n  stages:\n{body}\n"
    )
    assert isinstance(s, StagedUpdateStrategy)
    return s


WEB_CRP = """
apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ClusterResourcePlacement
metadata: {name: web}
spec:
  resourceSelectors: [{group: "", kind: Namespace, version: v1, name: web}]
  strategy: {type: External}
"""
RINGS_STRATEGY = strategy("""
- name: one
  labelSelector: {matchLabels: {ring: "1"}}
  afterStageTasks: [{type: Approval}]
- name: two
  labelSelector: {matchLabels: {ring: "2"}}
""")
RING_LABELS = {"a": {"ring": "1"}, "b": {"ring": "2"}}


def git(repo: Path, *args: str) -> str:
    """git in ``repo`` with the user's environment and the repo's own config (its identity)."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def fleet_checkout(path: Path) -> Path:
    """A work tree on main with one commit; its commits are Ada Lovelace's (gitdaemon.git_identity)."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git_identity(path)
    (path / "README.md").write_text("fleet\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")
    return path


def run(
    name: str = "r1", placement: str = "web", strategy_name: str = "s", index: str = "", state: str = "Run"
) -> StagedUpdateRun:
    idx = f'  resourceSnapshotIndex: "{index}"\n' if index else ""
    r = parse(
        f"apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterStagedUpdateRun\n"
        f"metadata:\n  name: {name}\nspec:\n  placementName: {placement}\n{idx}"
        f"  stagedRolloutStrategyName: {strategy_name}\n  state: {state}\n"
    )
    assert isinstance(r, StagedUpdateRun)
    return r


def approval(name: str, run_name: str, stage: str, approved: bool = True) -> ApprovalRequest:
    status = (
        '\nstatus:\n  conditions:\n  - {type: Approved, status: "True", reason: Ok, message: lgtm}'
        if approved
        else ""
    )
    a = parse(
        f"apiVersion: placement.kubernetes-fleet.io/v1beta1\nkind: ClusterApprovalRequest\n"
        f"metadata:\n  name: {name}\nspec:\n  parentStageRollout: {run_name}\n  targetStage: {stage}{status}\n"
    )
    assert isinstance(a, ApprovalRequest)
    return a


def facts(scheduled: Iterable[str], obsolete: Iterable[str] = (), **kw: Any) -> PlacementFacts:
    base: dict[str, Any] = {
        "key": "ClusterResourcePlacement/web",
        "name": "web",
        "apply_strategy": APPLY,
        "snapshot_indexes": (0, 1),
        "policy_index": 0,
    }
    base.update(kw)
    return PlacementFacts(scheduled=tuple(sorted(scheduled)), obsolete=tuple(sorted(obsolete)), **base)


class Fleet:
    """Clusters at snapshot 0, available; a run initialized over them; a clock."""

    def __init__(
        self,
        strat: StagedUpdateStrategy,
        labels: Mapping[str, Mapping[str, str]],
        the_run: StagedUpdateRun | None = None,
        obsolete: Iterable[str] = (),
        overrides: Mapping[str, ClusterOverrides] | None = None,
    ):
        self.run = the_run or run()
        self.now = T0
        self.facts = facts(labels, obsolete)
        self.progress: dict[str, ClusterProgress] = {
            c: ClusterProgress(resource_index=0, bound=True, available=True) for c in [*labels, *obsolete]
        }
        self.approvals: list[ApprovalRequest] = []
        status = initialize_run(self.run, strat, self.facts, labels, overrides or {}, self.now)
        assert status is not None and status.initialized, status
        self.status: RunStatus = status
        self.steps: list[RunStep] = []

    def step(self, after: timedelta = timedelta(0), restart: bool = False) -> RunStep:
        self.now += after
        if restart:  # what a new hub process reads back from fleet/status
            self.status = parse_run_status(run_status_doc(self.status))
        result = advance_run(
            self.run,
            self.status,
            self.facts,
            self.progress,
            approvals_for(self.run, self.approvals),
            self.now,
        )
        self.status = result.status
        for c in result.bind:
            self.progress[c] = ClusterProgress(resource_index=self.status.resource_index, bound=True)
        for c in result.remove:
            self.progress.pop(c, None)
        self.steps.append(result)
        return result

    def available(self, *clusters: str) -> None:
        for c in clusters:
            self.progress[c] = replace(self.progress[c], available=True)

    def fail(self, cluster: str, message: str = "") -> None:
        self.progress[cluster] = replace(self.progress[cluster], failed=True, message=message)

    def approve(self, name: str, stage: str) -> None:
        self.approvals.append(approval(name, self.run.name, stage))

    def state(self, state: str) -> None:
        self.run = replace(self.run, state=RunState(state))

    def run_condition(self, ctype: str) -> tuple[str, str, str]:
        c = next(c for c in self.status.conditions if c.type == ctype)
        return str(c.status), c.reason, c.message

    def stage_reason(self, name: str) -> str:
        st = next(
            s for s in [*self.status.stages, self.status.deletion_stage] if s is not None and s.name == name
        )
        done = next((c for c in st.conditions if c.type == "Succeeded"), None)
        if done is not None:
            return done.reason
        return next((c.reason for c in st.conditions if c.type == "Progressing"), "")
