"""``fleetsync plan``'s prune check: emptying a cluster, or removing more than the prune share of
its objects, blocks the merge unless a commit of the change confirms it with the trailer the hub
requires (reconciler/hub/prunesafety.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.hub.prunesafety import TRAILER
from reconciler.plan import run as plan_cmd
from reconciler.plan.markdown import MAX_OBJECTS, _prune_lines
from reconciler.plan.prune import APPROVE_PRUNE_LABEL, prune_checks
from tests.support.planfixtures import NOW

EXTRA = "".join(
    f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-{i}\n  namespace: app\n"
    f'data: {{N: "{i}"}}\n'
    for i in range(2)
)


def fleet(make_fleet: Callable[[int], Any], settings: str = "") -> Any:
    """3 clusters with 4 objects each: the namespace app, its ConfigMaps settings, extra-0, extra-1."""
    repo = make_fleet(3)
    repo.edit("apps/app.yaml", lambda t: t + EXTRA)
    if settings:
        repo.edit("fleetsync.yaml", lambda t: t + settings)
    repo.commit("four objects")
    return repo


def drop_configmaps(repo: Any, names: tuple[str, ...], trailer: str = "") -> None:
    docs = repo.path.joinpath("apps/app.yaml").read_text().split("---\n")
    kept = [d for d in docs if not any(f"name: {n}\n" in d for n in names)]
    repo.write("apps/app.yaml", "---\n".join(kept))
    repo.commit("remove " + ", ".join(names) + (f"\n\n{trailer}" if trailer else ""))


def test_deleting_the_only_placement_empties_every_cluster_and_blocks_without_the_trailer(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.remove("placements/app.yaml")
    repo.commit("delete the placement")
    doc, code = repo.plan()
    assert code == 2
    assert doc["summary"]["checksPassed"] is False
    assert doc["prune"]["maxShare"] == 0.5
    assert [
        (c["cluster"], c["before"], c["removed"], c["after"], c["empties"], c["blocking"])
        for c in doc["prune"]["clusters"]
    ] == [(f"c-{i:04d}", 4, 4, 0, True, True) for i in range(3)]
    assert doc["prune"]["clusters"][0]["confirmWith"] == f"{TRAILER}: c-0000"
    md, _, _ = repo.plan_text()
    assert "#### Prune refused: removals the hub will not publish without confirmation" in md
    assert "- c-0000, c-0001, c-0002: removes all 4 object(s): the cluster is left with none\n" in md
    assert f"the commit-message trailer `{TRAILER}: c-0000, c-0001, c-0002`" in md


def test_the_trailer_in_a_commit_of_the_change_lets_an_intended_emptying_pass_and_says_so(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.remove("placements/app.yaml")
    repo.commit(f"delete the placement\n\n{TRAILER}: all")
    doc, code = repo.plan()
    assert code == 1
    assert [c["blocking"] for c in doc["prune"]["clusters"]] == [False, False, False]
    md, _, _ = repo.plan_text()
    assert "Prune refused" not in md
    assert f"removes all 4 object(s): the cluster is left with none; confirmed by a `{TRAILER}` trailer" in md


def test_the_old_label_alone_does_not_confirm_an_emptying_and_plan_says_why(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.remove("placements/app.yaml")
    repo.commit("delete the placement")
    _, code = repo.plan(labels=(APPROVE_PRUNE_LABEL,))
    assert code == 2
    md, _, _ = repo.plan_text(labels=(APPROVE_PRUNE_LABEL,))
    assert f"The label {APPROVE_PRUNE_LABEL} is not a confirmation" in md


def test_a_trailer_naming_one_cluster_confirms_that_cluster_only(make_fleet: Callable[[int], Any]) -> None:
    repo = fleet(make_fleet)
    repo.remove("placements/app.yaml")
    repo.commit(f"delete the placement\n\n{TRAILER}: c-0001")
    doc, code = repo.plan()
    assert code == 2
    assert [(c["cluster"], c["blocking"]) for c in doc["prune"]["clusters"]] == [
        ("c-0000", True),
        ("c-0001", False),
        ("c-0002", True),
    ]


@pytest.mark.parametrize(
    ("settings", "removed", "over"),
    [
        ("", ("settings", "extra-0", "extra-1"), True),  # 3 of 4 > 50%
        ("", ("extra-0", "extra-1"), False),  # 2 of 4 is the share, not more
        ("pruneMaxShare: 0.25\n", ("extra-0", "extra-1"), True),  # the repo's own share
        ("pruneMaxShare: 0.25\n", ("extra-0",), False),
    ],
    ids=["more-than-default-share", "exactly-the-share", "repo-share-lower", "within-repo-share"],
)
def test_removing_more_than_the_prune_share_blocks_unless_confirmed(
    make_fleet: Callable[[int], Any], settings: str, removed: tuple[str, ...], over: bool
) -> None:
    repo = fleet(make_fleet, settings=settings)
    drop_configmaps(repo, removed)
    doc, code = repo.plan()
    assert code == (2 if over else 1), doc["validation"]
    assert doc["summary"]["removed"] == 3 * len(removed)
    checks = doc["prune"]["clusters"]
    md, _, _ = repo.plan_text()
    if not over:
        assert checks == [] and "Prune refused" not in md and "WARNING" not in md
        return
    assert [(c["cluster"], c["removed"], c["after"], c["blocking"]) for c in checks] == [
        (f"c-{i:04d}", len(removed), 4 - len(removed), True) for i in range(3)
    ]
    share = "25%" if settings else "50%"
    line = f"- c-0000, c-0001, c-0002: removes {len(removed)} of 4 object(s) (more than {share}); {4 - len(removed)} remain"
    assert "#### Prune refused: removals the hub will not publish without confirmation" in md
    assert line + "\n" in md
    repo.edit("apps/app.yaml", lambda t: t + "\n")  # the same removal, now confirmed
    repo.commit(f"confirm\n\n{TRAILER}: all")
    doc, code = plan_since(repo, "HEAD~2")
    assert code == 1
    md, _, _ = plan_cmd.run(repo.path, "HEAD~2", "HEAD", "markdown", NOW)
    assert f"#### WARNING: large removals (more than {share} of a cluster's objects, or all), confirmed" in md
    assert line + f"; confirmed by a `{TRAILER}` trailer" in md


def plan_since(repo: Any, base: str) -> tuple[dict[str, Any], int]:
    out, err, code = plan_cmd.run(repo.path, base, "HEAD", "json", NOW)
    assert code < 3, err
    return json.loads(out), code


def test_a_cluster_leaving_the_fleet_is_not_a_prune(make_fleet: Callable[[int], Any]) -> None:
    repo = fleet(make_fleet)
    repo.remove("clusters/c-0001.yaml")
    repo.commit("c-0001 leaves the fleet")
    doc, code = repo.plan()
    assert code == 1
    assert doc["prune"]["clusters"] == []
    assert [g["clusters"] for g in doc["groups"]] == [["c-0001"]]


def test_a_label_change_that_drops_a_cluster_from_its_only_placement_blocks(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.edit(
        "placements/app.yaml",
        lambda t: t.replace(
            "placementType: PickAll\n",
            "placementType: PickAll\n    affinity:\n      clusterAffinity:\n"
            "        requiredDuringSchedulingIgnoredDuringExecution:\n          clusterSelectorTerms:\n"
            "            - labelSelector: {matchLabels: {region: r0}}\n",
        ),
    )
    repo.commit("base: only region r0")
    repo.edit("clusters/c-0000.yaml", lambda t: t.replace("region: r0", "region: r9"))
    repo.commit("c-0000 moves to region r9")
    doc, code = repo.plan()
    assert code == 2
    assert [(c["cluster"], c["empties"], c["blocking"]) for c in doc["prune"]["clusters"]] == [
        ("c-0000", True, True)
    ]
    assert doc["placements"][0]["dropped"][0]["cluster"] == "c-0000"


def test_many_different_removals_are_listed_within_a_bound_and_point_to_json() -> None:
    base = {
        f"c-{i:04d}": {f"o-{j}" for j in range(i + 2)} for i in range(MAX_OBJECTS + 5)
    }  # all counts differ
    checks = prune_checks(base, {}, set(base), 0.5, ())
    lines = _prune_lines(checks)
    assert len(lines) == MAX_OBJECTS + 1
    assert lines[-1] == "- ... and 5 more cluster(s): `fleetsync plan -o json`"


def test_a_leave_confirms_its_clusters_emptying_and_keep_resources_is_not_counted(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.edit(
        "clusters/c-0000.yaml",
        lambda t: t.replace("  labels:", "  annotations: {fleetsync.io/leave: 'true'}\n  labels:"),
    )
    repo.edit(
        "clusters/c-0001.yaml",
        lambda t: t.replace("  labels:", "  annotations: {fleetsync.io/leave: keep-resources}\n  labels:"),
    )
    repo.commit("c-0000 leaves the fleet, c-0001 leaves keeping its objects")  # no trailer
    doc, _ = repo.plan()
    assert [(c["cluster"], c["empties"], c["blocking"]) for c in doc["prune"]["clusters"]] == [
        ("c-0000", True, False)
    ]
