"""Registers every fleet kind; each kind module lists its own ``KINDS``."""

from __future__ import annotations

from reconciler.api import envelope, eviction, membercluster, override, placement, staged
from reconciler.api.registry import register

for _module in (membercluster, placement, override, staged, eviction, envelope):
    for _info in _module.KINDS:
        register(_info)
