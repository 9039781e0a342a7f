"""The fleet view: read-only pages over the status and report branches (docs/ui.md).

Three layers, each replaceable on its own: ``state`` reads the hub refs once per branch move
with the readers ``fleetsync get`` uses, ``model``/``pages`` turn that into plain frozen view
models (pure, so the tests and the bench build them without a server), and ``render``/``app``
make HTML (Jinja2, autoescaped) or JSON of them for one GET. Nothing here writes to Git and
nothing recomputes a scheduling decision: every fact shown is one the hub or an agent committed.
"""
