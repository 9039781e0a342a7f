"""deploy/: every Kustomize base and overlay renders, is valid Kubernetes, and says what users rely on.

Each kustomization is rendered by the real ``kubectl kustomize``; every rendered object is
checked against the Kubernetes v1.36 OpenAPI schema in its strict form (kubernetes-validate ships
the schemas, so this runs offline) and then sent to kubesim as a server-side apply dry run
(``kubectl apply --server-side --dry-run=server``: ``PATCH ?dryRun=All``), which stores nothing.
The rest are the promises the manifests make to whoever deploys them: restricted Pod Security,
flags the CLI really has, Git credentials only by reference to a Secret and only through the
CLI's own settings, selectors that match, an agent that the namespaced overlay really confines,
and two hub replicas that elect a leader with no Kubernetes right beyond their one Lease.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped,unused-ignore]
import pytest
import typer.main
import yaml  # type: ignore[import-untyped]
from typer.core import TyperGroup

from fleetsync.cli import app
from fleetsync.cli.gitauth import git_credentials
from fleetsync_contract.gitauth import GitCredentials
from kubesim.server import KubeSim
from kubesim.testing import running_sim
from tests.support import REPO_ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None or shutil.which("openssl") is None,
    reason="needs kubectl (kustomize, apply), and openssl for the TLS that kubectl's token auth requires",
)

Obj = dict[str, Any]
DEPLOY = REPO_ROOT / "deploy"
KUBERNETES = "1.36"  # the version kubesim is held to (tests/data/kube-golden) and the image's kubectl
BASES = ["hub", "agent"]
OVERLAYS = ["overlays/hub-github", "overlays/agent-github", "overlays/agent-namespaced"]
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*", "bind", "escalate"}
SECRET = "fleetsync-git"
GIT_MOUNT = "/etc/fleetsync/git"


def kustomizations() -> list[str]:
    """Every directory under deploy/ that kubectl can render (Components only inside an overlay)."""
    out = []
    for path in sorted(DEPLOY.rglob("kustomization.yaml")):
        if yaml.safe_load(path.read_text()).get("kind", "Kustomization") == "Kustomization":
            out.append(path.parent.relative_to(DEPLOY).as_posix())
    return out


ALL = kustomizations()


@functools.cache
def _rendered(rel: str) -> str:
    run = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / rel)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"kubectl kustomize deploy/{rel}:\n{run.stderr}"
    return run.stdout


def render(rel: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(_rendered(rel)) if d]


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def container(deployment: Obj) -> Obj:
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(c, dict)
    return c


def is_hub(rel: str) -> bool:
    return rel == "hub" or rel.startswith("overlays/hub-")


def test_the_bases_and_overlays_the_readme_names_are_all_rendered_here() -> None:
    assert set(BASES + OVERLAYS) <= set(ALL)
    readme = (REPO_ROOT / "README.md").read_text()
    assert all(f"`deploy/{rel}`" in readme for rel in OVERLAYS)


@pytest.mark.parametrize("rel", ALL)
def test_kubectl_kustomize_renders_it(rel: str) -> None:
    objs = render(rel)
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "ServiceAccount", "PodDisruptionBudget", "ConfigMap"} <= kinds
    assert ("Service" in kinds) == is_hub(rel)  # the hub's webhook; nothing connects to an agent
    assert "Secret" not in kinds, "credentials are a Secret the user creates, never a committed one"
    assert all(o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "fleetsync" for o in objs)


@pytest.mark.parametrize("rel", ALL)
def test_every_rendered_object_validates_against_the_kubernetes_schema(rel: str) -> None:
    for obj in render(rel):
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_the_schema_check_catches_a_misspelled_field() -> None:
    [deployment] = of_kind(render("hub"), "Deployment")
    container(deployment)["securityContext"]["readOnlyRootFileSystem"] = True  # a capital S too many
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeSim, Path]]:
    """kubesim with the namespaces the README tells users to create first."""
    with running_sim(controllers="instant") as sim:
        for ns in ("fleetsync-system", "team-web", "team-checkout"):
            sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, manager="setup")
        kubeconfig = tmp_path_factory.mktemp("kube") / "kubeconfig"
        sim.write_kubeconfig(kubeconfig)
        yield sim, kubeconfig


def dry_run(kubeconfig: Path, manifests: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--dry-run=server",
            "--field-manager=fleetsync-deploy-test",
            "-f",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )


@pytest.mark.parametrize("rel", ALL)
def test_kubesim_accepts_every_object_in_a_server_side_apply_dry_run(
    rel: str, cluster: tuple[KubeSim, Path]
) -> None:
    sim, kubeconfig = cluster
    run = dry_run(kubeconfig, _rendered(rel))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(render(rel))
    assert all(line.endswith(" serverside-applied (server dry run)") for line in lines), run.stdout
    [deployment] = of_kind(render(rel), "Deployment")
    assert sim.get_object("apps/v1", "Deployment", "fleetsync-system", deployment["metadata"]["name"]) is None


def test_the_dry_run_refuses_a_mistyped_field(cluster: tuple[KubeSim, Path]) -> None:
    _, kubeconfig = cluster
    objs = render("hub")
    of_kind(objs, "Deployment")[0]["spec"]["replicaz"] = 2
    run = dry_run(kubeconfig, yaml.safe_dump_all(objs))
    assert run.returncode != 0 and "replicaz" in run.stderr


@pytest.mark.parametrize("rel", ALL)
def test_pods_meet_the_restricted_pod_security_standard_on_a_read_only_root(rel: str) -> None:
    [deployment] = of_kind(render(rel), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532  # the image's USER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(deployment)
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for writable in ("/tmp", "/home/fleetsync"):  # TMPDIR and HOME of the image
        assert "emptyDir" in volumes[mounts[writable]], writable
    assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize("rel", ALL)
def test_an_agent_is_a_single_writer_and_hubs_are_two_leader_elected_replicas(rel: str) -> None:
    [deployment] = of_kind(render(rel), "Deployment")
    spec, args = deployment["spec"], container(deployment)["args"]
    if not is_hub(rel):  # the only writer of its report branch: never two at once
        assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
        assert "--leader-elect" not in args
        return
    assert spec["replicas"] == 2 and "--leader-elect" in args
    # the new pod (a standby, ready at once) starts before an old one stops: never zero hubs
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def lease_name(deployment: Obj) -> str:
    [name] = [
        a.split("=", 1)[1] for a in container(deployment)["args"] if a.startswith("--leader-elect-name=")
    ]
    return str(name)


@pytest.mark.parametrize("rel", [r for r in ALL if is_hub(r)])
def test_the_hub_elects_with_its_pod_name_in_its_own_namespace_with_a_mounted_token(rel: str) -> None:
    [deployment] = of_kind(render(rel), "Deployment")
    c, pod = container(deployment), deployment["spec"]["template"]["spec"]
    assert "--leader-elect-namespace=$(POD_NAMESPACE)" in c["args"]
    env = {e["name"]: e.get("valueFrom") for e in c["env"]}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}  # the holder identity
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert pod["automountServiceAccountToken"] is True  # in-cluster config for the Lease
    assert lease_name(deployment) == "fleetsync-hub-leader"  # not a name kustomize rewrites


def _hub_rules(objs: list[Obj]) -> list[tuple[Obj, Obj]]:
    """(binding, role) for every binding whose subject is the hub's ServiceAccount."""
    found = []
    for binding_kind, role_kind in (("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")):
        roles = {(r["metadata"].get("namespace"), r["metadata"]["name"]): r for r in of_kind(objs, role_kind)}
        for b in of_kind(objs, binding_kind):
            subject = {"kind": "ServiceAccount", "name": "fleetsync-hub", "namespace": "fleetsync-system"}
            if subject in b["subjects"]:
                ns = b["metadata"].get("namespace") if role_kind == "Role" else None
                found.append((b, roles[(ns, b["roleRef"]["name"])]))
    return found


