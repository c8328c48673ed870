"""What a setup change does to every client's charges, shown before anything is written.

A partner leaving a pooled service moves its share to the others; a joiner lowers
theirs; a new tariff or driver moves everyone. `effect_of` rates the year in hand (the
financial year of the first month not yet issued) for the whole year before and after a
change made in the same transaction, and lists every client and service whose charge
moves, so a dry run (`setup load --dry-run`) says who pays what more or less.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.orm import Session

from billing.charges import year_inputs
from billing.engine import rate_year
from billing.issue import ISSUED
from opsplatform.db import utcnow
from opsplatform.errors import Refused
from opsplatform.money import ZERO
from opsplatform.periods import FinancialYear, Month, london_date
from opsplatform.settings import centre_settings

T = TypeVar("T")


@dataclass(frozen=True)
class Effect:
    """How one client's charge for one service over the year moves."""

    client: str
    service: str
    before: Decimal
    after: Decimal

    @property
    def change(self) -> Decimal:
        return self.after - self.before


@dataclass(frozen=True)
class Effects:
    year: FinancialYear
    changes: list[Effect]
    unknown: str | None = None  # why the year could not be rated, if it could not

    def document(self) -> dict[str, object]:
        """The effects as `setup load --json` gives them and an upload keeps them (money as
        strings)."""
        return {
            "year": str(self.year),
            "unknown": self.unknown,
            "changes": [
                {
                    "client": e.client,
                    "service": e.service,
                    "before": f"{e.before:.2f}",
                    "after": f"{e.after:.2f}",
                    "change": f"{e.change:.2f}",
                }
                for e in self.changes
            ],
        }


def year_in_hand(session: Session) -> FinancialYear:
    """The financial year of the first month not yet issued (this month's, if none is)."""
    month = ISSUED.next_month(session) or Month.of(london_date(utcnow()))
    return month.financial_year


def year_charges(session: Session, year: FinancialYear) -> dict[tuple[str, str], Decimal]:
    """Each client's charges for each service over the whole of `year`, as the setup and
    the usage so far rate them."""
    settings = centre_settings(session)
    ideal = rate_year(
        year_inputs(session, year, year.last_month, settings.de_minimis), year.last_month
    )
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for (client, service, _), lines in ideal.items():
        totals[(client, service)] += sum((line.amount for line in lines), ZERO)
    return dict(totals)


def effect_of(session: Session, change: Callable[[], T]) -> tuple[T, Effects]:
    """Make `change` (in the session's transaction) and say how it moves the charges of
    the year in hand; a year that cannot be rated before or after (a tariff or driver
    missing) is reported as unknown, with the reason."""
    year = year_in_hand(session)
    try:
        before: dict[tuple[str, str], Decimal] | None = year_charges(session, year)
    except Refused as refused:
        before, reason = None, str(refused)
    result = change()
    try:
        after = year_charges(session, year)
    except Refused as refused:
        return result, Effects(year, [], str(refused))
    if before is None:
        return result, Effects(year, [], reason)
    moved = [
        Effect(
            client, service, before.get((client, service), ZERO), after.get((client, service), ZERO)
        )
        for client, service in sorted(set(before) | set(after))
        if before.get((client, service), ZERO) != after.get((client, service), ZERO)
    ]
    return result, Effects(year, moved)


def measured(session: Session, change: Callable[[], T]) -> tuple[T, dict[str, object]]:
    """`effect_of`, the effects as a document: what an upload's check keeps for its page."""
    result, effects = effect_of(session, change)
    return result, effects.document()
