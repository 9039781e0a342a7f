"""The optional signing components: the hub gets its key from a Secret, the agent the hub's public
key from a ConfigMap, each as a flag the CLI has and a file at the path the flag names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.deploy.test_manifests import DEPLOY, _options, _run_command, container, of_kind, pytestmark  # noqa: F401
from tests.support.sshkeys import make_key, public_line


def _render_with(tmp_path: Path, base: str, component: str) -> dict[str, Any]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    rel = os.path.relpath(DEPLOY, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{rel}/{base}]\ncomponents: [{rel}/components/{component}]\n"
    )
    run = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    [deployment] = of_kind([d for d in yaml.safe_load_all(run.stdout) if d], "Deployment")
    return deployment


@pytest.mark.parametrize(
    ("base", "component", "flag", "volume"),
    [
        ("hub", "hub-signing", "--signing-key-file", {"secretName": "fleetsync-hub-signing-key"}),
        ("agent", "agent-verify", "--verify-key-file", {"name": "fleetsync-hub-key"}),
    ],
)
def test_a_signing_component_mounts_its_key_where_its_flag_points(
    tmp_path: Path, base: str, component: str, flag: str, volume: dict[str, str]
) -> None:
    deployment = _render_with(tmp_path, base, component)
    c = container(deployment)
    [arg] = [a for a in c["args"] if a.startswith(flag + "=")]
    assert flag in _options(_run_command(deployment))
    path = Path(arg.partition("=")[2])
    [mount] = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == path.parent]
    assert mount["readOnly"] is True
    [vol] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    source = vol.get("secret") or vol.get("configMap")
    assert source is not None and volume.items() <= source.items()


def test_the_files_the_components_name_are_what_the_hub_and_agent_load(tmp_path: Path) -> None:
    from agent.signatures import load_trusted
    from reconciler.gitstore.signing import load_signer

    key = make_key(tmp_path / "mount", "hub-signing")  # as `kubectl create secret --from-file=hub-signing=…`
    assert load_signer(key).fingerprint.startswith("SHA256:")
    assert load_trusted([key.with_name("hub-signing.pub")])
    assert public_line(key).startswith("ssh-ed25519 ")
