"""``fleetsync schedule``: run only the scheduler on a repo and explain every decision.

The quickest way to ask "where would this placement go, and why not there?": the repo is
loaded as the hub loads it, cluster reports (docs/formats.md §2-§3) are read from a plain
directory instead of report branches, and every placement is scheduled **from scratch** — as
if it were new, without the bindings the hub remembers in ``fleet/status`` — with ``now`` the
CLI's clock. Nothing is written.

A cluster without a report is ineligible, as in KubeFleet ("member agent not online yet");
``--assume-healthy`` treats such clusters as healthy and just heard from, for what-if questions
on a repo with no agents yet. The scheduler and the loader are imported when the command runs,
so that ``fleetsync --help`` does not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleetsync.cli.conventions import EXIT_USAGE, TableOutput, fail, utcnow

if TYPE_CHECKING:
    from fleetsync_contract.report import ClusterReport, Heartbeat
    from reconciler.hub.clusters import ClusterObservation
    from reconciler.scheduler import Schedule

MAX_REPORT_FILES = 20_000
MAX_REPORT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reports:
    observations: Mapping[str, ClusterObservation]
    errors: tuple[str, ...]


def read_reports(directory: Path) -> Reports:
    """Every ``*.yaml`` in DIR and its direct subdirectories: ClusterReports and Heartbeats."""
    from fleetsync_contract.report import ReportFormatError, parse_heartbeat, parse_report
    from reconciler.hub.clusters import observation_from_report

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
    from reconciler.hub.clusters import ClusterObservation, cluster_states
    from reconciler.load.fleet import load_directory
    from reconciler.scheduler import schedule

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
        rows = [("CLUSTER", "SELECTED", "PICK", "CYCLE", "AFFINITY", "TOPOLOGY", "REASON")]
        for d in s.decision_docs():
            score = d.get("clusterScore")
            rows.append(
                (
                    d["clusterName"],
                    "yes" if d["selected"] else "no",
                    str(d.get("pickOrder", "")),
                    str(d.get("schedulingCycle", "")),
                    "" if score is None else str(score["affinityScore"]),
                    "" if score is None else str(score["priorityScore"]),
                    d["reason"],
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(6)) + "  " + r[6])
        lines.append("")
    return "\n".join(lines) if lines else "no placements\n"


def _doc(s: Schedule) -> dict[str, Any]:
    return {
        "placement": s.placement,
        "selectedClusters": list(s.selected),
        "conditions": [s.condition.to_dict()],
        "clusterDecisions": s.decision_docs(),
    }


def render(results: list[Schedule], output: str) -> str:
    from fleetsync_contract.canonical import dump

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


def schedule_command(
    path: Annotated[Path, typer.Argument(help="Fleet repo directory.")] = Path("."),
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="Directory of cluster report.yaml / heartbeat.yaml files."),
    ] = None,
    assume_healthy: Annotated[
        bool, typer.Option("--assume-healthy", help="Treat clusters without a report as healthy now.")
    ] = False,
    output: Annotated[TableOutput, typer.Option("--output", "-o", help="Output format.")] = TableOutput.table,
) -> None:
    """Schedule every placement of a repo from scratch and explain each decision; writes nothing.

    Exit codes: 0 scheduled, 1 the repo does not load, 2 usage error. See docs/scheduler.md.

      fleetsync schedule . --reports ./reports

      fleetsync schedule fleet-repo-template --assume-healthy -o yaml
    """
    if not path.is_dir():
        raise fail(f"{path}: not a directory", EXIT_USAGE)
    if reports is not None and not reports.is_dir():
        raise fail(f"{reports}: not a directory", EXIT_USAGE)
    out, err, code = run(path, reports, utcnow(), output.value, assume_healthy=assume_healthy)
    if err:
        typer.echo(err, err=True, nl=False)
    typer.echo(out, nl=False)
    raise typer.Exit(code)
