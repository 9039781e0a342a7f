"""``fleetsync get drift``: what drifted where, read from the agents' report branches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract.report import REDACTED, DriftType
from reconciler.drift.reports import DriftNotFound
from tests.support.driftfixtures import DEPLOY, T_FIRST, T_LAST, base_files, drift, make_repo, push_report


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "fleet", base_files())
    push_report(
        path,
        "eu-1",
        [
            drift(DEPLOY, ("/spec/replicas", "3", "5"), ("/metadata/labels/tier", None, "gold")),
            drift(
                "/Secret/web/creds", ("/stringData/password", "from-the-vault", "leaked"), kind=DriftType.DIFF
            ),
        ],
    )
    push_report(path, "eu-2", [])
    return path


def get(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["get", "drift", *args, "--repo", str(repo)])
    return result.exit_code, result.output


def test_get_drift_table_shows_each_drifted_path_with_hub_and_member_values(repo: Path) -> None:
    code, out = get(repo)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "CLUSTER",
        "PLACEMENT",
        "OBJECT",
        "TYPE",
        "PATH",
        "HUB",
        "MEMBER",
        "FIRST-OBSERVED",
        "LAST-OBSERVED",
        "GENERATION",
    ]
    rows = [line.split() for line in lines[1:]]
    assert [
        "eu-1",
        "ClusterResourcePlacement/web",
        DEPLOY,
        "Drift",
        "/spec/replicas",
        "3",
        "5",
        T_FIRST,
        T_LAST,
        "7",
    ] in rows
    assert [
        "eu-1",
        "ClusterResourcePlacement/web",
        DEPLOY,
        "Drift",
        "/metadata/labels/tier",
        "<absent>",
        "gold",
        T_FIRST,
        T_LAST,
        "7",
    ] in rows


def test_get_drift_never_shows_secret_data_even_if_a_report_carries_it(repo: Path) -> None:
    code, out = get(repo, "-o", "json")
    assert code == 0
    assert "leaked" not in out and "from-the-vault" not in out
    items = json.loads(out)["items"]
    secret = next(i for i in items if i["identity"] == "/Secret/web/creds")
    assert secret["details"] == [
        {"path": "/stringData/password", "valueInHub": REDACTED, "valueInMember": REDACTED}
    ]
    assert secret["type"] == "Diff"


def test_get_drift_json_lists_items_per_object_for_one_cluster(repo: Path) -> None:
    code, out = get(repo, "eu-1", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["kind"] == "DriftList"
    deploy = next(i for i in doc["items"] if i["identity"] == DEPLOY)
    assert deploy == {
        "cluster": "eu-1",
        "placement": "ClusterResourcePlacement/web",
        "identity": DEPLOY,
        "type": "Drift",
        "firstObservedTime": T_FIRST,
        "observationTime": T_LAST,
        "observedGeneration": 7,
        "details": [
            {"path": "/spec/replicas", "valueInHub": "3", "valueInMember": "5"},
            {"path": "/metadata/labels/tier", "valueInHub": None, "valueInMember": "gold"},
        ],
    }


def test_get_drift_of_a_cluster_without_drift_says_so(repo: Path) -> None:
    assert get(repo, "eu-2") == (0, "No drift found.\n")


def test_get_drift_of_a_cluster_without_report_branch_is_not_found(repo: Path) -> None:
    result = CliRunner().invoke(app, ["get", "drift", "us-9", "--repo", str(repo)])
    assert result.exit_code == 1
    assert isinstance(result.exception, DriftNotFound)
    assert "us-9" in str(result.exception) and "no report branch" in str(result.exception)


def test_get_drift_yaml_round_trips_the_same_items_as_json(repo: Path) -> None:
    from fleetsync_contract.canonical import load

    _, as_json = get(repo, "-o", "json")
    _, as_yaml = get(repo, "-o", "yaml")
    assert load(as_yaml.encode()) == json.loads(as_json)


def test_get_drift_table_escapes_control_characters_from_reports(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fleet", base_files())
    push_report(
        repo, "eu-1", [drift(DEPLOY, ("/spec/template/spec/containers/0/image", "nginx", "\x1b[2Jevil\nx"))]
    )
    code, out = get(repo, "eu-1")
    assert code == 0
    assert "\x1b" not in out and "\\x1b[2Jevil\\nx" in out


def test_drift_list_is_get_drift_and_drift_show_prints_one_object(repo: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["drift", "list", "eu-1", "--repo", str(repo)])
    assert (listed.exit_code, listed.output) == get(repo, "eu-1")
    shown = runner.invoke(
        app, ["drift", "show", "eu-1", "Deployment/web/frontend", "--repo", str(repo), "-o", "json"]
    )
    assert shown.exit_code == 0
    assert json.loads(shown.output)["details"][0] == {
        "path": "/spec/replicas",
        "valueInHub": "3",
        "valueInMember": "5",
    }
    missing = runner.invoke(app, ["drift", "show", "eu-2", "Deployment/web/frontend", "--repo", str(repo)])
    assert missing.exit_code == 1 and isinstance(missing.exception, DriftNotFound)
