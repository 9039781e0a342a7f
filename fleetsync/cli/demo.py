"""``fleetsync demo``: the whole loop on this machine, on the shipped template or a given repo.

The story itself is ``fleetsync.demo.story``; this module injects what only the composition
root may choose: the wall clock and ``time.sleep``, a rich view on a terminal or plain lines
otherwise, and which clusters run on real contexts instead of simulated members.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, fail, utcnow
from reconciler.errors import UserError


def demo_command(
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig holding the contexts of --context/--map.")
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            help="Run the next template cluster (in name order) on this real context. Repeatable.",
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="CLUSTER=CONTEXT: run that template cluster on a real context."),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep",
            help="Keep the temporary directory, print its path, and serve the fleet view until Enter.",
        ),
    ] = False,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template", help="Fleet repo to start from (default: the shipped fleet-repo-template/)."
        ),
    ] = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Trust on: signed fleet commits (verify.commits: strict), hub-signed bundles the agents "
            "verify, and one Secret SOPS-encrypted for some clusters (keys made in the temp dir).",
        ),
    ] = False,
    teams: Annotated[
        bool,
        typer.Option(
            "--teams",
            help="End with the team model: a platform repo and two team repos on a local git daemon, "
            "onboarded with `fleetsync team add`; one team's broken commit does not hold back the other.",
        ),
    ] = False,
) -> None:
    """The whole loop on this machine: the template as a fleet repo, the hub, and one agent per cluster.

        Each template MemberCluster runs as a simulated Kubernetes API (or a real context you map it
        to); the hub renders bundles, agents apply them and report, the hub folds the reports into
        placement status; then a Deployment is scaled behind its agent's back and the drift report
        commit is shown. With --secure the fleet runs with every trust setting on and the demo ends by
        showing what was verified and where the Secret's plaintext is (docs/security.md). With --teams
    the fleet repo becomes a platform repo with two team repos; team B pushes a commit that does not
    parse while team A's change rolls out, then fixes it (docs/teams.md). Exit code 0
        when every stage passed, 3 otherwise. See docs/demo.md.

          fleetsync demo

          fleetsync demo --keep

          fleetsync demo --secure

          fleetsync demo --teams

          fleetsync demo --kubeconfig ~/.kube/config --map prod-eu-1=kind-fleet
    """
    import time

    from fleetsync.cli.dev import require_kubesim

    require_kubesim("fleetsync demo")
    from fleetsync.demo.story import DemoOptions, default_template, run_demo
    from fleetsync.demo.view import Output, PlainOutput, RichOutput

    pairs: list[tuple[str, str]] = []
    for item in mapping or []:
        cluster, sep, ctx = item.partition("=")
        if not sep or not cluster or not ctx:
            raise fail(f"--map {item!r}: expected CLUSTER=CONTEXT", EXIT_USAGE)
        pairs.append((cluster, ctx))
    _check_kubeconfig(kubeconfig, [*(context or ()), *(ctx for _, ctx in pairs)])
    try:
        source = template or default_template()
    except UserError as e:
        raise fail(str(e), EXIT_USAGE) from e
    if not source.is_dir():
        raise fail(f"{source}: not a directory (give the fleet repo template with --template)", EXIT_USAGE)
    out: Output = RichOutput() if sys.stdout.isatty() else PlainOutput(typer.echo)
    options = DemoOptions(
        template=source,
        keep=keep,
        kubeconfig=kubeconfig,
        contexts=tuple(context or ()),
        mapping=tuple(pairs),
        view=_until_enter,
        secure=secure,
        teams=teams,
    )
    result = run_demo(options, out, clock=utcnow, sleep=time.sleep)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_RUNTIME)


def _until_enter(url: str) -> None:
    """--keep: the demo's fleet view is served until Enter, Ctrl-C or the end of stdin."""
    typer.echo(f"open {url} in a browser; Enter or Ctrl-C stops the view")
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.readline()


def _check_kubeconfig(kubeconfig: str | None, contexts: list[str]) -> None:
    """A kubeconfig or context that cannot be used is a usage error (exit 2), before any member starts."""
    if kubeconfig is None and not contexts:
        return
    from agent.apply.kube import KubeconfigError, check_kubeconfig

    targets: list[str | None] = [*contexts] or [None]
    try:
        for ctx in targets:
            check_kubeconfig(kubeconfig, ctx)
    except KubeconfigError as e:
        raise fail(str(e), EXIT_USAGE) from e
