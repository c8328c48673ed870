"""How a statement line is coded: its VAT and the ledger codes of both sides.

A line takes its VAT treatment from the client's subscription to the service (the
service's rate, or outside the scope, exempt, zero-rated: HMRC VAT Government and Public
Bodies manual, VATGPB8855), the centre's income codes from the service, and the client's
own codes and purchase order from the subscription. The subscription is the one active
in the month the line is about; a line of a month after it ended (a service credit for
a leaver) takes the latest one before, and a line of no one service is outside the scope
of VAT and carries no codes. The codes are copied onto the line when it is built, so an
issued statement keeps them whatever the setup says later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.models import Service, Subscription
from opsplatform.money import ZERO
from opsplatform.periods import Month
from opsplatform.vocabulary import VatCode, VatTreatment


@dataclass(frozen=True)
class Coding:
    vat_code: VatCode
    vat_rate: Decimal
    cost_centre: str | None = None
    subjective: str | None = None
    client_cost_centre: str | None = None
    client_subjective: str | None = None
    po_number: str | None = None


UNCODED = Coding(VatCode.OUTSIDE_SCOPE, ZERO)

_NO_VAT = {
    VatTreatment.OUTSIDE_SCOPE: VatCode.OUTSIDE_SCOPE,
    VatTreatment.EXEMPT: VatCode.EXEMPT,
    VatTreatment.ZERO: VatCode.ZERO,
}


def vat_of(service_rate: Decimal, treatment: str) -> tuple[VatCode, Decimal]:
    """The VAT code and rate of a supply: the service's rate (standard or reduced, S; a
    rate of 0 is outside the scope, O) unless the subscription treats it otherwise."""
    if treatment == VatTreatment.SERVICE:
        return (
            (VatCode.STANDARD, service_rate) if service_rate > 0 else (VatCode.OUTSIDE_SCOPE, ZERO)
        )
    return _NO_VAT[VatTreatment(treatment)], ZERO


def subscription_in(subscriptions: list[Subscription], month: Month) -> Subscription | None:
    """The subscription active in `month`, else the latest that started before its end,
    else the earliest (`subscriptions` sorted by start)."""
    active = [s for s in subscriptions if s.overlaps(month.first_day, month.last_day)]
    if active:
        return active[-1]
    before = [s for s in subscriptions if s.start <= month.last_day]
    return before[-1] if before else (subscriptions[0] if subscriptions else None)


class Codings:
    """Every subscription read once; `of(...)` codes one line."""

    def __init__(self, session: Session) -> None:
        self._subscriptions: dict[tuple[int, int], list[Subscription]] = defaultdict(list)
        for s in session.scalars(select(Subscription).order_by(Subscription.start)):
            self._subscriptions[(s.client_id, s.service_id)].append(s)

    def of(self, client_id: int, service: Service | None, month: Month) -> Coding:
        if service is None:
            return UNCODED
        subscription = subscription_in(self._subscriptions[(client_id, service.id)], month)
        code, rate = vat_of(
            service.vat_rate, subscription.vat if subscription else VatTreatment.SERVICE
        )
        return Coding(
            code,
            rate,
            service.cost_centre,
            service.subjective,
            subscription.client_cost_centre if subscription else None,
            subscription.client_subjective if subscription else None,
            subscription.po_number if subscription else None,
        )
