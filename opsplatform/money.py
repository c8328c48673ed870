"""Exact money: GBP as Decimal, rounded once to the penny, split without losing a penny."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(amount: Decimal) -> Decimal:
    """Round to the penny, half up (away from zero), as every charge line is rounded."""
    return amount.quantize(PENNY, rounding=ROUND_HALF_UP)


def split(total: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Split `total` across keys in proportion to `weights`, the parts summing to `total`.

    Largest remainder in pence: each key first gets its share rounded down to the
    penny, then the pence left over go one each to the largest remainders, ties to
    the key that sorts first. All weights zero means equal shares.
    """
    if not weights:
        return {}
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    total_pence = int((total / PENNY).to_integral_exact())
    if total_pence * PENNY != total:
        raise ValueError(f"{total} is not a whole number of pence")
    exact_weights = {key: Fraction(weight) for key, weight in weights.items()}
    weight_sum = sum(exact_weights.values(), Fraction(0))
    if weight_sum == 0:
        exact_weights = dict.fromkeys(weights, Fraction(1))
        weight_sum = Fraction(len(weights))
    sign = -1 if total_pence < 0 else 1
    magnitude = abs(total_pence)
    floors: dict[str, int] = {}
    remainders: dict[str, Fraction] = {}
    for key, weight in exact_weights.items():
        exact = magnitude * weight / weight_sum
        floors[key] = exact.numerator // exact.denominator
        remainders[key] = exact - floors[key]
    left = magnitude - sum(floors.values())
    for key in sorted(weights, key=lambda k: (-remainders[k], k))[:left]:
        floors[key] += 1
    return {key: sign * pence * PENNY for key, pence in floors.items()}


def instalments(annual: Decimal, count: int = 12) -> list[Decimal]:
    """`count` instalments of round(annual / count), the last taking the rest of round(annual).

    `annual` may be unrounded (an estimate x a rate): each part is rounded once.
    """
    regular = round_money(annual / count)
    return [regular] * (count - 1) + [round_money(annual) - regular * (count - 1)]


def format_gbp(amount: Decimal) -> str:
    """`£1,234.50` (negative as `-£1,234.50`), for descriptions people read."""
    sign = "-" if amount < 0 else ""
    return f"{sign}£{abs(amount):,.2f}"
