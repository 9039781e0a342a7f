"""A bundle as the agent reads it: the tree in one batch, each file parsed once, a tampered one refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

import fleetsync_contract.canonical as canonical
from agent.bundles import MemoVerifier
from agent.errors import BundleRefused
from agent.source import GitSource
from fleetsync_contract.bundle import BUNDLE_FILE, BundleObject, build_bundle, manifest_identity
from fleetsync_contract.integrity import BundleFiles
from tests.support.agentfixtures import AgentFactory, Hub, Member, git, placement

CLUSTER = "c1"


def configmap(name: str, value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": value},
    }


def built(*objs: dict[str, Any]) -> dict[str, bytes]:
    p = placement()
    return build_bundle(
        CLUSTER, "0" * 40, [p], [BundleObject(p.key, manifest_identity(o), manifest=o) for o in objs]
    )


def path_of(files: dict[str, bytes], name: str) -> str:
    return next(p for p in files if p.endswith(f"/{name}.yaml"))


def source(hub: Hub, tmp_path: Path) -> GitSource:
    return GitSource(str(hub.bare), CLUSTER, tmp_path / "agent", verify=MemoVerifier(CLUSTER))


def test_a_manifest_whose_bytes_do_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    # The forged manifest still parses and declares the listed identity: only the digest check
    # stands between it and the cluster, also now that the check's parse is handed on.
    hub = Hub(tmp_path, CLUSTER)
    files = built(configmap("a"), configmap("b"))
    path = path_of(files, "b")
    files[path] = files[path].replace(b"k: v", b"k: forged")
    hub.publish([], files=files)
    with source(hub, tmp_path) as s, pytest.raises(BundleRefused, match=f"{path}: content does not match"):
        s.fetch_bundle(None)


def test_the_verified_bundle_hands_on_the_manifests_it_parsed(tmp_path: Path) -> None:
    hub = Hub(tmp_path, CLUSTER)
    files = built(configmap("a"), configmap("b", "w"))
    hub.publish([], files=files)
    with source(hub, tmp_path) as s:
        fetched = s.fetch_bundle(None)
    assert fetched is not None and isinstance(fetched.files, BundleFiles)
    assert fetched.files == files
    assert fetched.files.manifest(path_of(files, "b")) == configmap("b", "w")
    assert [e.identity for e in fetched.files.bundle().files] == [
        "/ConfigMap/default/a",
        "/ConfigMap/default/b",
    ]


def test_a_first_sync_parses_the_index_and_each_manifest_once(
    member: Member, make_agent: AgentFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objs = [configmap(f"{member.prefix}-{i}", str(i)) for i in range(3)]
    hub = Hub(tmp_path, CLUSTER)
    files = built(*objs)
    hub.publish([], files=files)
    parsed: Counter[str] = Counter()
    read, load = canonical._read, yaml.load

    def counted_read(text: str, libyaml: bool) -> Any:
        parsed[text] += 1
        return read(text, libyaml)

    def counted_load(stream: Any, *args: Any, **kwargs: Any) -> Any:
        parsed[stream.decode() if isinstance(stream, bytes) else stream] += 1
        return load(stream, *args, **kwargs)

    monkeypatch.setattr(canonical, "_read", counted_read)
    monkeypatch.setattr(yaml, "load", counted_load)
    summary = make_agent(member, hub).sync()
    assert not summary.errors and len(summary.results) == 3
    assert {p: parsed[files[p].decode()] for p in files} == {p: 1 for p in files}


def test_the_tree_is_read_whole_with_its_paths_and_bytes(tmp_path: Path) -> None:
    hub = Hub(tmp_path, CLUSTER)
    files = {**built(configmap("a")), "notes/ü plain.txt": b"no newline at the end", "empty": b""}
    hub.publish([], files=files)
    with GitSource(str(hub.bare), CLUSTER, tmp_path / "agent") as s:
        fetched = s.fetch_bundle(None)
    assert fetched is not None and dict(fetched.files) == files


def test_a_symlink_in_the_bundle_is_refused(tmp_path: Path) -> None:
    hub = Hub(tmp_path, CLUSTER)
    hub.publish([], files=built(configmap("a")))
    (hub.work / "link").symlink_to(BUNDLE_FILE)
    git(hub.work, "add", "link")
    git(hub.work, "commit", "-qm", "a symlink")
    git(hub.work, "push", "-qf", str(hub.bare), f"HEAD:refs/heads/{hub.branch}")
    with (
        GitSource(str(hub.bare), CLUSTER, tmp_path / "agent") as s,
        pytest.raises(BundleRefused, match="symlink: link"),
    ):
        s.fetch_bundle(None)


def test_a_bundle_over_the_size_bound_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(tmp_path, CLUSTER)
    files = built(configmap("a"), configmap("b"))
    hub.publish([], files=files)
    monkeypatch.setattr("agent.source.MAX_BUNDLE_BYTES", sum(map(len, files.values())) - 1)
    with (
        GitSource(str(hub.bare), CLUSTER, tmp_path / "agent") as s,
        pytest.raises(BundleRefused, match="larger than"),
    ):
        s.fetch_bundle(None)
