"""``fleetsync drift adopt``: an observed drift becomes a reviewable commit that makes it desired."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.api.membercluster import MEMBER_NAME_LABEL
from reconciler.drift.reports import DriftNotFound
from tests.support.driftfixtures import (
    DEPLOY,
    EXISTING_RO,
    KUSTOMIZATION,
    KUSTOMIZED_CM,
    base_files,
    drift,
    git,
    load_ref,
    make_repo,
    push_report,
    rendered,
)

REPLICAS = ("/spec/replicas", "3", "5")
TIER = ("/metadata/labels/tier", None, "gold")


def adopt(repo: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["drift", "adopt", *args, "--repo", str(repo)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return result.exit_code, str(result.exception)
    return result.exit_code, result.output


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "fleet", base_files())
    push_report(path, "eu-1", [drift(DEPLOY, REPLICAS, TIER)])
    push_report(path, "eu-2", [])
    push_report(path, "us-1", [])
    return path


def test_adopt_as_override_commits_a_resource_override_for_that_cluster_only(
    repo: Path, tmp_path: Path
) -> None:
    head = git(repo, "rev-parse", "HEAD")
    code, out = adopt(repo, "eu-1", DEPLOY)
    assert code == 0, out
    assert (
        "new branch drift/eu-1/frontend" in out
        and "gh pr create --head drift/eu-1/frontend --base main" in out
    )
    # The user's branch, index and work tree are untouched.
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert (
        git(repo, "diff", "--name-only", "main", "drift/eu-1/frontend") == "apps/web/drift-eu-1-frontend.yaml"
    )
    loaded = load_ref(repo, "drift/eu-1/frontend", tmp_path / "after")
    assert loaded.ok, loaded.errors
    ro = loaded.spec.resource_overrides["web/drift-eu-1-frontend"]
    assert [r.matches({MEMBER_NAME_LABEL: c}) for r in ro.rules for c in ("eu-1", "eu-2")] == [True, False]
    assert ro.placement is not None and ro.placement.name == "web"
    eu1, eu2 = rendered(loaded, "eu-1"), rendered(loaded, "eu-2")
    assert eu1["spec"]["replicas"] == 5 and eu1["metadata"]["labels"] == {"app": "frontend", "tier": "gold"}
    assert eu2["spec"]["replicas"] == 3 and eu2["metadata"]["labels"] == {"app": "frontend"}
    body = git(repo, "log", "-1", "--format=%B", "drift/eu-1/frontend")
    assert body.startswith(
        "drift: adopt eu-1 apps/Deployment/web/frontend as ResourceOverride web/drift-eu-1-frontend"
    )
    assert "/spec/replicas: 3 -> 5" in body


def test_adopt_of_a_cluster_scoped_object_writes_a_cluster_resource_override(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fleet", base_files())
    push_report(repo, "us-1", [drift("/Namespace//web", ("/metadata/labels/team", None, "storefront"))])
    code, out = adopt(repo, "us-1", "Namespace/web")
    assert code == 0, out
    loaded = load_ref(repo, "drift/us-1/web", tmp_path / "after")
    assert loaded.ok, loaded.errors
    cro = loaded.spec.cluster_overrides["drift-us-1-web"]
    assert [(s.kind, s.name) for s in cro.selectors] == [("Namespace", "web")]
    labels = {
        c: rendered(loaded, c, "/Namespace//web")["metadata"].get("labels", {}) for c in ("us-1", "eu-1")
    }
    assert labels["us-1"]["team"] == "storefront" and "team" not in labels["eu-1"]


def test_adopt_into_an_existing_override_adds_a_rule_and_keeps_its_file_as_written(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fleet", {**base_files(), "apps/web/pins.yaml": EXISTING_RO})
    push_report(
        repo,
        "eu-1",
        [drift(DEPLOY, ("/spec/template/spec/containers/0/image", "nginx:1.27-prod", "nginx:1.28"))],
    )
    code, out = adopt(repo, "eu-1", "Deployment/web/frontend")
    assert code == 0, out
    assert "ResourceOverride/web/frontend-pins (rule added to apps/web/pins.yaml)" in out
    assert git(repo, "diff", "--name-only", "main", "drift/eu-1/frontend") == "apps/web/pins.yaml"
    new = git(repo, "show", "drift/eu-1/frontend:apps/web/pins.yaml")
    assert new.startswith(EXISTING_RO.rstrip("\n")), "the file's existing text, comments included, is kept"
    loaded = load_ref(repo, "drift/eu-1/frontend", tmp_path / "after")
    assert loaded.ok, loaded.errors
    assert list(loaded.spec.resource_overrides) == ["web/frontend-pins"]
    assert len(loaded.spec.resource_overrides["web/frontend-pins"].rules) == 2
    images = [
        rendered(loaded, c)["spec"]["template"]["spec"]["containers"][0]["image"] for c in ("eu-1", "eu-2")
    ]
    assert images == ["nginx:1.28", "nginx:1.27-prod"]


def test_adopt_as_source_edits_only_the_drifted_line_and_keeps_comments(repo: Path, tmp_path: Path) -> None:
    for c in ("eu-2", "us-1"):  # every cluster the placement picks has the same value
        push_report(repo, c, [drift(DEPLOY, REPLICAS)])
    code, out = adopt(repo, "eu-1", DEPLOY, "--as", "source", "--path", "/spec/replicas")
    assert code == 0, out
    assert "reaches every cluster that has this object: eu-1, eu-2, us-1" in out
    diff = git(repo, "diff", "-U0", "main", "drift/eu-1/frontend")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-  replicas: 3  # sized for the default region",
        "+  replicas: 5  # sized for the default region",
    ]
    loaded = load_ref(repo, "drift/eu-1/frontend", tmp_path / "after")
    assert loaded.ok and rendered(loaded, "us-1")["spec"]["replicas"] == 5


def test_adopt_on_the_current_branch_only_when_branch_names_it(repo: Path) -> None:
    code, out = adopt(repo, "eu-1", DEPLOY, "--branch", "main", "-m", "eu-1 needs more pods")
    assert code == 0, out
    assert "on main" in out
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "apps/web/drift-eu-1-frontend.yaml"
    assert "eu-1 needs more pods" in git(repo, "log", "-1", "--format=%B")
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("drifted", "args", "message"),
    [
        (
            drift(
                "/Secret/web/creds",
                (
                    "/stringData/password",
                    "(redacted for security reasons)",
                    "(redacted for security reasons)",
                ),
            ),
            ("Secret/web/creds",),
            "Secret values are redacted",
        ),
        (drift(DEPLOY, ("/status/replicas", "3", "5")), (DEPLOY,), "cannot override status fields"),
        (
            drift(DEPLOY, ("/metadata/name", "frontend", "front")),
            (DEPLOY,),
            "cannot override metadata fields except annotations and labels",
        ),
        (drift(DEPLOY, ("/spec/replicas", "3", "five")), (DEPLOY,), "the hub's value is an integer"),
        (
            drift(DEPLOY, REPLICAS),
            (DEPLOY, "--as", "source"),
            "would also change it on eu-2, us-1, which do not have these values; adopt --as override",
        ),
        (drift(DEPLOY, REPLICAS), (DEPLOY, "--path", "/spec/paused"), "not among the drifted paths"),
        (drift(DEPLOY, REPLICAS), (DEPLOY, "--as", "both"), "use override or source"),
    ],
    ids=[
        "secret",
        "status",
        "metadata-name",
        "untyped-value",
        "source-reaches-others",
        "unknown-path",
        "bad-mode",
    ],
)
def test_adopt_refuses_with_a_clear_message_and_exit_code_2(
    repo: Path, drifted: object, args: tuple[str, ...], message: str
) -> None:
    push_report(repo, "eu-1", [drifted])  # type: ignore[list-item]
    branches = git(repo, "branch", "--list")
    code, out = adopt(repo, "eu-1", *args)
    assert code == 2, out
    assert message in out
    assert git(repo, "branch", "--list") == branches, "nothing is committed when adoption is refused"


def test_adopt_refuses_to_edit_a_kustomize_rendered_source(tmp_path: Path) -> None:
    files = {
        **base_files(),
        "apps/kust/kustomization.yaml": KUSTOMIZATION,
        "apps/kust/settings.yaml": KUSTOMIZED_CM,
    }
    repo = make_repo(tmp_path / "fleet", files)
    for c in ("eu-1", "eu-2", "us-1"):
        push_report(repo, c, [drift("/ConfigMap/web/settings", ("/data/MODE", "fast", "safe"))])
    code, out = adopt(repo, "eu-1", "ConfigMap/web/settings", "--as", "source")
    assert code == 2, out
    assert "apps/kust/kustomization.yaml renders this object with kustomize" in out
    code, out = adopt(repo, "eu-1", "ConfigMap/web/settings")  # as an override it is fine
    assert code == 0, out


@pytest.mark.parametrize(
    ("cluster", "obj", "expected"),
    [
        ("eu-2", DEPLOY, "no drift of"),
        ("us-9", DEPLOY, "no report branch"),
        ("eu-1", "ConfigMap/web/none", "no drift of"),
    ],
    ids=["no-drift", "no-report", "unknown-object"],
)
def test_adopt_with_nothing_to_adopt_exits_1(repo: Path, cluster: str, obj: str, expected: str) -> None:
    result = CliRunner().invoke(app, ["drift", "adopt", cluster, obj, "--repo", str(repo)])
    assert result.exit_code == 1
    assert isinstance(result.exception, DriftNotFound) and expected in str(result.exception)


def test_adopt_checks_names_before_they_reach_git(repo: Path) -> None:
    branches = git(repo, "branch", "--list")
    for args in (
        ("eu-1", DEPLOY, "--branch=--upload-pack=x"),
        ("eu-1", DEPLOY, "--branch=a..b"),
        ("../eu-1", DEPLOY),
    ):
        code, out = adopt(repo, *args)
        assert code == 2 and "cannot be used in a Git ref name" in out, out
    assert git(repo, "branch", "--list") == branches


def test_adopt_refuses_an_existing_branch(repo: Path) -> None:
    git(repo, "branch", "drift/eu-1/frontend")
    code, out = adopt(repo, "eu-1", DEPLOY)
    assert code == 2 and "already exists" in out


def test_adopt_of_several_new_fields_under_one_missing_parent_keeps_them_all(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fleet", base_files())
    push_report(
        repo,
        "eu-1",
        [drift(DEPLOY, ("/metadata/annotations/a", None, "1"), ("/metadata/annotations/b", None, "2"))],
    )
    code, out = adopt(repo, "eu-1", DEPLOY)
    assert code == 0, out
    assert "add /metadata/annotations\n  add /metadata/annotations/b" in out
    loaded = load_ref(repo, "drift/eu-1/frontend", tmp_path / "after")
    assert rendered(loaded, "eu-1")["metadata"]["annotations"] == {"a": "1", "b": "2"}


def test_adopt_of_a_drift_whose_placement_is_gone_has_nothing_to_adopt(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "fleet", base_files())
    push_report(
        repo,
        "eu-1",
        [drift(DEPLOY, REPLICAS, placement="ClusterResourcePlacement/old")],
        placement="ClusterResourcePlacement/old",
    )
    result = CliRunner().invoke(app, ["drift", "adopt", "eu-1", DEPLOY, "--repo", str(repo)])
    assert result.exit_code == 1
    assert isinstance(result.exception, DriftNotFound) and "the drift is stale" in str(result.exception)
