"""Plain Kubernetes objects against Kubernetes' OpenAPI schemas and the repo's own CRDs.

The template README promises that typos do not pass: a Deployment under ``apps/v2`` or with
``spec.replica`` must be an error at its field, as ``kubectl apply --validate=strict`` says.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import SCOPE_OBJECT
from reconciler.load.fleet import load_directory
from reconciler.load.settings import read_settings
from reconciler.load.validate import validate_path
from tests.support import DATA, TEMPLATE

DEPLOYMENT = """apiVersion: {api}
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""
CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            metadata:
              type: object
              properties:
                name: {type: string, maxLength: 20}
            spec:
              type: object
              properties:
                size: {type: integer, minimum: 1}
                color: {type: string, enum: [red, blue]}
                port: {x-kubernetes-int-or-string: true}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: shop
  labels:
    app: shop
spec:
  {body}
"""


def _repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _findings(root: Path, files: dict[str, str]) -> list[str]:
    return [str(f) for f in validate_path(_repo(root, files)).findings]


def test_a_valid_deployment_passes(tmp_path: Path) -> None:
    result = validate_path(
        _repo(tmp_path, {"d.yaml": DEPLOYMENT.format(api="apps/v1", replicas="replicas: 2")})
    )
    assert result.findings == ()


def test_a_deployment_under_apps_v2_is_an_error_naming_the_served_version(tmp_path: Path) -> None:
    found = _findings(tmp_path, {"d.yaml": DEPLOYMENT.format(api="apps/v2", replicas="replicas: 2")})
    assert len(found) == 1
    assert found[0].startswith("d.yaml:1:1: Deployment/web: apiVersion: ")
    assert 'no matches for kind "Deployment" in version "apps/v2"' in found[0]
    assert "apps/v1" in found[0]


def test_a_misspelled_field_is_an_unknown_field_error_at_its_line(tmp_path: Path) -> None:
    result = validate_path(
        _repo(tmp_path, {"d.yaml": DEPLOYMENT.format(api="apps/v1", replicas="replica: 2")})
    )
    assert [str(f) for f in result.findings] == [
        'd.yaml:7:3: Deployment/web: spec.replica: unknown field "spec.replica" (Kubernetes 1.36 Deployment apps/v1)'
    ]
    assert result.findings[0].scope == SCOPE_OBJECT
    assert not result.ok


def test_a_wrong_type_is_an_error_that_does_not_quote_the_value(tmp_path: Path) -> None:
    found = _findings(tmp_path, {"d.yaml": DEPLOYMENT.format(api="apps/v1", replicas='replicas: "two"')})
    assert found == [
        "d.yaml:7:3: Deployment/web: spec.replicas: must be of type integer, got string "
        "(Kubernetes 1.36 Deployment apps/v1)"
    ]


def test_a_secret_value_of_a_wrong_type_never_reaches_the_message(tmp_path: Path) -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: shop\nstringData:\n  password: {hunter2: 1}\n"
    found = _findings(tmp_path, {"s.yaml": secret})
    assert len(found) == 1 and "stringData.password" in found[0]
    assert "hunter2" not in found[0]


def test_a_sops_encrypted_secret_is_checked_without_its_sops_metadata(tmp_path: Path) -> None:
    text = (DATA / "sops" / "secret.sops.yaml").read_text()
    # The contract corpus encrypts every YAML type, a list too: stringData takes strings only.
    found = _findings(tmp_path, {"s.yaml": text})
    assert found == [
        "s.yaml:14:5: Secret/db-credentials: stringData.hosts: must be of type string, got array "
        "(Kubernetes 1.36 Secret v1)"
    ]
    lines = text.splitlines(keepends=True)
    del lines[14:17]  # stringData.hosts and its two items
    assert _findings(tmp_path, {"s.yaml": "".join(lines)}) == []


def test_a_custom_resource_is_checked_against_the_crd_in_the_repo(tmp_path: Path) -> None:
    found = _findings(
        tmp_path,
        {
            "crd.yaml": CRD,
            "w.yaml": WIDGET.format(body="{size: two, colour: red, port: http, extra: {anything: [1]}}"),
        },
    )
    assert found == [
        "w.yaml:9:4: Widget/w: spec.size: must be of type integer, got string (CRD widgets.example.com, version v1)",
        'w.yaml:9:15: Widget/w: spec.colour: unknown field "spec.colour" (CRD widgets.example.com, version v1)',
    ]


def test_a_custom_resource_of_a_version_the_crd_does_not_serve_is_an_error(tmp_path: Path) -> None:
    found = _findings(
        tmp_path, {"crd.yaml": CRD, "w.yaml": WIDGET.replace("/v1", "/v2").format(body="{size: 1}")}
    )
    assert len(found) == 1 and 'no matches for kind "Widget" in version "example.com/v2"' in found[0]


def test_a_valid_custom_resource_passes(tmp_path: Path) -> None:
    assert (
        _findings(
            tmp_path, {"crd.yaml": CRD, "w.yaml": WIDGET.format(body="{size: 3, color: blue, port: 80}")}
        )
        == []
    )


def test_an_unknown_kind_without_a_schema_is_a_warning(tmp_path: Path) -> None:
    result = validate_path(_repo(tmp_path, {"w.yaml": WIDGET.format(body="{size: 1}")}))
    assert result.ok
    assert [(f.severity, f.field) for f in result.findings] == [("warning", "apiVersion")]
    assert "no schema for Widget example.com/v1" in result.findings[0].message


def test_an_object_failing_its_schema_is_left_out_and_listed_as_failed(tmp_path: Path) -> None:
    root = _repo(
        tmp_path,
        {
            "d.yaml": DEPLOYMENT.format(api="apps/v1", replicas="replica: 2"),
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\ndata: {a: b}\n",
        },
    )
    loaded = load_directory(root)
    assert "apps/Deployment/shop/web" in loaded.failed
    assert "apps/Deployment/shop/web" not in loaded.spec.resources
    assert "/ConfigMap/shop/c" in loaded.spec.resources
    assert not loaded.held


def test_the_kubernetes_version_is_a_setting_and_must_be_shipped_offline() -> None:
    settings, found = read_settings(b"kubernetesVersion: '1.30'\n")
    assert settings.kubernetes_version == "1.30" and found == ()
    settings, found = read_settings(b"kubernetesVersion: '1.99'\n")
    assert settings.kubernetes_version == "1.36"
    assert len(found) == 1 and "1.36" in found[0].message


def test_the_default_kubernetes_version_is_shipped_by_kubernetes_validate() -> None:
    from reconciler.load.schemas import DEFAULT_KUBERNETES_VERSION, shipped_versions

    assert DEFAULT_KUBERNETES_VERSION == "1.36"
    assert DEFAULT_KUBERNETES_VERSION in shipped_versions()


def test_the_shipped_template_has_no_schema_finding_not_even_a_warning() -> None:
    result = validate_path(TEMPLATE)
    assert result.findings == ()
    assert result.kinds.get("Deployment", 0) > 0


def test_a_crd_added_later_turns_the_warning_into_its_own_verdict(tmp_path: Path) -> None:
    widget = WIDGET.replace("/v1", "/v2").format(body="{size: 1}")
    first = validate_path(_repo(tmp_path, {"w.yaml": widget}))
    assert [f.severity for f in first.findings] == ["warning"]
    second = validate_path(_repo(tmp_path, {"crd.yaml": CRD}))
    assert [f.severity for f in second.findings] == ["error"]
    assert 'no matches for kind "Widget" in version "example.com/v2"' in second.findings[0].message