@pytest.mark.parametrize("rel", [r for r in ALL if is_hub(r)])
def test_the_hubs_only_rights_are_its_one_lease_in_its_own_namespace(rel: str) -> None:
    objs = render(rel)
    [deployment] = of_kind(objs, "Deployment")
    [(binding, role)] = _hub_rules(objs)
    assert binding["kind"] == "RoleBinding" and role["kind"] == "Role"  # nothing cluster-wide
    assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"] == "fleetsync-system"
    lease = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"]}
    # get/update by name; create cannot be limited by name in RBAC, so it is a rule of its own;
    # no list, watch, patch, delete, and nothing but leases
    assert role["rules"] == [
        {**lease, "resourceNames": [lease_name(deployment)], "verbs": ["get", "update"]},
        {**lease, "verbs": ["create"]},
    ]


@pytest.mark.parametrize("rel", ALL)
def test_every_deployment_probes_healthz_and_readyz_on_the_port_it_serves(rel: str) -> None:
    c = container(of_kind(render(rel), "Deployment")[0])
    assert [p["name"] for p in c["ports"]] == ["http"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    served = [a.removeprefix("--http-address=") for a in c["args"] if a.startswith("--http-address=")]
    assert served == [f":{c['ports'][0]['containerPort']}"]  # all addresses of the pod, that port


def test_the_github_hub_verifies_its_webhook_with_the_mounted_secret() -> None:
    deployment = of_kind(render("overlays/hub-github"), "Deployment")[0]
    c = container(deployment)
    assert "--webhook-secret-file=/etc/fleetsync/webhook/secret" in c["args"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "webhook-secret")
    assert mount["mountPath"] == "/etc/fleetsync/webhook" and mount["readOnly"] is True
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "webhook-secret"
    )
    assert volume["secret"]["secretName"] == "fleetsync-webhook"


