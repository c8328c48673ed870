"""A line's VAT code and rate, and which subscription codes it (billing.coding)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.coding import subscription_in, vat_of
from opsplatform.models import Subscription
from opsplatform.periods import Month
from opsplatform.vocabulary import VatCode


@pytest.mark.parametrize(
    ("rate", "treatment", "expected"),
    [
        (Decimal(20), "service", (VatCode.STANDARD, Decimal(20))),
        (Decimal(5), "service", (VatCode.STANDARD, Decimal(5))),  # reduced rate: still S
        (Decimal(0), "service", (VatCode.OUTSIDE_SCOPE, Decimal(0))),
        (Decimal(20), "outside_scope", (VatCode.OUTSIDE_SCOPE, Decimal(0))),
        (Decimal(20), "exempt", (VatCode.EXEMPT, Decimal(0))),
        (Decimal(20), "zero", (VatCode.ZERO, Decimal(0))),
    ],
)
def test_the_subscription_decides_the_vat_and_a_zero_rate_is_outside_the_scope(
    rate, treatment, expected
):
    assert vat_of(rate, treatment) == expected


def sub(start: date, end: date | None, po: str) -> Subscription:
    return Subscription(client_id=1, service_id=1, start=start, end=end, po_number=po)


def test_a_line_takes_the_subscription_of_its_month_else_the_latest_before():
    first = sub(date(2026, 4, 1), date(2026, 5, 31), "A")
    second = sub(date(2026, 6, 30), None, "B")  # starts on the last day of June
    both = [first, second]
    assert subscription_in(both, Month(2026, 5)).po_number == "A"
    assert subscription_in(both, Month(2026, 6)).po_number == "B"
    ended = [first]
    assert subscription_in(ended, Month(2026, 9)).po_number == "A"  # a leaver's credit
    assert subscription_in([second], Month(2026, 4)).po_number == "B"  # before it began
    assert subscription_in([], Month(2026, 4)) is None
