"""Round-trip edits of people's YAML: only the adopted line changes, whatever the file's style."""

from __future__ import annotations

import difflib

import pytest

from reconciler.drift.values import PatchOp
from reconciler.drift.yamledit import apply_ops, edit_object, roundtrip_clean

INDENTED = """# web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: web
spec:
  replicas: 3   # default
  template:
    spec:
      containers:
        - name: web
          image: 'nginx:1.27'
"""
FLUSH = INDENTED.replace("        - name: web\n          image:", "      - name: web\n        image:")
FOUR = """apiVersion: apps/v1
kind: Deployment
metadata:
    name: frontend
    namespace: web
spec:
    replicas: 3   # default
    template:
        spec:
            containers:
            -   name: web
                image: 'nginx:1.27'
"""
MULTI = "---\n" + INDENTED.replace("name: frontend", "name: other") + "---\n" + INDENTED
LIST = """apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: frontend, namespace: web}
    spec:
      replicas: 3   # default
"""


@pytest.mark.parametrize(
    "text", [INDENTED, FLUSH, FOUR, MULTI, LIST], ids=["indented", "flush", "four", "multi", "list"]
)
def test_edit_object_changes_only_the_adopted_line(text: str) -> None:
    assert roundtrip_clean(text)
    new = edit_object(
        text,
        "f.yaml",
        "apps",
        "Deployment",
        "web",
        "frontend",
        lambda o: apply_ops(o, [PatchOp("replace", "/spec/replicas", 5)]),
    )
    changed = [
        line
        for line in difflib.unified_diff(text.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert [c.replace(" ", "") for c in changed] == ["-replicas:3#default", "+replicas:5#default"]


def test_edit_object_names_the_file_when_the_object_is_not_there() -> None:
    from reconciler.errors import UserError

    with pytest.raises(UserError, match=r"f\.yaml: no Deployment web/backend found"):
        edit_object(INDENTED, "f.yaml", "apps", "Deployment", "web", "backend", lambda o: None)
