"""The wheel carries every template of the view: pyproject's package data matches each file."""

from __future__ import annotations

import fnmatch
import tomllib

from tests.support import REPO_ROOT


def test_every_template_is_package_data() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["fleetsync"]
    templates = sorted((REPO_ROOT / "fleetsync" / "ui" / "templates").iterdir())
    assert templates
    for path in templates:
        relative = path.relative_to(REPO_ROOT / "fleetsync").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
