"""KubeFleet's staged update runs (External rollouts), as pure functions over frozen values.

The hub reaches the run state machine through one door, ``step.py``: ``step(StagedInputs) ->
StagedResult`` for a placement's runs and ``step_orphans`` for runs whose placement is gone.
Behind it, a run is initialized once (``init.py``), stepped every reconcile (``execute.py`` with
``work.py``; a stopping run in ``stop.py``), gated by who approved (``approver.py``), and kept as KubeFleet-shaped documents on
``fleet/status`` (``documents.py``, over the model of ``model.py``); ``approve.py`` is
``fleetsync approve``'s commit. The package exports nothing itself, so importing one module (the
status views read ``documents.py``) does not pull in the others.
"""
