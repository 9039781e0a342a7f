"""``fleetsync dev``: tools for developing fleetsync itself, today the Kubernetes API test server.

kubesim is a test double, never part of the hub or the agent; the composition root is the only
shipped package allowed to reach it (tests/test_layering.py), and only when this command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetsync.cli.conventions import EXIT_RUNTIME, fail

app = typer.Typer(help="Development tools: the Kubernetes API test server.", no_args_is_help=True)


def require_kubesim(command: str) -> None:
    """One line, not a traceback, where kubesim is left out (the image ships without it)."""
    try:
        import kubesim  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "kubesim":
            raise
        raise fail(
            f"{command} needs kubesim, the Kubernetes API simulator, which this installation leaves out"
            " (the container image does); run it from a checkout (./dev demo) or an install of the wheel",
            EXIT_RUNTIME,
        ) from None


@app.command("kube-server")
def kube_server(
    kubeconfig: Annotated[Path, typer.Option(help="Where to write a kubeconfig for the server.")],
    controllers: Annotated[
        str, typer.Option(help="Workload controllers: instant, never, or delay:SECONDS.")
    ] = "instant",
) -> None:
    """Serve a simulated Kubernetes API (kubesim) on 127.0.0.1 until interrupted.

    It is a test double for the agent's tests and the demo, not a cluster: see docs/kubesim.md
    for what it reproduces and its known limits.

      fleetsync dev kube-server --kubeconfig /tmp/sim.kubeconfig &
      kubectl --kubeconfig /tmp/sim.kubeconfig get namespaces
    """
    require_kubesim("fleetsync dev kube-server")
    from kubesim.__main__ import main as kubesim_main

    raise typer.Exit(kubesim_main(["--kubeconfig", str(kubeconfig), "--controllers", controllers]))
