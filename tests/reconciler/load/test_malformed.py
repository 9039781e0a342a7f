"""The malformed-repo corpus: each folder of tests/data/malformed breaks one rule.

``fleetsync validate <folder>/repo`` must exit 1 and print, for each finding in the folder's
``expect.yaml``, exactly that file, line and field path with the message substring, and no
error that ``expect.yaml`` does not list (one rule per case). A case of warnings (a dangling
reference that applies to nothing) exits 0 and prints exactly those warnings, no error. tests/data/malformed/README.md
describes the format. The CLI's own code path is used.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from fleetsync.cli import app
from reconciler.load.yamldoc import parse_documents
from tests.support import DATA

MALFORMED = DATA / "malformed"
CASES = sorted(p.name for p in MALFORMED.iterdir() if (p / "expect.yaml").is_file())


def _expect(case: str) -> dict[str, Any]:
    [doc] = parse_documents((MALFORMED / case / "expect.yaml").read_bytes(), "expect.yaml")
    data: dict[str, Any] = doc.data
    return data


def test_the_corpus_covers_at_least_forty_rules_in_every_area() -> None:
    assert len(CASES) >= 40
    areas = {c.split("-")[0] for c in CASES}
    assert {"mc", "crp", "rp", "cro", "ro", "staged", "evict", "budget", "env", "load", "ref"} <= areas


@pytest.mark.parametrize("case", CASES)
def test_malformed_repo_fails_validate_at_the_exact_file_line_and_field(case: str) -> None:
    expect = _expect(case)
    severity = {w.get("severity", "error") for w in expect["findings"]}
    assert len(severity) == 1, f"{case}: one severity per case"
    warning = severity == {"warning"}  # a dangling reference that applies to nothing
    result = CliRunner().invoke(app, ["validate", str(MALFORMED / case / "repo"), "-o", "json"])
    assert result.exit_code == (0 if warning else 1), result.output
    report = json.loads(result.output)
    assert report["ok"] is warning
    if warning:
        assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    found = [
        (f["file"], f["line"], f["field"], f["message"])
        for f in report["findings"]
        if f["severity"] == ("warning" if warning else "error")
    ]
    for want in expect["findings"]:
        matches = [
            f
            for f in found
            if f[0] == want["file"]
            and f[1] == want["line"]
            and f[2] == want["field"]
            and want["message"] in f[3]
        ]
        assert matches, f"{case}: no finding {want}\nfound:\n" + "\n".join(map(str, found))
    expected = {(w["file"], w["line"], w["field"]) for w in expect["findings"]}
    unexpected = [f for f in found if f[:3] not in expected]
    assert not unexpected, f"{case}: breaks more than its one rule:\n" + "\n".join(map(str, unexpected))
