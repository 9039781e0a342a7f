"""Kubernetes resource quantities (``500m``, ``16Gi``, ``1e3``) as exact fractions.

Cluster properties and resource usage are compared as quantities by the scheduler, exactly
(``Fraction``), never as floats, so ``1000m == 1`` and ``0.1 + 0.2`` issues cannot reorder
clusters. Interpolation for property sorters converts to float at the last step, as KubeFleet does.
"""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))((?:[KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Fraction:
    """Parse a Kubernetes quantity; raises QuantityError with the accepted forms."""
    m = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise QuantityError(
            f"{text!r} is not a Kubernetes quantity (e.g. 3, 0.5, 250m, 16Gi, 1e3)"
        )
    number, suffix = m.group(1), m.group(2) or ""
    value = Fraction(number)
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    exponent = int(suffix[1:])
    return value * Fraction(10) ** exponent


def is_quantity(text: str) -> bool:
    try:
        parse_quantity(text)
    except QuantityError:
        return False
    return True
