"""The command-line options of the HTTP port, shared by ``hub run`` and ``agent run``.

Off by default: a CLI on a laptop opens no port it was not asked for, and several agents on one
machine would fight over a fixed default. The deploy manifests pass ``--http-address=:8080``
(Flux's ``[HOST]:PORT`` convention, ``:8080`` = every interface, as a pod needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

HttpAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--http-address",
        help="Serve /healthz, /readyz and /metrics on [HOST]:PORT (:8080 = every interface). Default: off.",
    ),
]
HttpPortOpt = Annotated[
    int | None,
    typer.Option("--http-port", min=0, max=65535, help="Shorthand for --http-address :PORT."),
]
ReadinessOpt = Annotated[
    int,
    typer.Option(
        "--readiness-intervals",
        min=1,
        help="/readyz fails when the last pass finished more than this many intervals ago.",
    ),
]
WebhookSecretFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--webhook-secret-file",
        help="Serve POST /hook for pushes signed with this secret (GitHub X-Hub-Signature-256, "
        "GitLab X-Gitlab-Token); or set FLEETSYNC_WEBHOOK_SECRET.",
    ),
]
WebhookInsecureOpt = Annotated[
    bool,
    typer.Option("--webhook-insecure", help="Serve POST /hook without a secret: anyone may poke the hub."),
]
