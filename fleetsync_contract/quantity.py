"""Kubernetes resource quantities (``500m``, ``16Gi``, ``1e3``) as exact fractions: the one parser.

The agent writes quantities (node capacity, cluster properties in its report) and the hub reads
them (property selectors and sorters), so both sides must read the same text as the same number;
that is why the parser lives in the wire contract and nowhere else. It follows apimachinery's
``resource.ParseQuantity``::

    <quantity>        ::= <signedNumber><suffix>
    <signedNumber>    ::= <number> | <sign><number>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <sign?><digits> | "E" <sign?><digits>

with ASCII digits only, one suffix at most (``1e3Ki`` is not a quantity), an integer exponent (as
Go's parser requires, although its grammar comment says ``<signedNumber>``), and Go's rounding:
a value is kept to the nano, rounded away from zero (``0.5n`` is ``1n``, ``1.0000000001`` is
``1.000000001``), and a binary-SI value is capped at 2^63-1 in magnitude (``8Ei``). Surrounding whitespace is ignored, as Quantity's JSON
decoding trims it. Where Go's hand-written scanner is looser than its own grammar (``.``, ``+``,
``Ki`` or ``e3`` alone read as zero) we follow the grammar and refuse. Values are ``Fraction``,
never floats, so ``1000m == 1`` and sums of requests are exact; a value of 1e308 or more in
magnitude, or a number of more than ``MAX_DIGITS`` digits, is refused, so that every quantity
also converts to a float (property sorters interpolate in floats, as KubeFleet does) and a
hostile report cannot make the hub do big-number arithmetic.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_DIGITS = 1000
_LIMIT = Fraction(10) ** 308
_NANO = Fraction(1, 10**9)
_BINARY_CAP = Fraction(2**63 - 1)

_QUANTITY = re.compile(
    r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:(?P<bin>[KMGTPE]i)|(?P<dec>[numkMGTPE])|[eE](?P<exp>[+-]?[0-9]+))?",
    re.ASCII,
)

BINARY_SI = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SI = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}  # powers of 10


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity.

    A ``ValueError`` because this package is a leaf (it cannot import the hub's exception tree);
    every reader turns it into what its side needs: a located finding, or "no value".
    """


def parse_quantity(text: str | int | float) -> Fraction:
    """A Kubernetes quantity as an exact Fraction; QuantityError, naming the accepted forms, if not one.

    JSON numbers are quantities too (``cpu: 4`` in a manifest), as Go's Quantity decoding allows.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity: expected a string such as 250m or 16Gi")
    if isinstance(text, float) and not math.isfinite(text):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity")
    s = text.strip() if isinstance(text, str) else repr(text)
    m = _QUANTITY.fullmatch(s)
    if m is None or not (m.group(2) or m.group(3)):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 3, 0.5, 250m, 16Gi, 1e3)")
    sign, whole, frac, binary, decimal, exp = m.group(1, 2, 3, "bin", "dec", "exp")
    frac = frac or ""
    digits = (whole + frac).lstrip("0")
    if len(digits) > MAX_DIGITS or (exp is not None and len(exp.lstrip("+-").lstrip("0")) > 18):
        raise QuantityError(f"{text!r} is out of range for a quantity")  # Go: beyond int64, ErrSuffix
    if not digits:
        return Fraction(0)
    # The value is int(digits) * 10**scale (times a binary multiplier).
    scale = (int(exp) if exp is not None else DECIMAL_SI[decimal or ""]) - len(frac)
    magnitude = len(digits) + scale  # 10**(magnitude-1) <= int(digits) * 10**scale < 10**magnitude
    if binary is not None and magnitude > 19:
        value = _BINARY_CAP  # at least 10**19 before the multiplier
    elif magnitude < -9:
        value = _NANO  # below a nano: Go rounds any non-zero value away from zero to 1n
    elif magnitude > 309:
        raise QuantityError(f"{text!r} is out of range for a quantity")
    else:
        value = int(digits) * Fraction(10) ** scale * BINARY_SI.get(binary or "", 1)
        if (value / _NANO).denominator != 1:
            value = math.ceil(value / _NANO) * _NANO
        if binary is not None and value > _BINARY_CAP:
            value = _BINARY_CAP
        if value >= _LIMIT:
            raise QuantityError(f"{text!r} is out of range for a quantity")
    return -value if sign == "-" else value
