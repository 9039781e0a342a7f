"""The issue's "done when" cases, as the reviewer reads them: the Markdown comment of each.

tests/reconciler/plan/test_plan_template.py asserts the JSON of the same changes; here the comment a
pull request gets must say the same things (who is picked or dropped and why, which clusters
share a change, the violation with object, cluster and message, file:line of an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler.plan.build import ExitCode
from tests.support.planfixtures import invalid, label_moves, new_pickn, no_change, override_subset, privileged

CHECKOUT = "canary-us-1, prod-eu-1, prod-eu-2, prod-us-1, prod-us-2, staging-eu-1"


CASES: list[tuple[Callable[[Any], None], ExitCode, list[str], list[str]]] = [
    (
        new_pickn,
        ExitCode.CHANGES,
        [
            "2 of 8 cluster(s) touched, 4 object change(s) (+4 ~0 -0) in 1 group(s); checks pass",
            "`ClusterResourcePlacement/batch`: RollingUpdate",
            "  - picks dev-eu-1, staging-eu-1: ",
            "<b>dev-eu-1, staging-eu-1: same change</b> (2 cluster(s), 2 object(s))",
            "- added /Namespace//batch (ClusterResourcePlacement/batch)",
            "- added /ConfigMap/batch/batch-config (ClusterResourcePlacement/batch)",
            "+  QUEUE: jobs",
        ],
        ["drops", "CHECKS FAIL"],
    ),
    (
        label_moves,
        ExitCode.CHECKS_FAILED,  # the hub holds an unconfirmed removal of more than half a cluster
        [
            "  - drops prod-eu-2: ClusterUnschedulable",
            "  - picks prod-us-1: ",
            "picked by scheduling policy",
            "<b>prod-eu-2</b>",
            "- dropped by ClusterResourcePlacement/web: ClusterUnschedulable",
            "- removed apps/Deployment/team-web/web (ClusterResourcePlacement/web)",
            "<b>prod-us-1</b>",
            "- picked by ClusterResourcePlacement/web: ",
            "- added apps/Deployment/team-web/web (ClusterResourcePlacement/web)",
            "- prod-eu-2: removes 8 of 15 object(s) (more than 50%); 7 remain\n",
            "#### Prune refused: removals the hub will not publish without confirmation",
            "`Fleetsync-Allow-Prune: prod-eu-2`",
            "CHECKS FAIL",
        ],
        ["checks pass"],
    ),
    (
        override_subset,
        ExitCode.CHANGES,
        [
            "2 of 8 cluster(s) touched, 2 object change(s) (+0 ~2 -0) in 1 group(s); checks pass",
            "<b>prod-eu-1, prod-eu-2: same change</b> (2 cluster(s), 1 object(s))",
            "-  replicas: 5\n+  replicas: 7",
        ],
        ["<b>prod-us-2", "prod-us-2: same change", "picks", "drops"],
    ),
    (
        privileged,
        ExitCode.CHECKS_FAILED,
        [
            "CHECKS FAIL",
            "#### Policy violations (new in head)",
            f"- Deny `no-privileged-containers` on `apps/Deployment/checkout/checkout` "
            f"(ClusterResourcePlacement/checkout) in {CHECKOUT}: privileged containers are not allowed: checkout",
            "- new Deny violation of no-privileged-containers on apps/Deployment/checkout/checkout: "
            "privileged containers are not allowed: checkout",
        ],
        [],
    ),
    (
        invalid,
        ExitCode.CHECKS_FAILED,
        [
            "0 of 8 cluster(s) touched",  # web keeps its previous version: nothing else changes
            "CHECKS FAIL",
            "#### Validation of head",
            "- error: `placements/web.yaml:16:",
            "#### Objects that fail (the hub keeps their previous version)",
            "- `placement.kubernetes-fleet.io/ClusterResourcePlacement//web` (object scope): "
            "placements/web.yaml:16:",
        ],
        ["Changes by cluster", "head does not load", "removed"],
    ),
    (
        no_change,
        ExitCode.NO_CHANGE,
        [
            "0 of 8 cluster(s) touched, 0 object change(s) (+0 ~0 -0) in 0 group(s); checks pass",
            "No cluster's rendered objects change.",
        ],
        ["#### Placements", "Changes by cluster", "Policy violations (new in head)"],
    ),
]


@pytest.mark.parametrize(
    ("change", "exit_code", "present", "absent"),
    CASES,
    ids=[
        "new-pickn",
        "label-moves-clusters",
        "override-subset-grouped",
        "policy-violation",
        "invalid-commit",
        "no-change",
    ],
)
def test_the_pull_request_comment_says_what_the_change_does(
    template: Any, change: Callable[[Any], None], exit_code: ExitCode, present: list[str], absent: list[str]
) -> None:
    change(template)
    template.commit()
    md, err, code = template.plan_text("markdown")
    assert (code, err) == (exit_code, "")
    missing = [s for s in present if s not in md]
    assert not missing, f"missing {missing} in:\n{md}"
    shown = [s for s in absent if s in md]
    assert not shown, f"unexpected {shown} in:\n{md}"
