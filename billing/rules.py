"""Charging rules as small pure functions on plain values: no I/O, no database.

Each rule turns a month's quantity (and, for pooled rules, the month's pool) into an
amount with a one-sentence explanation. Amounts are rounded once, here, to the penny.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from opsplatform.money import format_gbp, instalments, round_money, split
from opsplatform.vocabulary import Rule

RULES = tuple(Rule)

_BAND = re.compile(r"^\s*(\*|\d+(?:\.\d+)?)\s*([@=])\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Band:
    """Up to `upto` units (None = no limit) at `price`: per unit (graduated) or flat (banded)."""

    upto: Decimal | None
    price: Decimal


@dataclass(frozen=True)
class Charge:
    """An amount, already rounded to the penny, and the sentence that explains it."""

    amount: Decimal
    basis: str
    rate: Decimal | None = None


def parse_bands(text: str, rule: str) -> list[Band]:
    """Parse `1000@3.00; 4000@2.50; *@2.00` (graduated) or `5000=4000; *=9000` (banded).

    Graduated sizes are the width of each band; banded limits are cumulative upper
    bounds. The last band must be `*`. Raises ValueError naming what is wrong.
    """
    separator = "@" if rule == "graduated" else "="
    example = "1000@3.00; *@2.00" if rule == "graduated" else "5000=4000; *=9000"
    parts = [p for p in text.split(";") if p.strip()]
    if not parts:
        raise ValueError(f"bands are empty; write them like '{example}'")
    bands = []
    for part in parts:
        match = _BAND.match(part)
        if not match or match[2] != separator:
            raise ValueError(f"band '{part.strip()}' is not like '{example}'")
        upto = None if match[1] == "*" else Decimal(match[1])
        bands.append(Band(upto, Decimal(match[3])))
    if bands[-1].upto is not None:
        raise ValueError(f"the last band must start with '*' (everything beyond), e.g. '{example}'")
    limits = [b.upto for b in bands[:-1] if b.upto is not None]
    if len(limits) < len(bands) - 1:
        raise ValueError("only the last band may be '*'")
    if rule == "graduated" and any(u <= 0 for u in limits):
        raise ValueError("each graduated band must hold more than 0 units")
    if rule == "banded" and any(b <= a for a, b in pairwise(limits)):
        raise ValueError("banded limits must rise from band to band")
    return bands


def format_bands(bands: list[Band], rule: str) -> str:
    """The one way of writing bands, so that the same bands always read the same."""
    separator = "@" if rule == "graduated" else "="
    return "; ".join(
        f"{'*' if b.upto is None else f'{b.upto.normalize():f}'}{separator}{b.price:f}"
        for b in bands
    )


def _units(quantity: Decimal, unit: str) -> str:
    number = f"{quantity.normalize():,f}"
    return f"{number} {unit}{'' if quantity == 1 else 's'}"


def unit_rate(quantity: Decimal, rate: Decimal, unit: str) -> Charge:
    """q x rate."""
    return Charge(
        round_money(quantity * rate), f"{_units(quantity, unit)} x {format_gbp_rate(rate)}", rate
    )


def graduated(quantity: Decimal, bands: list[Band], unit: str) -> Charge:
    """Each slice of the quantity at its band's price: the first N at p1, the next M at p2..."""
    remaining = quantity
    total = Decimal(0)
    pieces = []
    for band in bands:
        take = remaining if band.upto is None else min(remaining, band.upto)
        if take > 0:
            total += take * band.price
            pieces.append(f"{_units(take, unit)} x {format_gbp_rate(band.price)}")
        remaining -= take
        if remaining <= 0:
            break
    basis = " + ".join(pieces) if pieces else f"no {unit}s"
    return Charge(round_money(total), basis)


def banded(quantity: Decimal, bands: list[Band], unit: str) -> Charge:
    """One flat fee for the band the quantity falls in (q <= limit), charged even at q = 0."""
    for band in bands:
        if band.upto is None or quantity <= band.upto:
            where = "over the last limit" if band.upto is None else f"up to {band.upto:,f}"
            return Charge(
                round_money(band.price),
                f"{_units(quantity, unit)}, band {where}: flat fee {format_gbp(band.price)}",
            )
    raise AssertionError("bands always end with '*'")


def fixed_fee(annual: Decimal, month_index: int) -> Charge:
    """Instalment `month_index` (0 = April) of 12; March takes what is left of the year."""
    amount = instalments(annual)[month_index]
    return Charge(amount, f"annual fee {format_gbp(annual)}, monthly instalment")


def apportion(
    pool: Decimal, weights: dict[str, Decimal], driver: str, unit: str
) -> dict[str, Charge]:
    """Split a month's pool across clients by their weights, the parts summing to the pool."""
    parts = split(pool, weights)
    whole = sum(weights.values(), Decimal(0))
    charges = {}
    for client, amount in parts.items():
        if driver == "equal" or whole == 0:
            basis = f"equal share (1 of {len(weights)}) of {format_gbp(pool)}"
        else:
            label = f"{unit}s" if driver == "usage" else driver
            basis = (
                f"share {weights[client].normalize():,f} of {whole.normalize():,f} {label}"
                f" of {format_gbp(pool)}"
            )
        charges[client] = Charge(amount, basis)
    return charges


def format_gbp_rate(rate: Decimal) -> str:
    """A unit rate with at least two and at most its own decimal places: `£4.75`, `£0.1234`."""
    exponent = rate.normalize().as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{rate} is not a rate")
    places = max(2, -exponent)
    return f"£{rate:,.{places}f}"
