"""A long-running hub reuses what earlier passes computed (reconciler/hub/overrides.py
``OverrideMemo``, render.py ``ManifestCache``, inputs.py ``InputMemo.bundles``): it must write
exactly the bytes a fresh hub writes for the same inputs, whatever changed and whoever moved a ref."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from reconciler.api.meta import LabelSelector
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from reconciler.hub.overrides import OverrideMemo, _set_member, apply_prepared, prepare_overrides
from reconciler.hub.session import HubSession
from tests.reconciler.hub.test_overrides import WEB_NS, cro, delete, obj, patch, placement, rule
from tests.support.fleethelpers import CLUSTERS, CRO, FleetWork, base_files, joined_fleet
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def hub_refs(path: Path) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/fleet/")
    return dict(line.split(" ") for line in out.splitlines())


def random_files(rng: random.Random) -> dict[str, str]:
    """The base fleet with a random version, cluster labels and override value."""
    regions = {c: rng.choice(["europe", "america", "asia"]) for c in CLUSTERS}
    files = base_files(version=str(rng.randint(1, 3)), clusters=regions)
    choice = rng.random()
    if choice < 0.25:
        files["apps/web/override.yaml"] = CRO.replace("hello from", "hi from")
    elif choice < 0.4:
        del files["apps/web/override.yaml"]
    if rng.random() < 0.5:
        files["apps/web/extra.yaml"] = (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: web}\n"
            f"data: {{N: '{rng.randint(1, 3)}'}}\n"
        )
    return files


def both(work: FleetWork, copy: Path, now: datetime, session: HubSession) -> None:
    """One pass of the running hub on ``work`` and of a fresh hub on ``copy`` (same inputs)."""
    shutil.copytree(work.path, copy)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, now, session=session)
    with HubRepo.local(copy) as repo:
        reconcile_once(repo, now)
    assert hub_refs(work.path) == hub_refs(copy)  # same commit ids: byte for byte the same


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_running_hub_writes_what_a_fresh_hub_writes_after_random_edits(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    work = joined_fleet(tmp_path / "fleet", NOW)
    session = HubSession()
    both(work, tmp_path / "copy-0", NOW, session)
    now = NOW
    for step in range(1, 5):
        work.commit(random_files(rng), f"edit {step}")
        now += timedelta(seconds=90)  # past unavailablePeriodSeconds: rollouts may go on
        for cluster in CLUSTERS:
            work.beat(cluster, now)
            if rng.random() < 0.8:  # most agents applied their bundle
                work.report(cluster, now)
        both(work, tmp_path / f"copy-{step}", now, session)


def test_a_bundle_branch_moved_under_a_running_hub_is_read_again(tmp_path: Path) -> None:
    work = joined_fleet(tmp_path / "fleet", NOW)
    session = HubSession()
    both(work, tmp_path / "copy-0", NOW, session)
    # someone else commits on eu-1's branch: an index without its files (the memo knows the old tip)
    ref = "refs/heads/fleet/bundles/eu-1"
    tip = hub_refs(work.path)[ref]
    text = git(work.path, "show", f"{ref}:bundle.yaml")
    foreign = text.split("files:")[0] + "files: []\n" + "kind:" + text.split("\nkind:")[1]
    blob = git(work.path, "hash-object", "-w", "--stdin", input=(foreign + "\n").encode())
    tree = git(work.path, "mktree", input=f"100644 blob {blob}\tbundle.yaml\n".encode())
    commit = git(work.path, "commit-tree", tree, "-p", tip, "-m", "foreign")
    git(work.path, "update-ref", ref, commit)
    work.commit(base_files(version="2"), "a change")
    later = NOW + timedelta(seconds=90)
    for cluster in CLUSTERS:
        work.beat(cluster, later)
    both(work, tmp_path / "copy-1", later, session)
    assert hub_refs(work.path)[ref] != commit  # the hub rewrote the foreign bundle


def test_the_override_memo_gives_what_overriding_afresh_gives_and_forgets_unused_entries() -> None:
    objects = [obj("v1", "ConfigMap", f"c{i}", "web", data={"k": str(i)}) for i in range(5)]
    value = "${MEMBER-CLUSTER-NAME}-${MEMBER-CLUSTER-LABEL-KEY-region}"
    gone = (LabelSelector({"region": "z"}),)
    o = cro("all", WEB_NS, rule(patch("/data/k", value)), delete(gone))
    memo = OverrideMemo()
    rng = random.Random(7)
    for _ in range(4):
        memo.begin_pass()
        changed = list(objects)
        changed[rng.randrange(5)] = obj("v1", "ConfigMap", "c1", "web", data={"k": str(rng.random())})
        prepared = prepare_overrides(changed, [o], [], placement())
        for cluster in ("a", "b", "c"):
            labels = {"region": rng.choice(["x", "y", "z"])}
            assert apply_prepared(prepared, cluster, labels, memo) == apply_prepared(
                prepared, cluster, labels
            )
    memo.begin_pass()
    memo.begin_pass()
    assert len(memo) == 0


@pytest.mark.parametrize("seed", range(5))
def test_a_patch_done_directly_gives_what_jsonpatch_gives(seed: int) -> None:
    """overrides.py applies the common add/replace itself: same document, or left to jsonpatch."""
    rng = random.Random(seed)
    paths = ["/a", "/a/b", "/a/b/c", "/l/0", "/l/-", "/m", "/a/x~1y", "", "a/b", "/a/l/0", "/n/b"]
    for _ in range(200):
        doc = {"a": {"b": {"c": 1}, "l": [1]}, "l": [1, 2], "n": None}
        op: dict[str, Any] = {"op": rng.choice(["add", "replace", "remove"]), "path": rng.choice(paths)}
        if op["op"] != "remove":
            op["value"] = rng.choice([1, "v", {"k": [1]}, None])
        expected = json.loads(json.dumps(doc))
        try:
            jsonpatch.apply_patch(expected, [op], in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            expected = None
        if _set_member(doc, op):
            assert doc == expected, op
