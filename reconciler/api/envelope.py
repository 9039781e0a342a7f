"""The envelope kinds' model and parser (not yet registered: issue 2)."""

from __future__ import annotations

from reconciler.api.registry import KindInfo

KINDS: list[KindInfo] = []
