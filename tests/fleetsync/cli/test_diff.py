"""``fleetsync diff`` offline: a bundle from disk against ``kubectl get -o yaml`` output.

Each state of the vocabulary, the agent's partial and full comparisons, a Secret whose values
never reach any output, and the exit codes of ``kubectl diff`` (0 none, 1 differences, 2 usage).
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from typer.testing import CliRunner

from agent.apply.inventory import Inventory, InventoryEntry
from agent.apply.kube import KindRef
from agent.apply.takeover import stamped
from agent.errors import AgentError, Forbidden
from fleetsync.cli import app, diffsources, livediff
from fleetsync_contract.bundle import (
    BundleObject,
    BundlePlacement,
    build_bundle,
    manifest_identity,
    parse_bundle,
)
from tests.support.agentfixtures import Hub

CLUSTER = "member-1"
WEB = BundlePlacement("ClusterResourcePlacement", "", "web", 1, {}, 60)
FULL = BundlePlacement("ClusterResourcePlacement", "", "full", 1, {"comparisonOption": "FullComparison"}, 60)


def deployment(name: str = "web", replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def config_map(name: str = "settings", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": data or {"mode": "fast"},
    }


def secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def as_live(manifest: Mapping[str, Any], placement: BundlePlacement = WEB, **changes: Any) -> dict[str, Any]:
    """The object as the API server returns it after the agent applied it: our marks, server
    fields, defaults the server filled in, then ``changes`` (top-level keys) on top."""
    out = stamped(manifest, CLUSTER, placement.key, "b" * 64)
    out["metadata"].update(
        {"uid": "u-1", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 3}
    )
    out["metadata"]["managedFields"] = [{"manager": "fleetsync", "operation": "Apply"}]
    if out["kind"] == "Deployment":
        out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
        out["spec"]["progressDeadlineSeconds"] = 600
        out["status"] = {"replicas": 3}
    out.update(copy.deepcopy(changes))
    return out


def write_bundle(root: Path, objects: Sequence[tuple[BundlePlacement, Mapping[str, Any]]]) -> Path:
    placements = {p.key: p for p, _ in objects} or {WEB.key: WEB}
    files = build_bundle(
        CLUSTER,
        "c" * 40,
        list(placements.values()),
        [BundleObject(p.key, manifest_identity(m), manifest=m) for p, m in objects],
    )
    out = root / "bundle"
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out


def write_live(root: Path, objects: Sequence[Mapping[str, Any]], *, as_list: bool = True) -> Path:
    path = root / "live.yaml"
    if as_list:
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
    else:
        path.write_text(yaml.safe_dump_all(list(objects)))
    return path


def run(bundle: Path, live: Path, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["diff", "--cluster", CLUSTER, "--bundle-dir", str(bundle), "--live", str(live), *args]
    )


def objects_of(result: Any) -> dict[str, dict[str, Any]]:
    doc = json.loads(result.stdout)
    return {o["identity"]: o for o in doc["objects"]}


def test_an_applied_object_with_only_server_fields_and_defaults_is_in_sync_exit_0(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    live = write_live(tmp_path, [as_live(deployment())])

    text = run(bundle, live)
    js = run(bundle, live, "-o", "json")

    assert text.exit_code == 0, text.output
    assert text.stdout == ""
    assert js.exit_code == 0
    [obj] = objects_of(js).values()
    assert obj["state"] == "in-sync"
    assert obj["placement"] == "ClusterResourcePlacement/web"
    assert obj["identity"] == "apps/Deployment/shop/web"
    assert obj["differences"] == []


def test_a_changed_field_is_drifted_with_its_path_and_a_kubectl_style_diff_exit_1(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment(replicas=3))])
    scaled = as_live(deployment(replicas=3))
    scaled["spec"]["replicas"] = 5
    live = write_live(tmp_path, [scaled])

    text = run(bundle, live)
    js = run(bundle, live, "-o", "json")

    assert text.exit_code == 1, text.output
    assert "--- live/apps.v1.Deployment.shop.web" in text.stdout
    assert "+++ bundle/apps.v1.Deployment.shop.web" in text.stdout
    assert "-  replicas: 5\n" in text.stdout
    assert "+  replicas: 3\n" in text.stdout
    assert "imagePullPolicy" not in "".join(
        line
        for line in text.stdout.splitlines(keepends=True)
        if line[:1] in "+-" and line[:3] not in "---+++"
    )
    obj = objects_of(js)["apps/Deployment/shop/web"]
    assert obj["state"] == "drifted"
    assert obj["differences"] == [{"path": "/spec/replicas", "valueInHub": "3", "valueInMember": "5"}]
    assert js.exit_code == 1


def test_full_comparison_reports_the_fields_the_server_defaulted_as_the_agent_does(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(FULL, deployment())])
    live = write_live(tmp_path, [as_live(deployment(), FULL)])

    result = run(bundle, live, "-o", "json")

    obj = objects_of(result)["apps/Deployment/shop/web"]
    assert obj["state"] == "drifted"
    assert obj["comparison"] == "FullComparison"
    paths = {d["path"] for d in obj["differences"]}
    assert paths == {"/spec/progressDeadlineSeconds", "/spec/template/spec/containers/0/imagePullPolicy"}
    assert result.exit_code == 1


def test_an_object_not_on_the_cluster_is_missing_and_shown_whole(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment()), (WEB, config_map())])
    live = write_live(tmp_path, [as_live(deployment())], as_list=False)

    text = run(bundle, live)
    js = run(bundle, live, "-o", "yaml")

    assert text.exit_code == 1
    assert "+++ bundle/v1.ConfigMap.shop.settings" in text.stdout
    assert "+  mode: fast\n" in text.stdout
    doc = yaml.safe_load(js.stdout)
    states = {o["identity"]: o["state"] for o in doc["objects"]}
    assert states == {"apps/Deployment/shop/web": "in-sync", "/ConfigMap/shop/settings": "missing"}


def test_an_object_the_agent_did_not_place_is_not_owned_even_without_differences(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, config_map())])
    foreign = {**config_map(), "metadata": {"name": "settings", "namespace": "shop", "uid": "u-9"}}
    live = write_live(tmp_path, [foreign])

    result = run(bundle, live, "-o", "json")

    obj = objects_of(result)["/ConfigMap/shop/settings"]
    assert obj["state"] == "not-owned"
    assert obj["ownership"] == "TakeOver"
    assert obj["differences"] == []
    assert result.exit_code == 1


def test_an_owned_object_no_longer_in_the_bundle_is_extra_and_shown_as_removed(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    left_behind = as_live(config_map("old"))
    someone_elses = config_map("theirs")
    live = write_live(tmp_path, [as_live(deployment()), left_behind, someone_elses])

    text = run(bundle, live)
    js = run(bundle, live, "-o", "json")

    assert text.exit_code == 1
    assert "--- live/v1.ConfigMap.shop.old" in text.stdout
    assert "-  mode: fast\n" in text.stdout
    assert "theirs" not in text.stdout
    objs = objects_of(js)
    assert objs["/ConfigMap/shop/old"]["state"] == "extra-owned-not-in-bundle"
    assert objs["/ConfigMap/shop/old"]["placement"] == "ClusterResourcePlacement/web"
    assert "/ConfigMap/shop/theirs" not in objs


def test_a_secret_shows_which_data_key_differs_never_a_value(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, secret(password="hub-s3cret", user="admin"))])
    changed = as_live(secret(password="member-s3cret", user="admin"))
    live = write_live(tmp_path, [changed])

    outputs = [run(bundle, live, "-o", fmt) for fmt in ("diff", "yaml", "json")]

    for result in outputs:
        assert result.exit_code == 1
        for value in ("hub-s3cret", "member-s3cret", "admin"):
            assert value not in result.output
            assert base64.b64encode(value.encode()).decode() not in result.output
    assert '-  password: "*** (before)"\n' in outputs[0].stdout
    assert '+  password: "*** (after)"\n' in outputs[0].stdout
    assert '   user: "***"\n' in outputs[0].stdout
    [obj] = objects_of(outputs[2]).values()
    assert obj["state"] == "drifted"
    assert [d["path"] for d in obj["differences"]] == ["/data/password"]


def test_a_missing_secret_is_shown_with_its_keys_and_masked_values(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, secret(token="t0ps3cret"))])
    live = write_live(tmp_path, [])

    result = run(bundle, live)

    assert result.exit_code == 1
    assert '+  token: "***"\n' in result.stdout
    assert "t0ps3cret" not in result.output
    assert base64.b64encode(b"t0ps3cret").decode() not in result.output


def test_placement_limits_the_diff_to_that_placements_objects(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment()), (FULL, config_map())])
    live = write_live(tmp_path, [as_live(deployment())])

    only_web = run(bundle, live, "--placement", "web", "-o", "json")
    only_full = run(bundle, live, "--placement", "ClusterResourcePlacement/full", "-o", "json")

    assert only_web.exit_code == 0
    assert list(objects_of(only_web)) == ["apps/Deployment/shop/web"]
    assert only_full.exit_code == 1
    assert list(objects_of(only_full)) == ["/ConfigMap/shop/settings"]


@pytest.mark.parametrize(
    "args",
    [
        ["--placement", "nope"],  # no such placement in the bundle
        ["--cluster", "../other"],  # not a cluster name: never reaches a ref
        ["--repo", "/srv/fleet.git"],  # two bundle sources
        ["--kubeconfig", "/dev/null"],  # a cluster and a file
    ],
)
def test_usage_and_config_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    live = write_live(tmp_path, [])

    result = run(bundle, live, *args)

    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr


def test_a_repo_that_git_would_read_as_an_option_is_refused(tmp_path: Path) -> None:
    live = write_live(tmp_path, [])

    result = CliRunner().invoke(
        app, ["diff", "--cluster", CLUSTER, "--repo", "--upload-pack=touch pwned", "--live", str(live)]
    )

    assert result.exit_code == 2, result.output
    assert "never an option" in result.stderr
    assert not (Path.cwd() / "pwned").exists()


def test_a_live_file_that_is_too_large_or_not_kubernetes_yaml_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    live = write_live(tmp_path, [as_live(deployment())])
    monkeypatch.setattr(diffsources, "MAX_LIVE_BYTES", 100)
    too_large = run(bundle, live)
    monkeypatch.undo()
    live.write_text("- just\n- a list\n")
    not_objects = run(bundle, live)
    missing = run(bundle, tmp_path / "nowhere.yaml")

    for result in (too_large, not_objects, missing):
        assert result.exit_code == 2, result.output
    assert "limit of 100 bytes" in too_large.stderr


def test_a_live_file_that_does_not_parse_is_named_by_line_never_by_its_content(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, secret(password="x"))])
    live = tmp_path / "live.yaml"
    live.write_text("kind: Secret\ndata:\n  password: 'hunter2-s3cret\n\tbroken: [\n")

    result = run(bundle, live)

    assert result.exit_code == 2
    assert "line " in result.stderr
    assert "hunter2" not in result.output


def test_the_live_objects_can_come_from_stdin(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [as_live(deployment())]})

    result = CliRunner().invoke(
        app, ["diff", "--cluster", CLUSTER, "--bundle-dir", str(bundle), "--live", "-"], input=text
    )

    assert result.exit_code == 0, result.output


def test_a_bundle_that_does_not_verify_is_refused(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    [manifest] = (bundle / "manifests").rglob("*.yaml")
    manifest.write_text(manifest.read_text().replace("replicas: 3", "replicas: 30"))
    live = write_live(tmp_path, [])

    result = run(bundle, live)

    assert result.exit_code == 2
    assert "verification" in result.stderr


REPORT = BundlePlacement("ClusterResourcePlacement", "", "watch", 1, {"type": "ReportDiff"}, 60)


def test_report_diff_objects_are_never_owned_so_only_their_differences_count(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(REPORT, config_map()), (REPORT, config_map("other"))])
    same = {**config_map(), "metadata": {"name": "settings", "namespace": "shop", "uid": "u-1"}}
    changed = {**config_map("other", mode="slow"), "metadata": {"name": "other", "namespace": "shop"}}
    live = write_live(tmp_path, [same, changed])

    result = run(bundle, live, "-o", "json")

    objs = objects_of(result)
    assert objs["/ConfigMap/shop/settings"]["state"] == "in-sync"
    assert objs["/ConfigMap/shop/other"]["state"] == "drifted"
    assert objs["/ConfigMap/shop/other"]["differences"] == [
        {"path": "/data/mode", "valueInHub": "fast", "valueInMember": "slow"}
    ]
    assert result.exit_code == 1


def test_an_object_opted_out_of_prune_is_kept_by_the_agent_so_it_is_no_extra(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, [(WEB, deployment())])
    kept = as_live(config_map("kept"))
    kept["metadata"]["annotations"]["fleetsync.io/prune"] = "disabled"
    live = write_live(tmp_path, [as_live(deployment()), kept])

    result = run(bundle, live, "-o", "json")

    assert list(objects_of(result)) == ["apps/Deployment/shop/web"]
    assert result.exit_code == 0


class ConfinedKube:
    """A member where listing across namespaces is forbidden (an agent confined to namespaces)."""

    def __init__(self, objects: Sequence[dict[str, Any]]):
        self.objects = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def kind(self, api_version: str, kind: str) -> KindRef:
        return KindRef(api_version, kind, kind.lower() + "s", True)

    def list(self, ref: KindRef, namespace: str = "", label_selector: str | None = None) -> list[Any]:
        raise Forbidden("configmaps is forbidden: cannot list resource at the cluster scope", status=403)

    def get(self, ref: KindRef, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.objects.get((namespace, name))


def test_where_listing_is_forbidden_extra_objects_are_read_from_the_inventory() -> None:
    old = as_live(config_map("old"))
    inventory = Inventory((InventoryEntry("v1", "ConfigMap", "shop", "old", WEB.key),))

    found = diffsources.ClusterLive(ConfinedKube([old])).owned(CLUSTER, inventory, {("v1", "ConfigMap")})

    assert found == [old]


def test_the_bundle_comes_from_the_hub_branch_of_a_repo_given_by_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(tmp_path, CLUSTER)
    commit = hub.publish([(WEB, deployment())])
    live = write_live(tmp_path, [as_live(deployment())])
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        app, ["diff", "--cluster", CLUSTER, "--repo", "fleet.git", "--live", str(live), "-o", "json"]
    )
    other = CliRunner().invoke(
        app, ["diff", "--cluster", "member-2", "--repo", "fleet.git", "--live", str(live)]
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bundleCommit"] == commit
    assert other.exit_code == 2
    assert "no branch fleet/bundles/member-2" in other.stderr


def test_a_resource_placement_is_chosen_by_its_key_or_namespace_and_name(tmp_path: Path) -> None:
    rp = BundlePlacement("ResourcePlacement", "shop", "web", 1, {}, 60)
    bundle = write_bundle(tmp_path, [(rp, config_map()), (WEB, deployment())])
    live = write_live(tmp_path, [as_live(config_map(), rp), as_live(deployment())])

    by_key = run(bundle, live, "--placement", "ResourcePlacement/shop/web", "-o", "json")
    by_name = run(bundle, live, "--placement", "shop/web", "-o", "json")

    ambiguous = run(bundle, live, "--placement", "web")

    assert by_key.exit_code == by_name.exit_code == 0, by_key.output
    assert list(objects_of(by_key)) == list(objects_of(by_name)) == ["/ConfigMap/shop/settings"]
    assert ambiguous.exit_code == 2
    assert "names several placements" in ambiguous.stderr


class RefusingLive(diffsources.FileLive):
    """A cluster whose every dry run is refused, echoing the body as some webhooks do."""

    def dry_run(self, body: dict[str, Any]) -> dict[str, Any]:
        raise Forbidden(f"denied by webhook: {json.dumps(body)}", status=403, reason="Forbidden")


def test_a_server_error_names_the_object_and_for_a_secret_only_its_status(tmp_path: Path) -> None:
    bundle_dir = write_bundle(tmp_path, [(WEB, secret(password="t0ps3cret"))])
    files = {
        p.relative_to(bundle_dir).as_posix(): p.read_bytes() for p in bundle_dir.rglob("*") if p.is_file()
    }
    bundle = parse_bundle(files)
    target = RefusingLive([as_live(secret(password="other"))])

    with pytest.raises(AgentError) as refused:
        livediff.diff_bundle(
            bundle, livediff.works_of(bundle, files, None), target, CLUSTER, None, Inventory()
        )

    assert str(refused.value) == "/Secret/shop/db: Forbidden (Secret message withheld)"


def test_the_cli_loads_the_agent_and_its_kubernetes_client_only_when_diff_runs() -> None:
    code = "import sys, fleetsync.cli; print(sorted(m for m in ('kubernetes', 'agent') if m in sys.modules))"

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"
