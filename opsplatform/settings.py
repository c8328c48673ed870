"""The centre's settings as typed values, with the contract's defaults."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from opsplatform.models import Setting, SettingStep, YearLock
from opsplatform.periods import Month

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
    "remittance_bank": "",
    "remittance_sort_code": "",
    "remittance_account": "",
    "remittance_reference": "",
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
    remittance_bank: str = ""  # these four: how clients pay, "" until set (CONTRACT section 12)
    remittance_sort_code: str = ""
    remittance_account: str = ""
    remittance_reference: str = ""

    def remittance(self) -> list[tuple[str, str]]:
        """How to pay the centre, as (what, value) pairs, each only if it is set."""
        given = [
            ("Bank and payee", self.remittance_bank),
            ("Sort code", self.remittance_sort_code),
            ("Account number", self.remittance_account),
            ("Payment reference", self.remittance_reference),
        ]
        return [(what, value) for what, value in given if value]


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
        remittance_bank=values["remittance_bank"],
        remittance_sort_code=values["remittance_sort_code"],
        remittance_account=values["remittance_account"],
        remittance_reference=values["remittance_reference"],
    )


# the settings that change what a month is charged (a service credit is charged for its
# quarter's last month): a change applies from a month on
STEPPED = ("de_minimis", "service_credit_cap_percent")


def monthly_values(session: Session, key: str, months: Iterable[Month]) -> dict[Month, Decimal]:
    """The value of stepped setting `key` in each of `months`; empty when it has no steps
    (its one value then applies to every month)."""
    steps = session.execute(
        select(SettingStep.applies_from, SettingStep.value)
        .where(SettingStep.key == key)
        .order_by(SettingStep.applies_from)
    ).all()
    values = {}
    for month in months:
        applying = [value for start, value in steps if start <= str(month)]
        if applying:
            values[month] = Decimal(applying[-1])
    return values


def step_setting(session: Session, key: str, old: str, new: str, start: Month | None) -> None:
    """Record that stepped setting `key` is `new` from month `start` on, `old` before it
    (steps after `start` are overridden); with `start` None, `new` applies to every month
    and the steps are forgotten."""
    steps = session.execute(select(SettingStep).where(SettingStep.key == key)).scalars().all()
    if start is None:
        session.execute(delete(SettingStep).where(SettingStep.key == key))
        return
    if not steps:
        session.add(SettingStep(key=key, applies_from="", value=old))
    session.execute(
        delete(SettingStep).where(SettingStep.key == key, SettingStep.applies_from >= str(start))
    )
    session.add(SettingStep(key=key, applies_from=str(start), value=new))
    session.flush()


def locked_years(session: Session) -> set[str]:
    """The financial years locked for good (billing lock-year), e.g. {"2025-26"}."""
    return set(session.scalars(select(YearLock.financial_year)))