def _options(command: Any) -> set[str]:  # typer's (vendored) click Command
    return {opt for p in command.params for opt in p.opts}


@pytest.mark.parametrize("rel", ALL)
def test_containers_pass_only_flags_the_cli_has(rel: str) -> None:
    c = container(of_kind(render(rel), "Deployment")[0])
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    args: list[str] = c["args"]
    words = [a for a in args if not a.startswith("-")]
    group = root.commands[words[0]]
    assert isinstance(group, TyperGroup)
    command = group.commands[words[1]]
    split = args.index(words[0])
    assert {a.split("=")[0] for a in args[:split]} <= _options(root)
    flags = {a.split("=")[0] for a in args[split + 2 :]}
    assert flags and flags <= _options(command), flags - _options(command)
    required = {p.opts[0] for p in command.params if p.required}
    assert required <= flags


@pytest.mark.parametrize("rel", ALL)
def test_every_variable_an_arg_uses_is_set_from_the_configmap_or_the_pod(rel: str) -> None:
    objs = render(rel)
    configmaps = {cm["metadata"]["name"]: cm["data"] for cm in of_kind(objs, "ConfigMap")}
    c = container(of_kind(objs, "Deployment")[0])
    env = {e["name"]: e for e in c["env"]}
    for name in re.findall(r"\$\((\w+)\)", " ".join(c["args"])):
        source = env[name]["valueFrom"]
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["key"] in configmaps[ref["name"]], (name, ref)  # the generated, hashed name
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.namespace"}}


@pytest.mark.parametrize("rel", ALL)
def test_git_credentials_are_only_a_reference_to_the_users_secret(rel: str) -> None:
    [deployment] = of_kind(render(rel), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [creds] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == SECRET]
    assert creds["secret"] == {"secretName": SECRET, "optional": True, "defaultMode": 0o440}
    [mount] = [m for m in container(deployment)["volumeMounts"] if m["name"] == creds["name"]]
    assert mount == {"name": creds["name"], "mountPath": GIT_MOUNT, "readOnly": True}


