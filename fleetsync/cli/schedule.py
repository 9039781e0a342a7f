"""``fleetsync schedule``: run only the scheduler on a repo and explain every decision.

The quickest way to ask "where would this placement go, and why not there?": the repo is
loaded as the hub loads it, cluster reports (docs/formats.md §2-§3) are read from a plain
directory instead of report branches, and every placement is scheduled **from scratch** — as
if it were new, without the bindings the hub remembers in ``fleet/status`` — with ``now`` the
CLI's clock. Nothing is written.

A cluster without a report is ineligible, as in KubeFleet ("member agent not online yet");
``--assume-healthy`` treats such clusters as healthy and just heard from, for what-if questions
on a repo with no agents yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetsync_contract.canonical import dump
from fleetsync_contract.report import (
    ClusterReport,
    Heartbeat,
    ReportFormatError,
    parse_heartbeat,
    parse_report,
)
from reconciler.hub.clusters import ClusterObservation, cluster_states, observation_from_report
from reconciler.load.fleet import load_directory
from reconciler.scheduler import Schedule, schedule

MAX_REPORT_FILES = 20_000
MAX_REPORT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reports:
    observations: Mapping[str, ClusterObservation]
    errors: tuple[str, ...]


def read_reports(directory: Path) -> Reports:
    """Every ``*.yaml`` in DIR and its direct subdirectories: ClusterReports and Heartbeats."""
    reports: dict[str, ClusterReport] = {}
    beats: dict[str, Heartbeat] = {}
    errors: list[str] = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*/*.yaml")])
    if len(files) > MAX_REPORT_FILES:
        errors.append(f"{directory}: more than {MAX_REPORT_FILES} files; read the first {MAX_REPORT_FILES}")
        files = files[:MAX_REPORT_FILES]
    for path in files:
        if not path.is_file() or path.is_symlink():
            continue
        if path.stat().st_size > MAX_REPORT_BYTES:
            errors.append(f"{path}: larger than {MAX_REPORT_BYTES} bytes")
            continue
        data = path.read_bytes()
        try:
            report = parse_report(data, str(path))
        except ReportFormatError as e:
            try:
                beat = parse_heartbeat(data, str(path))
            except ReportFormatError:
                errors.append(str(e))
                continue
            # RFC 3339 UTC times of one fixed format compare as text
            if beat.cluster not in beats or beat.time > beats[beat.cluster].time:
                beats[beat.cluster] = beat
            continue
        if report.cluster not in reports or report.observed_time > reports[report.cluster].observed_time:
            reports[report.cluster] = report
    names = sorted(set(reports) | set(beats))
    return Reports({n: observation_from_report(reports.get(n), beats.get(n)) for n in names}, tuple(errors))


def schedule_repo(
    root: Path, reports: Path | None, now: datetime, *, assume_healthy: bool = False
) -> tuple[list[Schedule], list[str], bool]:
    """(schedules sorted by placement key, error lines, whether the repo loaded)."""
    loaded = load_directory(root)
    errors = [str(f) for f in loaded.findings if f.severity == "error"]
    if not loaded.ok:
        return [], errors, False
    spec = loaded.spec
    observations: dict[str, ClusterObservation] = {}
    if reports is not None:
        read = read_reports(reports)
        observations.update(read.observations)
        errors.extend(read.errors)
    if assume_healthy:
        for name in spec.members:
            observations.setdefault(name, ClusterObservation(heartbeat_time=now, healthy=True))
    states = cluster_states(
        spec.members.values(),
        observations,
        now,
        heartbeat_timeout=spec.settings.heartbeat_timeout,
        health_timeout=spec.settings.unhealthy_window,
    )
    results = [schedule(spec.placements[key], states, (), 0, now) for key in sorted(spec.placements)]
    return results, errors, True


def _table(results: list[Schedule]) -> str:
    lines: list[str] = []
    for s in results:
        c = s.condition
        lines.append(f"{s.placement}: Scheduled={c.status} {c.reason}: {c.message}")
        rows = [("CLUSTER", "SELECTED", "AFFINITY", "TOPOLOGY", "REASON")]
        for d in s.decisions:
            score = d.score
            rows.append(
                (
                    d.cluster_name,
                    "yes" if d.selected else "no",
                    "" if score is None else str(score.affinity),
                    "" if score is None else str(score.topology_spread),
                    d.reason,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
        lines.append("")
    return "\n".join(lines) if lines else "no placements\n"


def _doc(s: Schedule) -> dict[str, Any]:
    return {
        "placement": s.placement,
        "selectedClusters": list(s.selected),
        "conditions": [s.condition.to_dict()],
        "clusterDecisions": [d.to_dict() for d in s.decisions],
    }


def render(results: list[Schedule], output: str) -> str:
    if output == "json":
        return json.dumps([_doc(s) for s in results], indent=2) + "\n"
    if output == "yaml":
        return dump([_doc(s) for s in results]).decode()
    return _table(results)


def run(
    root: Path, reports: Path | None, now: datetime, output: str, *, assume_healthy: bool = False
) -> tuple[str, str, int]:
    """(stdout, stderr, exit code): 0 scheduled, 1 the repo does not load."""
    results, errors, ok = schedule_repo(root, reports, now, assume_healthy=assume_healthy)
    err = "".join(f"error: {e}\n" for e in errors)
    if not ok:
        return "", err, 1
    return render(results, output), err, 0
