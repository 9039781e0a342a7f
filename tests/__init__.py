"""fleetsync's tests, a package so that test helpers import by one name (``tests.support``).

The folders below mirror the source tree (tests/reconciler/load/ tests reconciler/load/, and so
on); tests/e2e/ holds the tests that drive the hub, agents and simulated members together.
pytest runs from the repository root with ``pythonpath = ["."]`` and ``--import-mode=importlib``
(pyproject.toml), so neither the tests nor bench/ edit ``sys.path``.
"""
