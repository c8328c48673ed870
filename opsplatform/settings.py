"""The centre's settings as typed values, with the contract's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsplatform.models import Setting

DEFAULTS = {
    "centre_name": "Shared Service Centre",
    "statement_prefix": "SSC",
    "de_minimis": "0",
    "service_credit_cap_percent": "100",
    "payment_terms_days": "30",
    "close_working_day": "3",
    "centre_address": "",
    "vat_number": "",
    "vat_control_code": "",
    "debtors_code": "",
}


@dataclass(frozen=True)
class CentreSettings:
    centre_name: str
    statement_prefix: str
    de_minimis: Decimal
    service_credit_cap_percent: Decimal
    payment_terms_days: int
    close_working_day: int
    centre_address: str  # these four: "" until set (CONTRACT section 9)
    vat_number: str
    vat_control_code: str
    debtors_code: str


def centre_settings(session: Session) -> CentreSettings:
    stored = dict(session.execute(select(Setting.key, Setting.value)).all())
    values = {**DEFAULTS, **stored}
    return CentreSettings(
        centre_name=values["centre_name"],
        statement_prefix=values["statement_prefix"],
        de_minimis=Decimal(values["de_minimis"]),
        service_credit_cap_percent=Decimal(values["service_credit_cap_percent"]),
        payment_terms_days=int(values["payment_terms_days"]),
        close_working_day=int(values["close_working_day"]),
        centre_address=values["centre_address"],
        vat_number=values["vat_number"],
        vat_control_code=values["vat_control_code"],
        debtors_code=values["debtors_code"],
    )