def _run_command(deployment: Obj) -> Any:
    """The click command the container runs (``hub run``, ``agent run``)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    words = [a for a in container(deployment)["args"] if not a.startswith("-")]
    group = root.commands[words[0]]
    assert isinstance(group, TyperGroup)
    return group.commands[words[1]]


@pytest.mark.parametrize("rel", ALL)
def test_git_is_configured_only_through_settings_the_cli_documents(rel: str) -> None:
    """One way: the components set the CLI's FLEETSYNC_GIT_* variables (docs/operations.md "Git
    credentials"), never git's own configuration beside fleetsync's (GIT_CONFIG_*, GIT_SSH_COMMAND)."""
    [deployment] = of_kind(render(rel), "Deployment")
    names = {e["name"] for e in container(deployment).get("env", [])}
    assert not {n for n in names if n.startswith("GIT_")}, names
    envvars = {p.envvar for p in _run_command(deployment).params if isinstance(p.envvar, str)}
    assert {n for n in names if n.startswith("FLEETSYNC_GIT_")} <= envvars


def _cli_credentials(
    deployment: Obj, secret: dict[str, str], mount: Path, monkeypatch: pytest.MonkeyPatch
) -> GitCredentials:
    """What the container's command makes of its environment, as the kubelet would give it: the
    Secret's keys as files in ``mount`` (standing for GIT_MOUNT) and as secretKeyRef values."""
    for key, text in secret.items():
        (mount / key).write_text(text)
    for name in [n for n in os.environ if n.startswith("FLEETSYNC_")]:
        monkeypatch.delenv(name)
    for e in container(deployment)["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None and ref["name"] == SECRET and ref["key"] in secret:
            monkeypatch.setenv(e["name"], secret[ref["key"]])
        elif "value" in e and e["name"].startswith("FLEETSYNC_GIT_"):
            monkeypatch.setenv(e["name"], e["value"].replace(GIT_MOUNT, str(mount)))
    command = _run_command(deployment)
    required = ["--repo", "https://git.example.com/fleet.git", "--cluster", "c1"]
    args = required if "--cluster" in _options(command) else required[:2]
    p = command.make_context(command.name, args).params
    return git_credentials(
        p["git_token_file"], p["git_username"], p["git_ssh_key_file"], p["git_known_hosts_file"]
    )


@pytest.mark.parametrize("rel", ["overlays/hub-github", "overlays/agent-github"])
def test_the_https_component_hands_git_the_token_of_the_mounted_secret(
    rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [deployment] = of_kind(render(rel), "Deployment")
    secret = {"token": "ghp_not-a-real-token\n", "username": "oauth2"}
    creds = _cli_credentials(deployment, secret, tmp_path, monkeypatch)
    assert creds.token_file == tmp_path / "token" and creds.login == "oauth2"
    fill = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.com\n\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            **creds.env(),
        },
    )
    assert fill.returncode == 0, fill.stderr
    assert "username=oauth2\npassword=ghp_not-a-real-token\n" in fill.stdout
    assert "ghp_" not in repr(creds) and all("ghp_" not in v for v in creds.env().values())
    (tmp_path / "username").unlink()  # the username is optional: git gets the default user
    assert _cli_credentials(deployment, {"token": "t0ken"}, tmp_path, monkeypatch).login == "x-access-token"


def test_the_ssh_component_gives_the_cli_the_key_and_pins_the_host_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [deployment] = of_kind(render("overlays/agent-namespaced"), "Deployment")
    secret = {
        "ssh-privatekey": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
        "known_hosts": "git.example.com ssh-ed25519 AAAA\n",
    }
    creds = _cli_credentials(deployment, secret, tmp_path, monkeypatch)
    assert (creds.ssh_key_file, creds.known_hosts_file) == (
        tmp_path / "ssh-privatekey",
        tmp_path / "known_hosts",
    )
    command = creds.env()["GIT_SSH_COMMAND"]
    assert f"-i {tmp_path}/ssh-privatekey -o IdentitiesOnly=yes" in command
    assert f"UserKnownHostsFile={tmp_path}/known_hosts" in command and "StrictHostKeyChecking=yes" in command


