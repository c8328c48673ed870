"""The setup workbook's sheets: their columns, how each cell is parsed, and each row's key.

A sheet is a list of columns, each with the parser that turns what people type into a
value (or a ValueError saying why it cannot), whether it is required, and its default.
`parse_row` parses a row cell by cell; `natural_key` names the row a sheet's row is
(created or updated by importers.setup_loader). Nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from billing.rules import RULES
from importers import tables as cell
from importers.tables import blank
from opsplatform.calendars import NATIONS, WEEKDAYS
from opsplatform.db import Base
from opsplatform.errors import Problem, Problems
from opsplatform.models import (
    CalendarOverride,
    Client,
    CostCentreShare,
    Driver,
    Estimate,
    Kpi,
    KpiBaseline,
    KpiProfile,
    PostingColumn,
    Service,
    ServiceHours,
    Setting,
    Sla,
    Subscription,
    Tariff,
)
from opsplatform.periods import FinancialYear, Month
from opsplatform.vocabulary import (
    FIGURE_METHODS,
    FIXED_TEXT,
    Funding,
    PostingSource,
    VatTreatment,
)
from opsplatform.workbooks import CellValue

# A parsed row: each column's value as its column's parser gives it (see SHEETS), or
# its default. The values differ in type by column, so the row's are Any.
Row = dict[str, Any]


class OneOf:
    """The parser of a cell that holds one of a few words (in any case); the templates
    offer `choices` in a drop-down list."""

    def __init__(self, *choices: str) -> None:
        self.choices = tuple(str(c) for c in choices)

    def __call__(self, value: object) -> str:
        result = cell.text(value).lower()
        if result not in self.choices:
            raise ValueError(f"'{cell.text(value)}' is not one of {', '.join(self.choices)}")
        return result


def _financial_year(value: object) -> str:
    return str(FinancialYear.parse(cell.text(value)))


def _percent(value: object) -> Decimal:
    result = cell.decimal(value)
    if not 0 <= result <= 100:
        raise ValueError(f"'{cell.text(value)}' is not a percentage from 0 to 100")
    return result


def _not_negative(parse: Callable[[object], Decimal]) -> Callable[[object], Decimal]:
    def checked(value: object) -> Decimal:
        result = parse(value)
        if result < 0:
            raise ValueError(f"'{cell.text(value)}' must not be negative")
        return result

    return checked


def _name(value: object) -> str:
    result = cell.text(value).lower()
    if not result.replace("_", "").isalnum():
        raise ValueError(f"'{cell.text(value)}' is not a name: use letters, digits and _")
    return result


def _email(value: object) -> str:
    result = cell.text(value)
    if "@" not in result.strip("@") or " " in result:
        raise ValueError(f"'{result}' is not an e-mail address")
    return result


def _kpi_code(value: object) -> str:
    result = cell.text(value).upper()
    if not result or len(result) > 20 or not result.replace("-", "").isalnum():
        raise ValueError(f"'{cell.text(value)}' is not a KPI code: up to 20 of A-Z, 0-9 and -")
    return result


def _month(value: object) -> str:
    """A month: `YYYY-MM`, or an Excel date in it."""
    if isinstance(value, date):
        return str(Month.of(value))
    return str(Month.parse(cell.text(value)))


def _clock_time(value: object) -> str:
    """A local time of day written HH:MM (00:00 to 24:00, midnight ending the day), or an
    Excel time, as HH:MM."""
    if isinstance(value, time):
        if value.second or value.microsecond:
            raise ValueError(f"'{value}' is not a time in whole minutes: write HH:MM")
        return f"{value.hour:02d}:{value.minute:02d}"
    typed = cell.text(value)
    hours, colon, minutes = typed.partition(":")
    if (
        colon
        and hours.isascii()
        and minutes.isascii()
        and hours.isdigit()
        and minutes.isdigit()
        and len(hours) <= 2
        and len(minutes) == 2
        and int(minutes) < 60
        and int(hours) * 60 + int(minutes) <= 24 * 60
    ):
        return f"{int(hours):02d}:{minutes}"
    raise ValueError(f"'{typed}' is not a time: write HH:MM from 00:00 to 24:00, e.g. 08:30")


POSITIONS = 200  # columns of a client's posting-file template: room for Oracle's 150 or so


def _position(value: object) -> int:
    result = cell.whole(value)
    if not 1 <= result <= POSITIONS:
        raise ValueError(f"'{cell.text(value)}' is not a column number from 1 to {POSITIONS}")
    return result


def _posting_source(value: object) -> str:
    """A PostingSource, or `text:` and a fixed text (kept as typed)."""
    result = cell.text(value)
    if result[: len(FIXED_TEXT)].lower() == FIXED_TEXT:
        return FIXED_TEXT + result[len(FIXED_TEXT) :]
    try:
        return PostingSource(result.lower())
    except ValueError:
        raise ValueError(
            f"'{result}' is not one of {', '.join(PostingSource)}, nor {FIXED_TEXT} and a text"
        ) from None


@dataclass(frozen=True)
class Column:
    """A column of a sheet: how its cells are parsed, whether one must be given, the
    value of a blank one, and a note for the template."""

    name: str
    parse: Callable[[object], object]
    required: bool = True
    default: object = None
    note: str = ""


@dataclass(frozen=True)
class Sheet:
    """A sheet of the setup workbook: its columns, a note and an example row for the
    template."""

    name: str
    columns: list[Column]
    note: str
    example: list[CellValue] = field(default_factory=list)

    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}


def _digits(count: int, what: str, shown: str) -> Callable[[object], object]:
    """A parser of `count` digits (spaces and dashes allowed between them), kept as `shown`
    lays them out ("NN-NN-NN" for a sort code)."""

    def parse(value: object) -> str:
        typed = cell.text(value)
        digits = typed.replace(" ", "").replace("-", "")
        if len(digits) != count or not digits.isascii() or not digits.isdigit():
            raise ValueError(f"'{typed}' is not a {what}: write {count} digits, like {shown}")
        groups = shown.split("-")
        parts, start = [], 0
        for group in groups:
            parts.append(digits[start : start + len(group)])
            start += len(group)
        return "-".join(parts)

    return parse


# each setting's parser and what it is
SETTINGS: dict[str, tuple[Callable[[object], object], str]] = {
    "centre_name": (cell.text, "Name of the shared-service centre, shown on statements"),
    "statement_prefix": (cell.code, "Prefix of statement numbers (default SSC)"),
    "de_minimis": (_not_negative(cell.money), "Smallest amount billed for a service (GBP)"),
    "service_credit_cap_percent": (_percent, "Cap on a quarter's service credits (default 100)"),
    "payment_terms_days": (cell.whole, "Days from issue to payment due (default 30)"),
    "close_working_day": (cell.whole, "Working day of the month for the close (default 3)"),
    "centre_address": (cell.text, "The centre's postal address, for VAT invoices"),
    "vat_number": (cell.text, "The centre's VAT registration number, for VAT invoices"),
    "vat_control_code": (cell.text, "Ledger code of the centre's VAT output account"),
    "debtors_code": (cell.text, "Ledger code of the centre's receivables (debtors) account"),
    "remittance_bank": (cell.text, "Bank and account name clients pay into, on statements"),
    "remittance_sort_code": (_digits(6, "sort code", "20-00-00"), "Sort code, like 20-00-00"),
    "remittance_account": (_digits(8, "bank account number", "12345678"), "Account number"),
    "remittance_reference": (cell.text, "What clients quote when they pay, on statements"),
}

SHEETS = [
    Sheet(
        "Settings",
        [Column("key", OneOf(*SETTINGS)), Column("value", cell.text)],
        "Centre-wide settings, one key a row: " + ", ".join(SETTINGS),
        ["centre_name", "Fylde Coast Shared Services"],
    ),
    Sheet(
        "Clients",
        [
            Column("code", cell.code, note="2-12 of A-Z 0-9 -"),
            Column("name", cell.text),
            Column("nation", OneOf(*NATIONS), False, "england", "bank holidays to use"),
            Column("email", _email, False),
            Column("address", cell.text, False, note="for VAT invoices"),
            Column("vat_number", cell.text, False, note="if the client is VAT-registered"),
            Column(
                "vat_recoverable_code",
                cell.text,
                False,
                note="the client's own code for the VAT it recovers, in its expense journal",
            ),
            Column(
                "creditors_code",
                cell.text,
                False,
                note="the client's own creditors code, credited in its expense journal",
            ),
        ],
        "Client councils, keyed by code",
        ["WYR", "Wyre Council", "england", "finance@wyre.example"],
    ),
    Sheet(
        "Services",
        [
            Column("code", cell.code),
            Column("name", cell.text),
            Column("unit", cell.text, note="what one unit of usage is: payslip, claim, call"),
            Column("vat_rate", _percent, False, 0, "percent"),
            Column("cost_centre", cell.text, False),
            Column("subjective", cell.text, False, note="the centre's income code"),
            Column(
                "funding",
                OneOf(*Funding),
                False,
                "price",
                "price: its tariffs alone; cost: its tariffs on account, reconciled to the "
                "actual cost at the year's outturn (billing outturn)",
            ),
            Column(
                "baseline_unit_cost",
                _not_negative(lambda v: cell.decimal(v, 4)),
                False,
                note="GBP a unit cost before the service was shared, to show the savings",
            ),
            Column("baseline_period", cell.text, False, note="when it was measured, e.g. 2018-19"),
        ],
        "Services on the menu, keyed by code",
        ["PAY", "Payroll", "payslip", 0, "CC100"],
    ),
    Sheet(
        "ServiceHours",
        [
            Column("service", cell.code),
            Column("weekday", OneOf(*WEEKDAYS)),
            Column("open", _clock_time, note="HH:MM, Europe/London local time"),
            Column("close", _clock_time, note="HH:MM, after open; 24:00 is midnight"),
        ],
        "A service's opening hours, a weekday a row (a weekday with no row is closed), for "
        "KPIs on the service_hours calendar; a service's rows replace its hours",
        ["PAY", "mon", "08:00", "18:00"],
    ),
    Sheet(
        "Subscriptions",
        [
            Column("client", cell.code),
            Column("service", cell.code),
            Column("start", cell.day),
            Column("end", cell.day, False, note="inclusive; blank = open"),
            Column("tier", _name, False, "standard"),
            Column("po_number", cell.text, False),
            Column(
                "vat",
                OneOf(*VatTreatment),
                False,
                "service",
                "service: the service's vat_rate; or outside_scope, exempt, zero (no VAT)",
            ),
            Column("client_cost_centre", cell.text, False, note="the client's own code"),
            Column("client_subjective", cell.text, False, note="the client's own code"),
            Column("basis", _name, False, note="s101, s113, goods_and_services_act, contract"),
            Column("notice_months", cell.whole, False, note="months' notice to leave"),
            Column("review_date", cell.day, False),
            Column(
                "notice_given",
                cell.day,
                False,
                note="when notice to leave was given: a pooled service is paid until it ends",
            ),
        ],
        "Which client uses which service, from start to end; keyed by client, service, start",
        ["WYR", "PAY", "2026-04-01", None, "standard", "PO-1234"],
    ),
    Sheet(
        "CostCentres",
        [
            Column("cost_centre", cell.text, note="the centre's cost centre in its ledger"),
            Column("service", cell.code, note="a service its cost goes to"),
            Column("name", cell.text, False),
            Column(
                "share",
                _not_negative(cell.decimal),
                False,
                Decimal(1),
                "an overhead's driver value for this service (m², staff hours...); a cost "
                "centre's cost is shared among its rows in proportion",
            ),
            Column("driver", cell.text, False, note="what the share measures: floor area..."),
        ],
        "Where each cost centre's costs go (costs import, billing outturn): one row, a direct "
        "cost of its service; several, an overhead apportioned by their shares",
        ["CC100", "PAY", "Payroll team"],
    ),
    Sheet(
        "Drivers",
        [
            Column("client", cell.code),
            Column("financial_year", _financial_year),
            Column("driver", _name, note="population, headcount, share..."),
            Column("value", _not_negative(cell.decimal)),
        ],
        "Apportionment drivers per client and year",
        ["WYR", "2026-27", "population", 112000],
    ),
    Sheet(
        "Tariffs",
        [
            Column("service", cell.code),
            Column("financial_year", _financial_year),
            Column("rule", OneOf(*RULES)),
            Column("client", cell.code, False, note="for one client only"),
            Column("tier", _name, False, note="for one tier only"),
            Column("rate", _not_negative(lambda v: cell.decimal(v, 4)), False, note="unit_rate"),
            Column(
                "bands",
                cell.text,
                False,
                note="graduated 1000@3.00; *@2.00 / banded 5000=4000; *=9000",
            ),
            Column("annual_amount", _not_negative(cell.money), False, note="fixed_fee, apportion"),
            Column("driver", _name, False, note="apportion: equal, usage or a Drivers name"),
            Column("minimum", _not_negative(cell.money), False, note="monthly floor"),
            Column("annual_cap", _not_negative(cell.money), False, note="yearly ceiling"),
            Column("billing", OneOf("actual", "estimate"), False, "actual"),
            Column("true_up_tolerance", _percent, False, 0, "percent"),
        ],
        "How each service is charged per financial year; client rows beat tier rows beat general",
        ["PAY", "2026-27", "unit_rate", None, None, 4.75],
    ),
    Sheet(
        "Estimates",
        [
            Column("client", cell.code),
            Column("service", cell.code),
            Column("financial_year", _financial_year),
            Column("quantity", _not_negative(cell.decimal), note="annual"),
        ],
        "Estimated annual quantities for estimate billing",
        ["WYR", "PAY", "2026-27", 24000],
    ),
    Sheet(
        "KPIs",
        [
            Column("code", _kpi_code),
            Column("name", cell.text),
            Column("service", cell.code, False),
            Column("unit", OneOf("percent", "days", "seconds", "count")),
            Column("direction", OneOf("higher", "lower")),
            Column("target", cell.decimal),
            Column("amber", cell.decimal),
            Column("method", OneOf("within", "average_elapsed", *FIGURE_METHODS)),
            Column("limit", _not_negative(cell.decimal), False),
            Column(
                "calendar",
                OneOf("working_days", "calendar_days", "seconds", "service_hours"),
                False,
                "working_days",
                "service_hours: seconds while the service is open (ServiceHours)",
            ),
        ],
        "Key performance indicators",
        [
            "PAY-5D",
            "Payroll queries closed in 5 working days",
            "PAY",
            "percent",
            "higher",
            95,
            90,
            "within",
            5,
        ],
    ),
    Sheet(
        "SLAs",
        [
            Column("client", cell.code),
            Column("kpi", _kpi_code),
            Column("target", cell.decimal, False),
            Column("amber", cell.decimal, False),
            Column("service_credit_percent", _percent),
        ],
        "A client's own targets and the service credit it earns when a KPI ends red",
        ["WYR", "PAY-5D", 97, 92, 2],
    ),
    Sheet(
        "Holidays",
        [
            Column("nation", OneOf(*NATIONS)),
            Column("date", cell.day),
            Column("action", OneOf("add", "remove"), False, "add", "add a holiday or remove one"),
            Column("name", cell.text, False),
        ],
        "Local changes to a nation's bank holidays, used in working-day and service-hours KPIs",
        ["england", "2027-05-10", "add", "Extra bank holiday"],
    ),
    Sheet(
        "Baselines",
        [
            Column("kpi", _kpi_code),
            Column("client", cell.code, False, note="blank = the whole centre"),
            Column("value", cell.decimal),
            Column("period", cell.text, False, note="when it was measured, e.g. 2023-24"),
        ],
        "KPI values before sharing, to show the change since",
        ["PAY-5D", None, 81.5, "2023-24"],
    ),
    Sheet(
        "Profiles",
        [
            Column("kpi", _kpi_code),
            Column(
                "client",
                cell.code,
                False,
                note="blank = every client without its own profile, and the whole centre",
            ),
            Column("month", _month, note="YYYY-MM"),
            Column("target", cell.decimal, note="what the figure to date should have reached"),
            Column(
                "amber",
                cell.decimal,
                False,
                note="blank = as far from the target as the KPI's (or SLA's) amber is",
            ),
        ],
        "A KPI's profiled target month by month, for cumulative in-year figures: a quarter is "
        "judged against the profile of its last month with figures or events",
        ["CTAX-COLL", None, "2026-12", 89, 87],
    ),
    Sheet(
        "PostingColumns",
        [
            Column(
                "client",
                cell.code,
                note="whose posting-file template (billing post --format mapped; over Oracle's "
                "columns, --format oracle); a workbook's rows for a client replace its template",
            ),
            Column(
                "position",
                _position,
                note=f"the column's number in the client's file, 1 (column A) to {POSITIONS}; "
                "a number no row gives is an empty column",
            ),
            Column("heading", cell.text, False, note="the column's heading in the file"),
            Column(
                "source",
                _posting_source,
                note="what the column holds: "
                + "; ".join(f"{s} ({s.label})" for s in PostingSource)
                + f"; or {FIXED_TEXT} and a text, that text on every row (e.g. {FIXED_TEXT}GBP)",
            ),
        ],
        "A client's own posting-file template, a column a row (billing post --format mapped; "
        "over Oracle's columns, --format oracle); a client's rows replace its template",
        ["WYR", 1, "Cost Centre", "cost_centre"],
    ),
]
SHEETS_BY_NAME = {s.name.lower(): s for s in SHEETS}
# the templates' sheets for people to read, which a load passes over (lower case)
NOT_LOADED = ("notes", "kpi presets")

# The measures councils are judged on, as rows of the KPIs sheet (code, name, service, unit,
# direction, target, amber, method, limit, calendar) with what defines them; the setup
# template lists them to copy, each naming the centre's own service where it has one.
# Targets are common ones, for the centre to set its own.
KPI_PRESETS: list[tuple[tuple[CellValue, ...], str]] = [
    (
        ("HB-NEW", "Housing benefit new claims: average days to process", None, "days",
         "lower", 20, 24, "average_elapsed", None, "calendar_days"),
        "DWP's speed of processing: mean calendar days from the date a claim is received to "
        "the date it is decided (usage: started_at the claim date, completed_at the decision; "
        "DWP, Housing Benefit speed of processing statistics).",
    ),
    (
        ("HB-COC", "Housing benefit changes of circumstances: average days to process", None,
         "days", "lower", 8, 10, "average_elapsed", None, "calendar_days"),
        "DWP's speed of processing for change events: mean calendar days from notification "
        "of the change to its decision (DWP, Housing Benefit speed of processing statistics).",
    ),
    (
        ("CTAX-COLL", "Council tax collected in year, to date", None, "percent", "higher", 97,
         96, "as_at", None, None),
        "Receipts in the year to date as a percentage of the year's net collectable debit, "
        "reported cumulatively each month (numerator: collected to date; denominator: net "
        "collectable debit) and judged against a monthly profile on the Profiles sheet "
        "(MHCLG's collection rates of council tax and non-domestic rates, QRC4 return).",
    ),
    (
        ("NNDR-COLL", "Business rates collected in year, to date", None, "percent", "higher",
         98, 97, "as_at", None, None),
        "As council tax: non-domestic rates received in the year to date as a percentage of "
        "the year's net collectable debit, with a monthly profile (MHCLG, QRC4 return).",
    ),
    (
        ("AP-30", "Undisputed invoices paid within 30 days", None, "percent", "higher", 95,
         90, "submitted", None, None),
        "Invoices paid within 30 days of receipt as a percentage of those paid in the month "
        "(the 30 days of the Public Contracts Regulations 2015, regulation 113; the former "
        "best value indicator BV8).",
    ),
    (
        ("CC-ANS", "Calls answered within 60 seconds", None, "percent", "higher", 80, 70,
         "submitted", None, None),
        "Calls answered within 60 seconds of joining the queue as a percentage of calls "
        "offered, from the telephony system's monthly figures; there is no statutory "
        "definition, so the threshold is the centre's to state.",
    ),
    (
        ("CC-ABN", "Calls abandoned", None, "percent", "lower", 5, 8, "submitted", None,
         None),
        "Calls ended by the caller before they were answered as a percentage of calls "
        "offered (excluding those ended within the first 5 seconds, as telephony systems "
        "usually count them); no statutory definition.",
    ),
]  # fmt: skip


# Each sheet's natural key: the columns naming the row it creates or updates.
KEYS = {
    "Settings": ("key",),
    "Clients": ("code",),
    "Services": ("code",),
    "ServiceHours": ("service", "weekday"),
    "Subscriptions": ("client", "service", "start"),
    "CostCentres": ("cost_centre", "service"),
    "Drivers": ("client", "financial_year", "driver"),
    "Tariffs": ("service", "financial_year", "client", "tier"),
    "Estimates": ("client", "service", "financial_year"),
    "KPIs": ("code",),
    "SLAs": ("client", "kpi"),
    "Holidays": ("nation", "date"),
    "Baselines": ("kpi", "client"),
    "Profiles": ("kpi", "client", "month"),
    "PostingColumns": ("client", "position"),
}


_MODELS: dict[str, type[Base]] = {
    "Settings": Setting,
    "Clients": Client,
    "Services": Service,
    "ServiceHours": ServiceHours,
    "Subscriptions": Subscription,
    "CostCentres": CostCentreShare,
    "Drivers": Driver,
    "Tariffs": Tariff,
    "Estimates": Estimate,
    "KPIs": Kpi,
    "SLAs": Sla,
    "Holidays": CalendarOverride,
    "Baselines": KpiBaseline,
    "Profiles": KpiProfile,
    "PostingColumns": PostingColumn,
}
# each sheet's text columns stored in a column of limited length, by name
_LONGEST: dict[str, dict[str, int]] = {
    sheet: {
        c.name: length for c in model.__table__.columns if (length := getattr(c.type, "length", 0))
    }
    for sheet, model in _MODELS.items()
}


def parse_row(sheet: Sheet, number: int, raw: dict[str, object], problems: Problems) -> Row | None:
    """Row `number` of `sheet` parsed cell by cell, or None (its problems added to
    `problems`) if any cell cannot be parsed or stored."""
    parsed: Row = {}
    ok = True
    for column in sheet.columns:
        value = raw.get(column.name)
        if blank(value):
            if column.required:
                # a column missing from the header is reported once, for the header
                if column.name in raw:
                    problems.append(
                        Problem(f"{column.name} is required", sheet.name, number, column.name)
                    )
                ok = False
            parsed[column.name] = column.default
            continue
        try:
            parsed[column.name] = value = column.parse(value)
        except ValueError as error:
            problems.append(Problem(str(error), sheet.name, number, column.name))
            ok = False
            continue
        unstorable = value.__class__ is str and cell.unstorable(
            column.name, value, _LONGEST[sheet.name].get(column.name)
        )
        if unstorable:
            problems.append(Problem(unstorable, sheet.name, number, column.name))
            ok = False
    return parsed if ok else None


def natural_key(sheet: str, row: Row) -> tuple[object, ...]:
    """The values of a parsed row's natural key: no two rows of a workbook share one."""
    return tuple(row[k] for k in KEYS[sheet])
