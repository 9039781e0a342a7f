"""Health, readiness, metrics and the hub's webhook on one HTTP port, for ``hub run`` and ``agent run``.

The hub (reconciler/) and the agent (agent/) know nothing of HTTP or Prometheus: each of their
run loops hands a plain record of every pass to one optional callback (``HubPass`` from
reconciler/hub/run.py, ``SyncPass`` from agent/runner.py), and this package, part of the
composition root, turns those records into readiness (health.py) and metrics (metrics.py,
reconciles.py for the hub, syncs.py for the agent), verifies and rate-limits webhook pushes
(webhook.py) and serves all of it from one stdlib ``ThreadingHTTPServer`` in a daemon thread
(server.py); wiring.py is what the CLI calls. Keeping the server here means the layering rule
holds (the agent imports only itself and the contract, the hub no composition root) and both
loops stay testable without a port. Endpoints and metric names: docs/operations.md.
"""
