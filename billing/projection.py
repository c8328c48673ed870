"""The arithmetic of a budget projection, on plain values: the quantities a projected
year is rated on, and how its charges are raised when it is priced at older tariffs.

A projected year is rated on its base year's quantities, month for month, in the months
its own subscriptions cover. A client that was not subscribed in some months of the base
year (it joined during it, or left and came back) has those months filled with the mean
of the months it was subscribed: a partner that joined in November is not projected as
using nothing from April to October. Every quantity is then changed by the scenario's
volume change. A year priced at an earlier year's tariffs has each monthly charge raised
by the scenario's inflation for every year since, compounded, rounded to the penny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from billing.engine import Subscribed
from opsplatform.db import Quantity
from opsplatform.errors import Refused
from opsplatform.money import ZERO, round_money
from opsplatform.periods import FinancialYear, Month

Pair = tuple[str, str]  # (client, service)
Usage = dict[tuple[str, str, Month], Decimal]  # (client, service, month) -> quantity

LOWEST_PERCENT, HIGHEST_PERCENT = Decimal(-100), Decimal(1000)
MOST_YEARS = 5
# the ledger's precision: every quantity the engine is given from the database has it
QUANTUM = Decimal(1).scaleb(-Quantity.places)
# enough digits to hold any amount or quantity times five years of any percent allowed
# exactly, so that the one rounding is the last
_EXACT = Context(prec=100)


@dataclass(frozen=True)
class Scenario:
    """What a projection assumes beyond its base year's volumes.

    `volume_change` (a percent) changes every projected quantity. `inflation` (a percent
    a year) raises the charges of a year priced at an earlier year's tariffs; None when
    not given, and then the budget year must have tariffs of its own (a later year is
    priced flat). `years` counts the years projected, the budget year first.
    """

    volume_change: Decimal = ZERO
    inflation: Decimal | None = None
    years: int = 1

    def __post_init__(self) -> None:
        problems = [
            f"the {name} must be from {LOWEST_PERCENT}% to {HIGHEST_PERCENT}%, not {value}%"
            for name, value in (("volume change", self.volume_change), ("inflation", self.uplift))
            if not LOWEST_PERCENT <= value <= HIGHEST_PERCENT
        ]
        if not 1 <= self.years <= MOST_YEARS:
            problems.append(f"the years projected must be from 1 to {MOST_YEARS}, not {self.years}")
        if problems:
            raise Refused(problems)

    @property
    def uplift(self) -> Decimal:
        """The inflation applied to a year priced at older tariffs: 0 when none is given."""
        return self.inflation if self.inflation is not None else ZERO


@dataclass(frozen=True)
class Fill:
    """How a client's service is projected in the base-year months it was not subscribed:
    at `mean`, the mean quantity of its `subscribed` months (0 is April); or, subscribed
    in none, at nothing (`mean` None: there is nothing to project from)."""

    client: str
    service: str
    subscribed: frozenset[int]
    mean: Decimal | None

    @property
    def filled(self) -> list[int]:
        """The months (0 is April) projected at the mean."""
        return [index for index in range(12) if index not in self.subscribed]


def subscribed_months(
    subscriptions: Iterable[Subscribed], year: FinancialYear
) -> dict[Pair, frozenset[int]]:
    """For each client and service, the months of `year` (0 is April) with a subscription
    on any day of them: the months the engine charges in full."""
    found: dict[Pair, set[int]] = {}
    for s in subscriptions:
        for index, month in enumerate(year.months()):
            if s.overlaps(month):
                found.setdefault((s.client, s.service), set()).add(index)
    return {pair: frozenset(months) for pair, months in found.items()}


def projected_usage(
    usage: Mapping[tuple[str, str, Month], Decimal],
    base: Mapping[Pair, frozenset[int]],
    projected: Mapping[Pair, frozenset[int]],
    year: FinancialYear,
    volume_change: Decimal,
) -> tuple[Usage, list[Fill]]:
    """The quantities `year` is rated on, and how each client and service not subscribed
    all the base year was filled.

    `usage` is the base year's, moved onto `year`'s months; `base` and `projected` are the
    months each client and service was subscribed in the base year and is in `year`. Each
    month `year` covers gets the base year's quantity where the client was subscribed
    then, else the mean of the months it was; then `volume_change` percent more.
    """
    months = year.months()
    result: Usage = {}
    fills = []
    for (client, service), covered in sorted(projected.items()):
        subscribed = base.get((client, service), frozenset())
        quantities = [usage.get((client, service, month), ZERO) for month in months]
        mean = _mean([quantities[index] for index in subscribed])
        if len(subscribed) < len(months):
            fills.append(Fill(client, service, subscribed, mean))
        for index in sorted(covered):
            quantity = quantities[index] if index in subscribed else mean
            if quantity is not None:
                result[(client, service, months[index])] = changed(quantity, volume_change)
    return result, fills


def _mean(quantities: list[Decimal]) -> Decimal | None:
    """The mean to the ledger's precision, rounded half up; None of no quantities."""
    if not quantities:
        return None
    return (sum(quantities, ZERO) / len(quantities)).quantize(QUANTUM, ROUND_HALF_UP)


def growth(percent: Decimal, years: int = 1) -> Decimal:
    """(1 + percent / 100) ** years, exactly: what a rise of `percent` a year multiplies by."""
    return _EXACT.power(_EXACT.divide(100 + percent, 100), years) if years else Decimal(1)


def changed(quantity: Decimal, percent: Decimal) -> Decimal:
    """`quantity` changed by `percent`, to the ledger's precision, rounded half up."""
    return _EXACT.multiply(quantity, growth(percent)).quantize(QUANTUM, ROUND_HALF_UP)


def uplifted(amount: Decimal, percent: Decimal, years: int) -> Decimal:
    """`amount` raised by `percent` a year for `years` years, compounded, rounded half up
    to the penny: a monthly charge of a year priced at tariffs `years` years older."""
    return round_money(_EXACT.multiply(amount, growth(percent, years)))
