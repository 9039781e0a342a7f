"""Plan and hub agree on a failing override: plan shows no removal and blocks; the hub, given the
same commit, keeps every bundle and reports OverriddenFailed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.plan import run as plan_cmd
from reconciler.plan.build import ExitCode
from tests.support.fleethelpers import CLUSTERS, base_files, joined_fleet

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=2)


def test_a_key_typo_under_an_override_is_what_the_hub_does_with_it(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    for c in CLUSTERS:
        work.report(c, NOW)
    files = base_files()
    files["apps/web/settings.yaml"] = files["apps/web/settings.yaml"].replace("GREETING:", "GREETNG:")
    work.commit(files, "typo")
    out, err, code = plan_cmd.run(work.path, "HEAD~1", "HEAD", "json", LATER)
    assert code == ExitCode.CHECKS_FAILED, err
    doc = json.loads(out)
    assert doc["groups"] == [] and doc["prune"]["clusters"] == []
    assert sorted((f["cluster"], f["reason"]) for f in doc["failures"]) == [
        (c, "OverriddenFailed") for c in sorted(CLUSTERS)
    ]
    bundles = {r: s for r, s in work.refs().items() if r.startswith("refs/heads/fleet/bundles/")}
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, LATER)
    assert {r: s for r, s in work.refs().items() if r.startswith("refs/heads/fleet/bundles/")} == bundles
    assert "OverriddenFailed" in work.read(
        "refs/heads/fleet/status", "placements/ClusterResourcePlacement/web.yaml"
    )
