"""A plain object that fails its Kubernetes schema fails alone on the hub (object scope): it keeps
its last good render, every other change of the commit goes out, and status says why."""

from __future__ import annotations

from datetime import timedelta

from tests.reconciler.hub.test_isolation import (
    DEFAULTS,
    LATER,
    SETTINGS,
    STATUS,
    bundle_ref,
    files,
    fleet,
    reconcile,
)
from tests.support.fleethelpers import CLUSTERS, FleetWork

__all__ = ["fleet"]  # the fixture


def test_a_configmap_with_an_unknown_field_keeps_its_last_render_while_the_rest_moves(
    fleet: FleetWork,
) -> None:
    changed = files(level="b", version="2")
    changed["apps/web/settings.yaml"] = changed["apps/web/settings.yaml"].replace(
        "\ndata:", "\ndta:\n  X: y\ndata:"
    )
    fleet.commit(changed)
    reconcile(fleet, LATER)
    for c in CLUSTERS:
        assert "LEVEL: b" in fleet.read(bundle_ref(c), DEFAULTS)  # the other placement's change is out
        assert 'VERSION: "1"' in fleet.read(bundle_ref(c), SETTINGS)  # the bad ConfigMap: last good
        assert fleet.bundle(c).removals == ()
    status = fleet.read(STATUS, "status.yaml")
    assert 'unknown field "dta"' in status.replace('\\"', '"')
    assert reconcile(fleet, LATER + timedelta(minutes=2)) == []  # and nothing flaps
