"""``fleetsync secret encrypt``: recipients from the repo's MemberClusters, never a value printed."""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from fleetsync_contract import sops
from fleetsync_contract.canonical import load

KEYS = {name: pyrage.x25519.Identity.generate() for name in ("eu-1", "eu-2", "us-1")}
REGIONS = {"eu-1": "europe", "eu-2": "europe", "us-1": "america"}
PLAINTEXT = "cli-plaintext-5b7e"
SECRET = f"""apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: web
type: Opaque
stringData:
  password: {PLAINTEXT}
"""


def member(name: str, annotated: bool = True) -> str:
    annotation = (
        f"  annotations:\n    fleetsync.io/age-recipient: {KEYS[name].to_public()}\n" if annotated else ""
    )
    return f"""apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{region: {REGIONS[name]}}}
{annotation}"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    (root / "clusters").mkdir(parents=True)
    for name in KEYS:
        (root / "clusters" / f"{name}.yaml").write_text(member(name))
    (root / "secret.yaml").write_text(SECRET)
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["secret", "encrypt", *args])
    return result.exit_code, result.stdout, result.stderr


def test_encrypts_for_the_named_cluster_only_and_prints_no_plaintext(repo: Path) -> None:
    code, out, err = run("--repo", str(repo), "--cluster", "eu-1", str(repo / "secret.yaml"))
    assert code == 0, err
    assert PLAINTEXT not in out + err
    doc = load(out.encode())
    assert sops.recipients(doc) == (str(KEYS["eu-1"].to_public()),)
    assert sops.decrypt(doc, [KEYS["eu-1"]])["stringData"] == {"password": PLAINTEXT}
    with pytest.raises(sops.SopsError):
        sops.decrypt(doc, [KEYS["eu-2"]])
    assert "encrypted" in err and "eu-1" in err


def test_a_selector_chooses_every_matching_cluster_and_in_place_replaces_the_file(repo: Path) -> None:
    code, _, err = run("--repo", str(repo), "--selector", "region=europe", "-i", str(repo / "secret.yaml"))
    assert code == 0, err
    doc = load((repo / "secret.yaml").read_bytes())
    assert sorted(sops.recipients(doc)) == sorted(str(KEYS[c].to_public()) for c in ("eu-1", "eu-2"))
    assert PLAINTEXT not in (repo / "secret.yaml").read_text()
    code, _, err = run("--repo", str(repo), "--cluster", "us-1", "-i", str(repo / "secret.yaml"))
    assert code == 2 and "already SOPS-encrypted" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "nowhere"], "no MemberCluster named nowhere"),
        (["--selector", "region=mars"], "no cluster chosen"),
        (["--selector", "region!=mars"], "is not key=value or key"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(repo: Path, args: list[str], message: str) -> None:
    code, out, err = run("--repo", str(repo), *args, str(repo / "secret.yaml"))
    assert code == 2 and message in err and out == ""


def test_a_cluster_without_a_recipient_annotation_is_named_with_the_fix(repo: Path) -> None:
    (repo / "clusters" / "us-1.yaml").write_text(member("us-1", annotated=False))
    code, _, err = run("--repo", str(repo), "--cluster", "us-1", str(repo / "secret.yaml"))
    assert code == 2
    assert "MemberCluster us-1 declares no age recipient" in err and "fleetsync.io/age-recipient" in err
