"""kubectl kustomize, confined: paths checked by us before the real binary runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.load.kustomize import check_kustomization, render


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_render_returns_kubectl_kustomize_output(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/kustomization.yaml": "namespace: x\nresources: [cm.yaml]\n",
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        },
    )
    result = render(tmp_path, tmp_path / "app")
    assert result.findings == ()
    assert result.text is not None and "namespace: x" in result.text


@pytest.mark.parametrize(
    ("kustomization", "line", "field", "message"),
    [
        ("resources:\n  - ../../etc\n", 2, "resources[0]", "leaves the repo"),
        ("resources:\n  - /etc/passwd\n", 2, "resources[0]", "relative"),
        ("bases:\n  - github.com/org/repo//base?ref=v1\n", 2, "bases[0]", "remote"),
        ("components:\n  - https://example.com/c\n", 2, "components[0]", "remote"),
        ("patches:\n  - path: ../../p.yaml\n", 2, "patches[0].path", "leaves the repo"),
        ("patchesStrategicMerge:\n  - ../../p.yaml\n", 2, "patchesStrategicMerge[0]", "leaves the repo"),
        (
            "configMapGenerator:\n  - name: c\n    files: [key=../../../etc/passwd]\n",
            3,
            "configMapGenerator[0].files[0]",
            "leaves the repo",
        ),
        (
            "secretGenerator:\n  - name: s\n    envs: [../../.env]\n",
            3,
            "secretGenerator[0].envs[0]",
            "leaves the repo",
        ),
        ("helmCharts:\n  - name: x\n", 1, "helmCharts", "Helm"),
        ("transformers:\n  - https://example.com/t.yaml\n", 2, "transformers[0]", "remote"),
        ("configurations:\n  - ../../c.yaml\n", 2, "configurations[0]", "leaves the repo"),
    ],
)
def test_paths_that_leave_the_repo_or_the_machine_are_refused_before_running(
    tmp_path: Path, kustomization: str, line: int, field: str, message: str
) -> None:
    repo = tmp_path / "repo"
    _write(repo, {"app/kustomization.yaml": kustomization})
    result = render(repo, repo / "app", kubectl="/nonexistent/kubectl-must-not-run")
    assert result.text is None
    [finding] = result.findings
    assert (finding.file, finding.line, finding.field) == ("app/kustomization.yaml", line, field)
    assert message in finding.message


def test_an_included_kustomization_is_checked_too(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(
        repo,
        {
            "base/kustomization.yaml": "resources:\n  - ../../outside\n",
            "prod/kustomization.yaml": "resources: [../base]\n",
        },
    )
    [finding] = check_kustomization(repo, repo / "prod")
    assert (finding.file, finding.field) == ("base/kustomization.yaml", "resources[0]")


def test_a_symlink_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n")
    repo = tmp_path / "repo"
    _write(repo, {"app/kustomization.yaml": "resources: [cm.yaml]\n"})
    (repo / "app" / "cm.yaml").symlink_to(tmp_path / "secret.yaml")
    [finding] = check_kustomization(repo, repo / "app")
    assert "leaves the repo" in finding.message


def test_kustomize_failures_and_oversized_output_are_findings(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/kustomization.yaml": "resources: [missing.yaml]\n",
            "ok/kustomization.yaml": "resources: [cm.yaml]\n",
            "ok/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        },
    )
    [failed] = render(tmp_path, tmp_path / "app").findings
    assert "kubectl kustomize failed" in failed.message
    [big] = render(tmp_path, tmp_path / "ok", max_bytes=10).findings
    assert "more than 10 bytes" in big.message


def test_a_hanging_kustomize_is_killed_at_the_timeout(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    _write(tmp_path, {"repo/app/kustomization.yaml": "resources: []\n"})
    [finding] = render(tmp_path / "repo", tmp_path / "repo" / "app", kubectl=str(fake), timeout=0.2).findings
    assert "longer than 0.2s" in finding.message
