"""The one Kubernetes quantity parser, as apimachinery's ParseQuantity reads each text.

The table holds every form the hub's and the agent's former parsers accepted, and the texts on
which they disagreed with each other or with Kubernetes (marked ``was:``).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from fleetsync_contract.quantity import MAX_DIGITS, QuantityError, parse_quantity

F = Fraction


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # plain numbers: <digits> | <digits>.<digits> | <digits>. | .<digits>, signed
        ("0", F(0)),
        ("2", F(2)),
        ("1.5", F(3, 2)),
        ("1.", F(1)),
        (".5", F(1, 2)),
        ("+1", F(1)),
        ("-1.5", F(-3, 2)),
        ("-0", F(0)),
        ("007", F(7)),
        # decimal SI
        ("250n", F(250, 10**9)),
        ("5u", F(5, 10**6)),
        ("500m", F(1, 2)),
        ("1000m", F(1)),
        ("1k", F(1000)),
        ("3M", F(3 * 10**6)),
        ("16G", F(16 * 10**9)),
        ("2T", F(2 * 10**12)),
        ("1P", F(10**15)),
        ("1E", F(10**18)),  # a lone E is exa, not an exponent
        ("1.G", F(10**9)),  # Go allows "<digits>." before a suffix
        # binary SI
        ("100Ki", F(102400)),
        ("1Mi", F(2**20)),
        ("1Gi", F(2**30)),
        ("1.5Gi", F(3 * 2**29)),
        ("-1.5Gi", F(-3 * 2**29)),
        ("2Ti", F(2 * 2**40)),
        ("1Pi", F(2**50)),
        ("1Ei", F(2**60)),
        # decimal exponent: e or E, an optionally signed integer
        ("129e6", F(129 * 10**6)),
        ("1E3", F(1000)),
        ("1e+3", F(1000)),
        ("1e-3", F(1, 1000)),
        ("1.5e3", F(1500)),
        ("1e03", F(1000)),
        # whitespace around the text is trimmed, as Quantity's JSON decoding does
        ("  4  ", F(4)),
        # JSON numbers are quantities
        (3, F(3)),
        (0.5, F(1, 2)),
        (1e-05, F(1, 10**5)),
        # Go keeps nothing finer than a nano: a non-zero value rounds away from zero to it
        # (was: both former parsers kept 1/2 n exactly)
        ("0.5n", F(1, 10**9)),
        ("-0.5n", F(-1, 10**9)),
        ("1.0000000001", F(10**9 + 1, 10**9)),
        ("1e-100", F(1, 10**9)),
        # Go caps a binary-SI value at 2^63-1 (was: both former parsers read 2^63)
        ("8Ei", F(2**63 - 1)),
        ("-8Ei", F(-(2**63 - 1))),
        ("1" + "0" * 30 + "Ki", F(2**63 - 1)),
        # a decimal value is not capped (and stays exact: was 28 significant digits in the agent)
        ("12345678901234567890123456789k", F(12345678901234567890123456789000)),
        ("123456789012345678901234567890123", F(123456789012345678901234567890123)),
        ("9e307", F(9 * 10**307)),
    ],
)
def test_a_quantity_reads_as_kubernetes_reads_it(text: str | int | float, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lots",
        "1K",  # kilo is a lower-case k
        "1ki",
        "1KiB",
        "1 Gi",
        "1.2.3",
        "1e",  # e alone is no suffix (E alone is exa)
        "1e1.5",  # Go's exponent is an integer
        "1e+-3",
        "0x10",
        # one suffix at most (was: the agent's parser read 1e3Ki as 1024000 and 1e3m as 1)
        "1e3Ki",
        "1e3m",
        "2mi",
        # a sign and no digits: Go's scanner reads these as zero, its grammar (and we) refuse
        ".",
        "+",
        "-",
        "Ki",
        "e3",
        "-.",
        # ASCII digits only (was: the hub's parser read Arabic-Indic "١٢" as 12)
        "\u0661\u0662",
        # not text nor a number
        True,
        None,
        float("inf"),
        float("nan"),
    ],
)
def test_a_non_quantity_is_refused(text: object) -> None:
    with pytest.raises(QuantityError, match="not a Kubernetes quantity"):
        parse_quantity(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["1e308", "1e400", "-1e999999999", "1" * (MAX_DIGITS + 1), "1e99999999999999999999", "1" + "0" * 400],
)
def test_a_quantity_beyond_float_range_is_refused_cheaply(text: str) -> None:
    with pytest.raises(QuantityError, match="out of range"):
        parse_quantity(text)


def test_every_quantity_converts_to_a_float() -> None:
    # Property sorters interpolate in floats: the largest accepted value must convert.
    assert float(parse_quantity("9.99e307")) == pytest.approx(9.99e307)


def test_a_quantity_error_is_a_value_error() -> None:
    # The contract is a leaf: readers on both sides catch it as a ValueError.
    assert issubclass(QuantityError, ValueError)
