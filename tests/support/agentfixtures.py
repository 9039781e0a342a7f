"""The agent's integration-test world: a hub that publishes bundle branches, a member cluster.

``Hub`` writes a cluster's bundle branch the way the hub does and reads back what the agent
reported; ``Member`` is the cluster under test (a KubeSim, or a real cluster named by
FLEETSYNC_E2E_KUBECONFIG), shared by a test module, each test under its own prefix. Both are
plain classes so that tests can name them in annotations; tests/agent/conftest.py turns them
into fixtures.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.apply.kube import KubeClient
from agent.loop import Agent
from fleetsync_contract.bundle import (
    BundleObject,
    BundlePlacement,
    Removal,
    build_bundle,
    manifest_identity,
)
from fleetsync_contract.report import ClusterReport, ObjectDrift, parse_report_tree

E2E_ENV = "FLEETSYNC_E2E_KUBECONFIG"
ENV = {
    "GIT_AUTHOR_NAME": "hub",
    "GIT_AUTHOR_EMAIL": "hub@example.invalid",
    "GIT_COMMITTER_NAME": "hub",
    "GIT_COMMITTER_EMAIL": "hub@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, check=check, capture_output=True, text=True
    ).stdout.strip()


def placement(name: str = "web", **strategy: Any) -> BundlePlacement:
    return BundlePlacement("ClusterResourcePlacement", "", name, 1, strategy, 60)


class Hub:
    """A bare fleet repo; ``publish`` writes a cluster's bundle branch the way the hub does."""

    def __init__(self, root: Path, cluster: str):
        self.bare = root / "fleet.git"
        self.work = root / "hubwork"
        self.cluster = cluster
        git(root, "init", "-q", "--bare", str(self.bare))
        git(root, "init", "-q", str(self.work))
        self.branch = f"fleet/bundles/{cluster}"
        self.n = 0

    def publish(
        self,
        objects: Sequence[tuple[BundlePlacement, Mapping[str, Any]]],
        removals: Sequence[Removal] = (),
        *,
        rewrite: bool = False,
        files: Mapping[str, bytes] | None = None,
        heartbeat: int | None = None,
    ) -> str:
        placements = {p.key: p for p, _ in objects} or {placement().key: placement()}
        built = files or build_bundle(
            self.cluster,
            f"{self.n:040x}",
            list(placements.values()),
            [BundleObject(p.key, manifest_identity(m), manifest=m) for p, m in objects],
            removals,
            heartbeat_period_seconds=heartbeat,
        )
        self.n += 1
        if rewrite or not git(self.work, "branch", "--list", "hub"):
            git(self.work, "checkout", "-q", "--orphan", f"hub-{self.n}")
        git(self.work, "rm", "-rfq", "--ignore-unmatch", ".")
        for name, data in built.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", f"bundle {self.n}", "--allow-empty")
        git(self.work, "branch", "-f", "hub", "HEAD")
        git(self.work, "push", "-qf", str(self.bare), f"HEAD:refs/heads/{self.branch}")
        return git(self.work, "rev-parse", "HEAD")

    def report(self) -> tuple[ClusterReport, dict[str, ObjectDrift]]:
        ref = f"fleet/reports/{self.cluster}"
        names = git(self.bare, "ls-tree", "-r", "--name-only", ref).splitlines()
        files = {
            n: subprocess.run(
                ["git", "show", f"{ref}:{n}"], cwd=self.bare, env=ENV, check=True, capture_output=True
            ).stdout
            for n in names
        }
        return parse_report_tree(files)

    def report_commits(self) -> int:
        out = git(self.bare, "rev-list", "--count", f"fleet/reports/{self.cluster}", check=False)
        return int(out) if out else 0


@dataclass
class Member:
    """The member cluster under test: a KubeSim (``sim`` set) or a real cluster, shared by a test
    module; each test works under its own ``prefix`` (namespaces, CRD groups, inventory)."""

    kubeconfig: Path
    kube: KubeClient
    sim: Any = None
    prefix: str = ""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(self.kube.kind(api_version, kind), name, namespace)


def new_prefix() -> str:
    return "t" + uuid.uuid4().hex[:8]


def short_sleep(seconds: float) -> None:
    """The agent's injected sleep in tests: real, but never longer than 20 ms."""
    time.sleep(min(seconds, 0.02))


AgentFactory = Callable[..., Agent]
