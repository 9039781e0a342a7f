"""``fleetsync dev``: tools for developing fleetsync itself, today the Kubernetes API test server.

kubesim is a test double, never part of the hub or the agent; the composition root is the only
shipped package allowed to reach it (tests/test_layering.py), and only when this command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Development tools: the Kubernetes API test server.", no_args_is_help=True)


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
    from kubesim.__main__ import main as kubesim_main

    raise typer.Exit(kubesim_main(["--kubeconfig", str(kubeconfig), "--controllers", controllers]))
