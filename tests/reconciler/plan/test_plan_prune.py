"""``fleetsync plan``'s prune check: emptying a cluster blocks the merge; large removals warn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reconciler.plan.markdown import MAX_OBJECTS, _prune_lines
from reconciler.plan.prune import APPROVE_PRUNE_LABEL, prune_checks

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


def drop_configmaps(repo: Any, names: tuple[str, ...]) -> None:
    docs = repo.path.joinpath("apps/app.yaml").read_text().split("---\n")
    kept = [d for d in docs if not any(f"name: {n}\n" in d for n in names)]
    repo.write("apps/app.yaml", "---\n".join(kept))
    repo.commit("remove " + ", ".join(names))


def test_deleting_the_only_placement_empties_every_cluster_and_blocks_without_the_label(
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
    md, _, _ = repo.plan_text()
    assert "#### Prune refused: a cluster would be emptied" in md
    assert (
        f"- c-0000, c-0001, c-0002: removes all 4 object(s): the cluster is left with none; add the label "
        f"{APPROVE_PRUNE_LABEL} to the pull request if this is intended"
    ) in md


def test_the_approve_prune_label_lets_an_intended_emptying_pass_and_says_so(
    make_fleet: Callable[[int], Any],
) -> None:
    repo = fleet(make_fleet)
    repo.remove("placements/app.yaml")
    repo.commit("delete the placement")
    doc, code = repo.plan(labels=(APPROVE_PRUNE_LABEL,))
    assert code == 1
    assert [c["blocking"] for c in doc["prune"]["clusters"]] == [False, False, False]
    md, _, _ = repo.plan_text(labels=(APPROVE_PRUNE_LABEL,))
    assert "Prune refused" not in md
    assert (
        f"removes all 4 object(s): the cluster is left with none; approved by the label {APPROVE_PRUNE_LABEL}"
        in md
    )


@pytest.mark.parametrize(
    ("settings", "removed", "warned"),
    [
        ("", ("settings", "extra-0", "extra-1"), True),  # 3 of 4 > 50%
        ("", ("extra-0", "extra-1"), False),  # 2 of 4 is the share, not more
        ("pruneMaxShare: 0.25\n", ("extra-0", "extra-1"), True),  # the repo's own share
        ("pruneMaxShare: 0.25\n", ("extra-0",), False),
    ],
    ids=["more-than-default-share", "exactly-the-share", "repo-share-lower", "within-repo-share"],
)
def test_removing_more_than_the_prune_share_warns_loudly_but_does_not_block(
    make_fleet: Callable[[int], Any], settings: str, removed: tuple[str, ...], warned: bool
) -> None:
    repo = fleet(make_fleet, settings=settings)
    drop_configmaps(repo, removed)
    doc, code = repo.plan()
    assert code == 1, doc["validation"]
    assert doc["summary"]["removed"] == 3 * len(removed)
    checks = doc["prune"]["clusters"]
    md, _, _ = repo.plan_text()
    if not warned:
        assert checks == [] and "WARNING" not in md
        return
    assert [(c["cluster"], c["removed"], c["after"], c["blocking"]) for c in checks] == [
        (f"c-{i:04d}", len(removed), 4 - len(removed), False) for i in range(3)
    ]
    share = "25%" if settings else "50%"
    assert f"#### WARNING: large removals (more than {share} of a cluster's objects)" in md
    assert (
        f"- c-0000, c-0001, c-0002: removes {len(removed)} of 4 object(s) (more than {share}); "
        f"{4 - len(removed)} remain" in md
    )


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
