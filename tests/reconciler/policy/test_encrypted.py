"""The hub places a SOPS-encrypted Secret only on its recipients and refuses overrides inside it."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
import pytest

from fleetsync_contract import sops
from fleetsync_contract.canonical import dump
from reconciler.gitstore.repo import HubRepo
from reconciler.hub.loop import reconcile_once
from tests.support.fleethelpers import CLUSTERS, FleetWork, base_files
from tests.support.gitdaemon import git

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
STATUS = "refs/heads/fleet/status"
PLAINTEXT = "hub-never-sees-this-9c1"
KEYS = {c: pyrage.x25519.Identity.generate() for c in CLUSTERS}
FIXTURE = Path(__file__).parents[2] / "data" / "sops" / "secret.sops.yaml"


def member(name: str, region: str) -> str:
    return f"""apiVersion: cluster.kubernetes-fleet.io/v1beta1
kind: MemberCluster
metadata:
  name: {name}
  labels: {{region: {region}}}
  annotations:
    fleetsync.io/age-recipient: {KEYS[name].to_public()}
spec:
  heartbeatPeriodSeconds: 60
"""


def encrypted_secret(*clusters: str) -> str:
    plain = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "web"},
        "stringData": {"password": PLAINTEXT},
    }
    return dump(sops.encrypt(plain, [str(KEYS[c].to_public()) for c in clusters])).decode()


def override(path: str, value: str) -> str:
    return f"""apiVersion: placement.kubernetes-fleet.io/v1beta1
kind: ResourceOverride
metadata:
  name: creds
  namespace: web
spec:
  resourceSelectors:
    - group: ""
      version: v1
      kind: Secret
      name: creds
  policy:
    overrideRules:
      - clusterSelector:
          clusterSelectorTerms: []
        jsonPatchOverrides:
          - op: add
            path: {path}
            value: "{value}"
"""


def fleet(tmp_path: Path, **extra: str) -> FleetWork:
    files = base_files()
    files.update({f"clusters/{c}.yaml": member(c, r) for c, r in CLUSTERS.items()})
    files.update(extra)
    work = FleetWork(tmp_path / "fleet")
    work.commit(files)
    for c in CLUSTERS:
        work.beat(c, NOW)
    with HubRepo.local(work.path) as repo:
        reconcile_once(repo, NOW)
    return work


def bundle_files(work: FleetWork, cluster: str) -> dict[str, str]:
    ref = f"refs/heads/fleet/bundles/{cluster}"
    if ref not in work.refs():
        return {}  # held before its first render
    return {n: work.read(ref, n) for n in work.tree(ref)}


def status_text(work: FleetWork) -> str:
    return "\n".join(work.read(STATUS, n) for n in work.tree(STATUS))


def secret_in(work: FleetWork, cluster: str) -> dict[str, Any] | None:
    import yaml  # type: ignore[import-untyped]

    for name, text in bundle_files(work, cluster).items():
        if name.startswith("manifests/") and "kind: Secret" in text:
            doc: dict[str, Any] = yaml.safe_load(text)
            return doc
    return None


def test_an_encrypted_secret_reaches_its_recipients_as_ciphertext_and_no_other_cluster(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.policy.encrypted")
    work = fleet(tmp_path, **{"apps/web/creds.yaml": encrypted_secret("eu-1", "us-1")})
    placed = secret_in(work, "eu-1")
    assert placed is not None and sops.decrypt(placed, [KEYS["eu-1"]])["stringData"] == {
        "password": PLAINTEXT
    }
    assert secret_in(work, "us-1") is not None
    assert secret_in(work, "eu-2") is None and secret_in(work, "us-2") is None
    # the rest of the placement still reaches the clusters that may not read the Secret
    assert any("ConfigMap" in text for text in bundle_files(work, "eu-2").values())
    assert (
        "Secret web/creds is encrypted for 2 age recipient(s) and cluster eu-2 is not one of them"
        in caplog.text
    )
    assert "fleetsync secret encrypt --cluster eu-2" in caplog.text
    everything = git(work.path, "log", "-p", "--all")
    assert PLAINTEXT not in everything and PLAINTEXT not in caplog.text


def test_an_override_that_patches_inside_an_encrypted_value_is_refused(tmp_path: Path) -> None:
    work = fleet(
        tmp_path,
        **{
            "apps/web/creds.yaml": encrypted_secret(*CLUSTERS),
            "apps/web/creds-override.yaml": override(
                "/stringData/password", "plain-for-${MEMBER-CLUSTER-NAME}"
            ),
        },
    )
    assert all(secret_in(work, c) is None for c in CLUSTERS)
    assert "an override patches inside the encrypted values of Secret web/creds" in status_text(work)


def test_an_override_that_changes_a_value_under_the_mac_is_refused(tmp_path: Path) -> None:
    work = fleet(
        tmp_path,
        **{
            "apps/web/creds.yaml": encrypted_secret(*CLUSTERS),
            "apps/web/creds-override.yaml": override("/metadata/labels", "x"),
        },
    )
    assert secret_in(work, "eu-1") is None
    assert "whose SOPS MAC covers every value" in status_text(work)


def test_a_real_sops_file_with_unsorted_keys_is_refused_with_the_fix(tmp_path: Path) -> None:
    text = FIXTURE.read_text().replace("namespace: shop", "namespace: web")  # placed by the web CRP
    # stringData.hosts (a list) is not a valid Secret field value: a schema error would fail the
    # object before the gate (tests/reconciler/load/test_schemas.py), so it goes
    text = re.sub(r"\n    hosts:\n(        - .*\n)+", "\n", text)
    work = fleet(tmp_path, **{"apps/web/creds.yaml": text})
    assert secret_in(work, "eu-1") is None
    assert "keys out of sorted order" in status_text(work)


@pytest.mark.parametrize("annotation", ["", "age1notavalidkey"])
def test_a_cluster_without_a_matching_recipient_never_gets_the_secret(
    tmp_path: Path, annotation: str
) -> None:
    work = fleet(
        tmp_path,
        **{
            "apps/web/creds.yaml": encrypted_secret("eu-1"),
            "clusters/eu-1.yaml": member("eu-1", "europe").replace(str(KEYS["eu-1"].to_public()), annotation),
        },
    )
    assert all(secret_in(work, c) is None for c in CLUSTERS)


def test_the_shipped_policy_warns_on_a_plaintext_secret_and_passes_an_encrypted_one() -> None:
    from reconciler.policy.gate import ClusterInfo, PolicySet, evaluate, library_paths, load_policies
    from reconciler.policy.model import Action

    library = load_policies([], library=library_paths())
    only = PolicySet(
        {"no-plaintext-secrets": library.policies["no-plaintext-secrets"]},
        tuple(b for b in library.bindings if b.policy == "no-plaintext-secrets"),
        library.params,
    )
    plain = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "web"},
        "stringData": {"password": PLAINTEXT},
    }
    [v] = evaluate(only, ClusterInfo("eu-1"), {"/Secret/web/creds": plain})
    assert v.action is Action.WARN and "fleetsync secret encrypt" in v.message
    assert PLAINTEXT not in v.message
    encrypted = sops.encrypt(plain, [str(KEYS["eu-1"].to_public())])
    empty = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e", "namespace": "web"}}
    assert evaluate(only, ClusterInfo("eu-1"), {"/Secret/web/creds": encrypted, "/Secret/web/e": empty}) == []
