"""kubesim: a Kubernetes API test server (a simulator, not a cluster).

It serves the Kubernetes REST API on 127.0.0.1 faithfully enough for the official ``kubernetes``
client and ``kubectl`` to work against it unchanged, so the agent's tests and ``fleetsync demo``
exercise real wire behaviour. Nothing shipped to members imports it (tests/test_layering.py).

Entry points: :class:`kubesim.server.KubeSim` (one simulated cluster), :mod:`kubesim.testing`
(context manager and pytest fixture) and ``python -m kubesim`` / ``fleetsync dev kube-server``.
What it reproduces and its known limits: docs/kubesim.md.
"""
