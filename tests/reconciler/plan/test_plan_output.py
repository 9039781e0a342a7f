"""The plan's outputs: Secret values never shown, a stable JSON shape, Markdown that stays short."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from reconciler.gitstore.repo import HubRepo
from reconciler.plan import run as plan_cmd
from reconciler.plan.build import ExitCode, make_plan
from reconciler.plan.markdown import MAX_CHARS, render
from reconciler.plan.side import read_cluster_state

SECRET = """---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: app
type: Opaque
data:
  password: {password}
  user: {user}
stringData:
  token: {token}
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_change_shows_which_key_changed_but_never_a_value(make_fleet: Callable[[int], Any]) -> None:
    fleet = make_fleet(3)
    fleet.edit(
        "apps/app.yaml",
        lambda t: t + SECRET.format(password=_b64("hunter2-old"), user=_b64("admin"), token="tok-old-123"),
    )
    fleet.commit("add secret")
    fleet.edit(
        "apps/app.yaml",
        lambda t: t.replace(_b64("hunter2-old"), _b64("hunter2-new")).replace("tok-old-123", "tok-new-456"),
    )
    fleet.commit("rotate")
    outputs = [fleet.plan_text(o)[0] for o in ("json", "markdown", "text")]
    for out in outputs:
        for value in (
            "hunter2-old",
            "hunter2-new",
            "tok-old-123",
            "tok-new-456",
            "admin",
            _b64("hunter2-old"),
            _b64("hunter2-new"),
            _b64("admin"),
        ):
            assert value not in out
    doc, code = fleet.plan()
    assert code == ExitCode.CHANGES
    [group] = doc["groups"]
    [obj] = group["objects"]
    assert obj["identity"] == "/Secret/app/db"
    assert '+  password: "**masked** (changed)"' in obj["diff"]
    assert '+  token: "**masked** (changed)"' in obj["diff"]
    assert "+  user:" not in obj["diff"]  # unchanged: at most a context line


TOP_KEYS = [
    "apiVersion",
    "kind",
    "base",
    "head",
    "clusterState",
    "summary",
    "groups",
    "placements",
    "violations",
    "blastRadius",
    "validation",
    "immutability",
    "prune",
    "notes",
    "failures",
    "immutableFields",
    "failedObjects",
]
SUMMARY_KEYS = [
    "clustersInFleet",
    "clustersTouched",
    "objectsTouched",
    "added",
    "changed",
    "removed",
    "groups",
    "checksPassed",
    "exitCode",
]


def test_json_shape_is_stable(make_fleet: Callable[[int], Any]) -> None:
    fleet = make_fleet(4)
    fleet.edit("apps/app.yaml", lambda t: t.replace('VERSION: "1"', 'VERSION: "2"'))
    fleet.commit()
    doc, code = fleet.plan()
    assert list(doc) == TOP_KEYS
    assert (doc["apiVersion"], doc["kind"]) == ("fleetsync.io/v1alpha1", "FleetPlan")
    assert list(doc["summary"]) == SUMMARY_KEYS
    assert doc["summary"]["exitCode"] == code == ExitCode.CHANGES
    assert list(doc["base"]) == ["rev", "commit", "loaded"]
    assert list(doc["clusterState"]) == ["assumedEligible", "note"]
    assert doc["clusterState"]["assumedEligible"] is True
    [group] = doc["groups"]
    assert list(group) == ["clusters", "objects", "placements", "overrides", "violations"]
    assert list(group["objects"][0]) == ["placement", "identity", "action", "diff"]
    [placement] = doc["placements"]
    assert list(placement) == ["placement", "picked", "dropped", "rollout", "runs", "settingsDiff"]
    assert list(placement["rollout"]) == [
        "strategy",
        "first",
        "held",
        "removed",
        "maxSurge",
        "maxUnavailable",
    ]
    assert list(doc["immutability"]) == ["checked", "refusals"]


def test_markdown_renders_checks_placements_and_collapsible_diffs(make_fleet: Callable[[int], Any]) -> None:
    fleet = make_fleet(4)
    fleet.edit("apps/app.yaml", lambda t: t.replace('VERSION: "1"', 'VERSION: "2"'))
    fleet.commit()
    md, err, code = fleet.plan_text("markdown")
    assert code == ExitCode.CHANGES and err == ""
    assert md.startswith("### fleetsync plan ")
    assert "4 of 4 cluster(s) touched" in md and "checks pass" in md
    assert "every MemberCluster is treated as eligible" in md
    assert "#### Placements" in md and "`ClusterResourcePlacement/app`: RollingUpdate" in md
    assert "<b>c-0000, c-0001, c-0002, c-0003: same change</b>" in md
    assert md.count("<details>") == md.count("</details>") == 1
    assert md.count("```") % 2 == 0
    assert '+  VERSION: "2"' in md


def test_a_500_cluster_change_is_one_group_and_fits_a_pull_request_comment(
    make_fleet: Callable[[int], Any],
) -> None:
    fleet = make_fleet(500)
    fleet.edit("apps/app.yaml", lambda t: t.replace('VERSION: "1"', 'VERSION: "2"'))
    fleet.commit()
    md, _, code = fleet.plan_text("markdown")
    assert code == ExitCode.CHANGES
    assert len(md) < MAX_CHARS
    assert "500 of 500 cluster(s) touched" in md
    assert "and 470 more: same change" in md
    assert len(re.findall(r"<details>", md)) == 1


@pytest.mark.parametrize("rev", ["no-such-branch", "--upload-pack=evil"])
def test_an_unknown_or_option_like_revision_is_a_usage_error(
    make_fleet: Callable[[int], Any], rev: str
) -> None:
    out, err, code = plan_cmd.run(make_fleet(2).path, rev, "HEAD", "json", datetime(2026, 5, 1, tzinfo=UTC))
    assert code == 2 and out == "" and "not a commit" in err  # the exit-code rule: 2 usage


def test_markdown_over_budget_keeps_every_group_and_points_to_json_for_left_out_diffs(
    make_fleet: Callable[[int], Any],
) -> None:
    fleet = make_fleet(3)
    extra = "".join(
        f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: app\n"
        f'data:\n  V: "{{v}}"\n'
        for i in range(20)
    )
    fleet.edit("apps/app.yaml", lambda t: t + extra.replace("{v}", "1"))
    fleet.commit()
    fleet.edit("apps/app.yaml", lambda t: t.replace('V: "1"', 'V: "2"'))
    fleet.commit()
    with HubRepo.local(fleet.path) as repo:
        plan = make_plan(
            repo, "HEAD~1", "HEAD", datetime(2026, 5, 1, tzinfo=UTC), read_cluster_state(None, "")
        )
    full = render(plan)
    short = render(plan, max_chars=len(full) // 2)
    assert len(short) <= len(full) // 2
    assert "c-0000, c-0001, c-0002: same change" in short
    assert short.count("- changed /ConfigMap/app/cm-") == 20  # every object still named
    assert "diff(s) left out to fit a comment: `fleetsync plan -o json`" in short