@pytest.mark.parametrize("rel", ALL)
def test_the_service_and_the_disruption_budget_select_the_pods(rel: str) -> None:
    objs = render(rel)
    [deployment] = of_kind(objs, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [pdb] = of_kind(objs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1  # one at a time: of two hubs one runs; one replica may go
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for service in of_kind(objs, "Service"):
        assert service["spec"]["selector"].items() <= labels.items()
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def _bound_rules(objs: list[Obj], binding_kind: str, role_kind: str) -> Iterator[tuple[Obj, Obj]]:
    """(binding, the role it binds) for each binding whose subject is the agent's ServiceAccount."""
    roles = {(r["metadata"].get("namespace"), r["metadata"]["name"]): r for r in of_kind(objs, role_kind)}
    for b in of_kind(objs, binding_kind):
        if {"kind": "ServiceAccount", "name": "fleetsync-agent", "namespace": "fleetsync-system"} in b[
            "subjects"
        ]:
            ns = b["metadata"].get("namespace") if role_kind == "Role" else None
            yield b, roles[(ns, b["roleRef"]["name"])]


def test_the_agents_inventory_role_is_in_the_namespace_its_inventory_is_written_to() -> None:
    objs = render("agent")
    [deployment] = of_kind(objs, "Deployment")
    assert "--namespace=$(POD_NAMESPACE)" in container(deployment)["args"]
    [role] = [r for _, r in _bound_rules(objs, "RoleBinding", "Role")]
    assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"] == "fleetsync-system"
    assert {"configmaps"} == {res for rule in role["rules"] for res in rule["resources"]}
    assert any(rule.get("resourceNames") == ["fleetsync-inventory"] for rule in role["rules"])


def test_the_base_agent_may_apply_any_kind_cluster_wide() -> None:
    rules = [
        rule
        for _, role in _bound_rules(render("agent"), "ClusterRoleBinding", "ClusterRole")
        for rule in role["rules"]
    ]
    assert any(
        r["apiGroups"] == ["*"]
        and r["resources"] == ["*"]
        and {"create", "patch", "delete"} <= set(r["verbs"])
        for r in rules
    )


def test_the_namespaced_agent_writes_only_in_its_listed_namespaces() -> None:
    objs = render("overlays/agent-namespaced")
    for _, role in _bound_rules(objs, "ClusterRoleBinding", "ClusterRole"):
        for rule in role["rules"]:
            writes = set(rule["verbs"]) & WRITE_VERBS
            assert not writes or (rule.get("resourceNames") and rule["resources"] == ["namespaces"]), rule
    assert not [r for r in of_kind(objs, "ClusterRole") if r["metadata"]["name"] == "fleetsync-agent-apply"]
    writable = {
        role["metadata"]["namespace"]
        for _, role in _bound_rules(objs, "RoleBinding", "Role")
        if any(r["resources"] == ["*"] for r in role["rules"])
    }
    assert writable == {"team-web", "team-checkout"}
    named = {
        n
        for _, role in _bound_rules(objs, "ClusterRoleBinding", "ClusterRole")
        for r in role["rules"]
        for n in r.get("resourceNames", [])
    }
    assert writable | {"fleetsync-system"} == named  # it may patch those Namespace objects, and its own


@pytest.mark.parametrize("rel", BASES)
def test_the_bases_run_the_release_the_template_ci_pins(rel: str) -> None:
    """One release everywhere: the hub and the agents run the image of the release whose rules the
    fleet repo's CI checks pull requests with (docs/releasing.md)."""
    workflow = yaml.safe_load(
        (REPO_ROOT / "fleet-repo-template/.github/workflows/fleetsync.yaml").read_text()
    )
    pin = workflow["jobs"]["validate-and-plan"]["env"]["FLEETSYNC_VERSION"]
    [deployment] = of_kind(render(rel), "Deployment")
    assert container(deployment)["image"] == f"fleetsync:{pin}"
