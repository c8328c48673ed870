"""The demo centre: Northmoor Shared Services, hosted by Northmoor District Council, its six
client authorities and a college, all made up but plausible.

Reference data goes through the setup workbook loader and usage through the usage
importer, so the demo passes the same checks as a finance officer's files; then every
month up to last month is closed and issued, as the centre would have done. Volumes come
from a fixed seed per month, so a month comes out the same whenever the demo is loaded.

It exercises the accounting of CONTRACT section 9: the three districts in the joint
committee (section 101) take print outside the scope of VAT while the county, the fire
authority, Glanafon and the college pay VAT on it; every line carries both sides' ledger
codes; Glanafon signs for internal audit in November, back-dated to April, and is caught
up; Holmbridge leaves revenues and benefits (a pooled service) under six months' notice
and pays its share until the notice ends; and the first financial year is locked once
May is issued, as councils close their accounts. Councils have raised queries (one
accepted, one rejected, two open), Wexcombe is still reviewing last month's draft, and
there is one user per role sharing a published demo-only password (docs/SECURITY.md).
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.close import close_month
from billing.disputes import answer_query, raise_query
from billing.issue import ISSUED, issue_month
from billing.outturn import approve_outturn, outturn_is_settled
from billing.statements import get_statement
from billing.yearend import lock_year
from importers.costs import import_costs
from importers.kpi import COLUMNS as KPI_COLUMNS
from importers.kpi import import_figures
from importers.setup import load_setup
from importers.setup_sheets import SHEETS_BY_NAME
from importers.usage import import_file
from importers.usage_rows import COLUMNS
from opsplatform.accounts import create_user
from opsplatform.calendars import WorkingCalendar
from opsplatform.db import Database
from opsplatform.models import Client, UsageEvent
from opsplatform.money import instalments
from opsplatform.periods import LONDON, FinancialYear, Month, Quarter, iter_months
from opsplatform.workbooks import write_sheets
from sla.commentary import set_commentary
from sla.service import finalise_quarter, month_is_final

SEED = 1974  # the year shire districts began; any fixed number keeps the demo repeatable
CENTRE = "Northmoor Shared Services"
ACTOR = "demo"  # who the audit log says loaded the demo's setup workbook
BASE_YEAR = FinancialYear(2025)  # the year whose prices and volumes the tables below give
DEMO = "demo"  # who the audit log names for the demo's closes, issues and final assessments
REVIEWING = "WEX"  # the partner still reviewing last month's draft: it stays a draft
# One user per role, for evaluation only: they exist only in a demo database.
DEMO_PASSWORD = "demo-only-not-for-live-use"
DEMO_USERS = (
    ("admin@northmoor.example", "admin", None),
    ("manager@northmoor.example", "manager", None),
    ("finance@northmoor.example", "finance", None),
    ("auditor@northmoor.example", "auditor", None),
    ("finance@ashvale.example", "client", "ASH"),
)


class DemoNotEmpty(Exception):
    """The database already holds clients or usage, so the demo would mix with real data."""


@dataclass(frozen=True)
class Authority:
    """A client authority and its volumes: a month's, except invoices and audit days (a year's)."""

    code: str
    name: str
    nation: str
    payslips: int
    invoices: int
    calls: int
    incidents: int
    claims: int
    mail_items: int
    audit_days: int
    properties: int
    first_fix: float  # share of ICT incidents fixed within a couple of hours
    claim_days: float  # mean calendar days to decide a new benefit claim
    address: str


CLIENTS = (
    Authority(
        "ASH", "Ashvale District Council", "england",
        540, 21_000, 5_800, 120, 64, 9_200, 70, 48_310, 0.80, 15.5,
        "Council Offices, Station Road, Ashvale AV1 2BD",
    ),
    Authority(
        "BRK", "Brackenfield Borough Council", "england",
        690, 26_500, 7_300, 150, 82, 11_400, 70, 61_870, 0.78, 17.0,
        "Town Hall, Bridge Street, Brackenfield BF3 4QE",
    ),
    Authority(
        "HOLM", "Holmbridge District Council", "england",
        445, 17_400, 4_400, 95, 51, 7_100, 40, 40_925, 0.82, 19.5,
        "Holmbridge House, Mill Lane, Holmbridge HB2 7TR",
    ),
    Authority(
        "WEX", "Wexcombe County Council", "england",
        5_350, 98_000, 0, 380, 0, 36_500, 260, 0, 0.72, 0,
        "County Hall, Castle Hill, Wexcombe WX1 1HQ",
    ),
    Authority(
        "WXFRA", "Wexcombe Fire and Rescue Authority", "england",
        820, 9_600, 0, 80, 0, 620, 35, 0, 0.84, 0,
        "Service Headquarters, Lowfield Way, Wexcombe WX4 9FR",
    ),
    Authority(
        "GLAN", "Glanafon County Borough Council", "wales",
        3_240, 0, 0, 230, 0, 14_300, 0, 0, 0.79, 0,
        "Canolfan Ddinesig, Glanafon GF7 1CC",
    ),
    Authority(
        "NCOL", "Northmoor College", "england",
        0, 0, 0, 0, 0, 3_100, 0, 0, 0, 0,
        "College Road, Northmoor NM4 6CE",
    ),
)  # fmt: skip
# the joint committee's members: their print is a non-business supply (HMRC VATGPB6800)
JOINT_COMMITTEE = ("ASH", "BRK", "HOLM")
# each client's own cost centre for its recharges
CLIENT_COST_CENTRES = {
    "ASH": "ADC-CS01",
    "BRK": "BBC-7720",
    "HOLM": "HDC-R300",
    "WEX": "WCC-40115",
    "WXFRA": "FRA-SUP2",
    "GLAN": "GCB-1190",
    "NCOL": "COL-ESTATES",
}

# code, name, unit, VAT percent, cost centre, income subjective; the client's expense
# subjective for it
SERVICES = (
    ("PAY", "Payroll and pensions administration", "payslip", 0, "NSS-4100", "9410"),
    ("AP", "Accounts payable", "invoice", 0, "NSS-4200", "9410"),
    ("RB", "Revenues and benefits", "new claim", 0, "NSS-4300", "9420"),
    ("ICT", "ICT service desk", "incident", 0, "NSS-4400", "9430"),
    ("CC", "Customer contact centre", "call", 0, "NSS-4500", "9420"),
    ("AUDIT", "Internal audit", "audit day", 0, "NSS-4600", "9410"),
    ("PRINT", "Print and mail", "mail item", 20, "NSS-4700", "9440"),
)
# Revenues and benefits is funded on cost: its pool is charged on account through the
# year and reconciled to the actual cost at the outturn, approved in May with the year's
# accounts; its 2025-26 cost came in about £61,000 over the £2.28m pool.
FUNDED_ON_COST = "RB"
# Each service's direct cost in 2025-26 (its own cost centre, SERVICES), split between
# the ledger's subjectives; the budget was 2% under it, and the next two years' budgets
# rise 3% a year from it.
DIRECT_COSTS = {
    "PAY": "560000.00",
    "AP": "300000.00",
    "RB": "2208167.90",
    "ICT": "520000.00",
    "CC": "560000.00",
    "AUDIT": "330000.00",
    "PRINT": "255000.00",
}
# What a unit cost the three districts on their own before they shared (the business
# case's "before" position), from their 2018-19 accounts.
BEFORE_SHARING = {"PAY": 7.20, "AP": 2.60, "RB": 1650.00, "ICT": 82.00}
BEFORE_SHARING_PERIOD = "2018-19"
SUBJECTIVES = (("E1000", "0.78"), ("S2000", "0.15"), ("S3000", "0.07"))  # pay, supplies, ICT
# The centre's overheads and the driver values they are apportioned to services by.
OVERHEADS = (
    ("NSS-9010", "Accommodation", "floor area m²", "180000.00",
     {"PAY": 260, "AP": 140, "RB": 420, "ICT": 230, "CC": 310, "AUDIT": 60, "PRINT": 80}),
    ("NSS-9020", "Management and support", "staff FTE", "240000.00",
     {"PAY": 31, "AP": 14, "RB": 62, "ICT": 27, "CC": 34, "AUDIT": 7, "PRINT": 5}),
)  # fmt: skip
COST_COLUMNS = ("cost_centre", "subjective", "month", "kind", "amount")
CLIENT_SUBJECTIVES = {
    "PAY": "5610",
    "AP": "5610",
    "RB": "5620",
    "ICT": "5630",
    "CC": "5620",
    "AUDIT": "5640",
    "PRINT": "5650",
}

# client, service, first and last month (counted from the first month of usage; None =
# open), tier, purchase order. Brackenfield joins the contact centre in its eighth month,
# Holmbridge takes print back in-house after a year, Ashvale moves to premium payroll.
SUBSCRIPTIONS = (
    ("ASH", "PAY", 0, 11, "standard", None),
    ("ASH", "PAY", 12, None, "premium", None),
    ("ASH", "AP", 0, None, "standard", None),
    ("ASH", "RB", 0, None, "standard", None),
    ("ASH", "ICT", 0, None, "standard", None),
    ("ASH", "CC", 0, None, "standard", None),
    ("ASH", "AUDIT", 0, None, "standard", None),
    ("ASH", "PRINT", 0, None, "standard", None),
    ("BRK", "PAY", 0, None, "standard", None),
    ("BRK", "AP", 0, None, "standard", None),
    ("BRK", "RB", 0, None, "standard", None),
    ("BRK", "ICT", 0, None, "standard", None),
    ("BRK", "CC", 7, None, "standard", "BBC/CC/0192"),
    ("BRK", "AUDIT", 0, None, "standard", None),
    ("BRK", "PRINT", 0, None, "standard", None),
    ("HOLM", "PAY", 0, None, "premium", None),
    ("HOLM", "AP", 0, None, "standard", None),
    ("HOLM", "RB", 0, None, "standard", None),
    ("HOLM", "ICT", 0, None, "standard", None),
    ("HOLM", "CC", 0, None, "standard", None),
    ("HOLM", "AUDIT", 0, None, "small", None),
    ("HOLM", "PRINT", 0, 11, "standard", None),
    ("WEX", "PAY", 0, None, "standard", "4500017731"),
    ("WEX", "AP", 0, None, "standard", "4500017732"),
    ("WEX", "ICT", 0, None, "standard", "4500017733"),
    ("WEX", "AUDIT", 0, None, "large", "4500017734"),
    ("WEX", "PRINT", 0, None, "standard", "4500017735"),
    ("WXFRA", "PAY", 0, None, "standard", None),
    ("WXFRA", "AP", 0, None, "standard", None),
    ("WXFRA", "ICT", 0, None, "standard", None),
    ("WXFRA", "AUDIT", 0, None, "small", None),
    ("WXFRA", "PRINT", 0, None, "standard", None),
    ("GLAN", "PAY", 0, None, "premium", "GCBC-PO-88120"),
    ("GLAN", "ICT", 0, None, "standard", "GCBC-PO-88121"),
    ("GLAN", "PRINT", 0, None, "standard", "GCBC-PO-88122"),
    ("NCOL", "PRINT", 0, None, "standard", "NC-PO-3307"),
)
# Holmbridge leaves revenues and benefits after 15 months, having given six months'
# notice in its thirteenth: it pays its share of the pool until the notice ends.
LEAVER = ("HOLM", "RB", 14, 12, 6)  # client, service, last month, notice given, months
# Glanafon's internal audit agreement, signed in the eighth month and back-dated to the
# first: the close of the eighth month catches up the seven months before.
BACK_DATED = ("GLAN", "AUDIT", 0, None, "small", "GCBC-PO-90417")
BACK_DATED_LOADED = 7

KPIS = (
    ("code", "name", "service", "unit", "direction", "target", "amber", "method", "limit",
     "calendar"),
    ("RB-AVG", "Benefit new claims: average days to decide", "RB", "days", "lower", 18, 22,
     "average_elapsed", None, "calendar_days"),
    ("RB-20WD", "Benefit new claims decided within 20 working days", "RB", "percent", "higher",
     80, 70, "within", 20, "working_days"),
    ("ICT-8H", "ICT incidents resolved within 8 hours", "ICT", "percent", "higher", 75, 65,
     "within", 8 * 3600, "seconds"),
    ("ICT-3WD", "ICT incidents resolved within 3 working days", "ICT", "percent", "higher",
     95, 90, "within", 3, "working_days"),
    ("ICT-8SH", "ICT incidents resolved within 8 service-desk hours", "ICT", "percent",
     "higher", 80, 70, "within", 8 * 3600, "service_hours"),
    ("CTAX-COLL", "Council tax collected in year, to date", None, "percent", "higher",
     97, 96, "as_at", None, None),
)  # fmt: skip
DESK_HOURS = ("08:00", "18:00")  # the ICT service desk's hours, Monday to Friday

# The share of the year's council tax due that should be collected by the end of each
# month, April first: the profile each month's collection to date is judged against.
COLLECTION_PROFILE = (10.4, 19.7, 28.9, 38.1, 47.2, 56.3, 65.5, 74.6, 83.4, 91.9, 95.5, 97.0)
BAND_D = 1_950  # the demo's average council tax a property, in pounds

# Volume in each calendar month (January first) against an average month.
SEASON = {
    "AP": (1.0, 1.0, 1.25, 0.9, 1.0, 1.0, 1.0, 0.95, 1.0, 1.0, 1.0, 0.85),
    "CC": (1.05, 1.0, 1.35, 1.3, 1.05, 0.95, 0.95, 0.85, 0.95, 1.0, 0.95, 0.75),
    "PRINT": (1.0, 1.3, 1.8, 1.0, 0.9, 0.9, 0.85, 0.8, 0.9, 1.0, 1.0, 0.9),
    "ICT": (1.1, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 0.85, 1.1, 1.05, 1.0, 0.8),
    "RB": (1.1, 1.0, 1.0, 1.2, 1.0, 0.95, 0.95, 0.9, 1.0, 1.0, 1.0, 0.85),
}
WEEKDAY = (1.2, 1.05, 1.0, 0.95, 0.8)  # Monday to Friday: contact and post peak on Mondays


def _season(service: str, month: Month) -> float:
    factors = SEASON[service]
    return factors[month.month - 1] * len(factors) / sum(factors)


def _years_from_base(year: FinancialYear) -> int:
    return year.start_year - BASE_YEAR.start_year


def _priced(years: int, value: str, step: str = "0.01") -> Decimal:
    """`value` raised by 3% a year for `years` years, rounded to a multiple of `step`."""
    unit = Decimal(step)
    raised = Decimal(value) * Decimal("1.03") ** years / unit
    return raised.quantize(Decimal(1), ROUND_HALF_UP) * unit


TARIFF_COLUMNS = tuple(c.name for c in SHEETS_BY_NAME["tariffs"].columns)


def _estimate(authority: Authority, year: FinancialYear) -> int:
    """The invoices a year a client told the centre to expect, growing 2% a year."""
    return int(round(authority.invoices * 1.02 ** _years_from_base(year), -2))


SUBSCRIPTION_COLUMNS = (
    "client",
    "service",
    "start",
    "end",
    "tier",
    "po_number",
    "vat",
    "client_cost_centre",
    "client_subjective",
    "basis",
    "notice_months",
    "notice_given",
)


def _tariffs(year: FinancialYear) -> list[list[object]]:
    """The Tariffs rows of a financial year: 2025-26 prices, moved 3% a year from then."""
    p = partial(_priced, _years_from_base(year))
    desk = "; ".join(
        f"{limit}={p(fee, '10')}"
        for limit, fee in (("150", "5200"), ("300", "8900"), ("600", "14800"), ("*", "21500"))
    )
    rows: list[dict[str, object]] = [
        {
            "service": "PAY",
            "rule": "graduated",
            "bands": f"1000@{p('5.20')}; 4000@{p('4.40')}; *@{p('3.80')}",
        },
        {
            "service": "PAY",
            "tier": "premium",
            "rule": "graduated",
            "bands": f"1000@{p('6.10')}; 4000@{p('5.25')}; *@{p('4.55')}",
        },
        {"service": "PAY", "client": "WEX", "rule": "unit_rate", "rate": p("3.65")},
        {
            "service": "AP",
            "rule": "unit_rate",
            "rate": p("1.95"),
            "billing": "estimate",
            "true_up_tolerance": 5,
        },
        {
            "service": "RB",
            "rule": "apportion",
            "annual_amount": p("2280000", "100"),
            "driver": "properties",
        },
        {"service": "ICT", "rule": "banded", "bands": desk},
        {
            "service": "CC",
            "rule": "unit_rate",
            "rate": p("3.40"),
            "annual_cap": p("225000", "1000"),
        },
        {"service": "AUDIT", "rule": "fixed_fee", "annual_amount": p("64000", "100")},
        {
            "service": "AUDIT",
            "tier": "small",
            "rule": "fixed_fee",
            "annual_amount": p("36000", "100"),
        },
        {
            "service": "AUDIT",
            "tier": "large",
            "rule": "fixed_fee",
            "annual_amount": p("142000", "100"),
        },
        {
            "service": "PRINT",
            "rule": "unit_rate",
            "rate": p("0.38", "0.0001"),
            "minimum": p("350", "5"),
        },
    ]
    return [[{**row, "financial_year": str(year)}.get(c) for c in TARIFF_COLUMNS] for row in rows]


class _Centre:
    """The demo's plan: reference data and each month's usage, from the first month to the last."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.last = Month.of(now.date()).previous()
        self.first = (self.last + -12).financial_year.first_month
        self.years = [
            FinancialYear(y)
            for y in range(
                self.first.financial_year.start_year,
                Month.of(now.date()).financial_year.start_year + 1,
            )
        ]
        self.calendars = {a.nation: WorkingCalendar(a.nation) for a in CLIENTS}
        leaver, left = LEAVER[:2], LEAVER[2]
        self.subscriptions = [
            (
                client,
                service,
                (self.first + start).first_day,
                self._last_day(left if (client, service) == leaver else end),
                tier,
                po,
            )
            for client, service, start, end, tier, po in (*SUBSCRIPTIONS, BACK_DATED)
        ]
        self.periods: dict[tuple[str, str], list[tuple[date, date | None]]] = {}
        for client, service, start, end, _tier, _po in self.subscriptions:
            self.periods.setdefault((client, service), []).append((start, end))

    def _last_day(self, offset: int | None) -> date | None:
        return None if offset is None else (self.first + offset).last_day

    def subscribed(self, client: str, service: str, day: date) -> bool:
        return any(
            start <= day and (end is None or day <= end)
            for start, end in self.periods.get((client, service), ())
        )

    # -- reference data ------------------------------------------------------------

    def setup_sheets(self) -> dict[str, list[Sequence[object]]]:
        """Every sheet of the setup workbook, header first."""
        sheets: dict[str, list[Sequence[object]]] = {
            "Settings": [
                ["key", "value"],
                ["centre_name", CENTRE],
                ["statement_prefix", "NSS"],
                ["de_minimis", 0],
                ["service_credit_cap_percent", 10],
                ["payment_terms_days", 30],
                ["close_working_day", 3],
                ["centre_address", "Northmoor House, Market Street, Northmoor NM1 1AA"],
                ["vat_number", "GB 318 4402 17"],
                ["vat_control_code", "NSS-9100"],
                ["debtors_code", "NSS-8100"],
                ["remittance_bank", "Northmoor Bank plc, Northmoor Shared Services"],
                ["remittance_sort_code", "40-11-62"],
                ["remittance_account", "71835204"],
                ["remittance_reference", "The statement number, for example NSS-202604-ASH"],
            ],
            "Clients": [
                [
                    "code",
                    "name",
                    "nation",
                    "email",
                    "address",
                    "vat_recoverable_code",
                    "creditors_code",
                ],
                *(
                    [
                        a.code,
                        a.name,
                        a.nation,
                        f"recharges@{a.name.split()[0].lower()}.example",
                        a.address,
                        "2290",  # each client's VAT input and creditors control accounts
                        "2110",
                    ]
                    for a in CLIENTS
                ),
            ],
            "Services": [
                [
                    "code",
                    "name",
                    "unit",
                    "vat_rate",
                    "cost_centre",
                    "subjective",
                    "funding",
                    "baseline_unit_cost",
                    "baseline_period",
                ],
                *(
                    [
                        *s,
                        "cost" if s[0] == FUNDED_ON_COST else "price",
                        BEFORE_SHARING.get(s[0]),
                        BEFORE_SHARING_PERIOD if s[0] in BEFORE_SHARING else None,
                    ]
                    for s in SERVICES
                ),
            ],
            "CostCentres": [
                ["cost_centre", "service", "name", "share", "driver"],
                *([s[4], s[0], f"{s[1]} team", None, None] for s in SERVICES),
                *(
                    [centre, service, name, share, driver]
                    for centre, name, driver, _cost, shares in OVERHEADS
                    for service, share in shares.items()
                ),
            ],
            "Subscriptions": [list(SUBSCRIPTION_COLUMNS)],
            "Drivers": [["client", "financial_year", "driver", "value"]],
            "Tariffs": [list(TARIFF_COLUMNS)],
            "Estimates": [["client", "service", "financial_year", "quantity"]],
            "KPIs": [list(row) for row in KPIS],
            "SLAs": [
                ["client", "kpi", "target", "amber", "service_credit_percent"],
                ["WEX", "ICT-8H", 80, 72, 2],
                ["GLAN", "ICT-3WD", 97, 93, 1.5],
                ["BRK", "RB-AVG", 16, 20, 1],
            ],
            "Baselines": [
                ["kpi", "client", "value", "period"],
                ["RB-AVG", None, 26.4, "2018-19"],
                ["ICT-8H", None, 61, "2018-19"],
            ],
            "Profiles": [["kpi", "client", "month", "target", "amber"]],
            "ServiceHours": [
                ["service", "weekday", "open", "close"],
                *(["ICT", day, *DESK_HOURS] for day in ("mon", "tue", "wed", "thu", "fri")),
            ],
        }
        sheets["Subscriptions"] += [
            self.agreement(row) for row in self.subscriptions if row[:2] != BACK_DATED[:2]
        ]
        for year in self.years:
            n = _years_from_base(year)
            sheets["Profiles"] += [
                ["CTAX-COLL", None, str(month), target, None]
                for month, target in zip(year.months(), COLLECTION_PROFILE, strict=True)
            ]
            sheets["Tariffs"] += _tariffs(year)
            for a in CLIENTS:
                if a.properties:
                    properties = round(a.properties * 1.007**n)
                    sheets["Drivers"].append([a.code, str(year), "properties", properties])
                if a.invoices:
                    sheets["Estimates"].append([a.code, "AP", str(year), _estimate(a, year)])
        return sheets

    def cost_rows(self) -> list[list[object]]:
        """The centre's ledger: each year's budget, from 2025-26 to the year after this
        one, and the actual costs of every month closed so far."""
        costs = [(s[4], Decimal(DIRECT_COSTS[s[0]])) for s in SERVICES]
        costs += [(centre, Decimal(cost)) for centre, _name, _driver, cost, _ in OVERHEADS]
        rows: list[list[object]] = []
        for year in [*self.years, FinancialYear(self.years[-1].start_year + 1)]:
            growth = Decimal("1.03") ** _years_from_base(year)
            for kind, factor in (("budget", growth * Decimal("0.98")), ("actual", growth)):
                for centre, annual in costs:
                    for subjective, part in SUBJECTIVES:
                        amounts = instalments(annual * factor * Decimal(part))
                        rows += [
                            [centre, subjective, str(m), kind, amount]
                            for m, amount in zip(year.months(), amounts, strict=True)
                            if kind == "budget" or m <= self.last
                        ]
        return rows

    def issued_at(self, month: Month) -> datetime:
        """When the centre issued `month`: 10:00 on the third working day of the next month
        (the close day of the Settings), or now if that is still to come."""
        day = self.calendars["england"].nth_working_day(month.next().year, month.next().month, 3)
        return min(datetime.combine(day, time(10), LONDON), self.now.replace(tzinfo=LONDON))

    def agreement(self, row: tuple[str, str, date, date | None, str, str | None]) -> list[object]:
        """A Subscriptions row with the agreement behind it: the districts' joint committee
        (s101) takes services outside the scope of VAT; the others buy them under the
        Goods and Services Act or a contract, paying VAT where the service bears it."""
        client, service = row[0], row[1]
        member = client in JOINT_COMMITTEE
        council = client != "NCOL"
        noticed = (client, service) == LEAVER[:2]
        return [
            *row,
            "outside_scope" if member else "service",
            CLIENT_COST_CENTRES[client],
            CLIENT_SUBJECTIVES[service],
            "s101" if member else "goods_and_services_act" if council else "contract",
            LEAVER[4] if noticed else 12 if member else 6,
            (self.first + LEAVER[3]).first_day if noticed else None,
        ]

    def back_dated_sheets(self) -> dict[str, list[Sequence[object]]]:
        """The setup workbook of the agreement signed late and back-dated."""
        row = next(r for r in self.subscriptions if r[:2] == BACK_DATED[:2])
        return {"Subscriptions": [list(SUBSCRIPTION_COLUMNS), self.agreement(row)]}

    # -- submitted figures -----------------------------------------------------------

    def collection_rows(self, month: Month) -> list[list[object]]:
        """The month's council tax collected to date for each council whose revenues the
        centre runs: a little ahead of or behind the profile, by council and by month."""
        rows: list[list[object]] = []
        profile = COLLECTION_PROFILE[month - month.financial_year.first_month]
        for a in CLIENTS:
            if not a.properties or not self.subscribed(a.code, "RB", month.last_day):
                continue
            due = round(a.properties * 1.007 ** _years_from_base(month.financial_year) * BAND_D)
            rng = random.Random(f"{SEED}:{a.code}:{month}")
            share = profile + (a.first_fix - 0.8) * 20 + rng.uniform(-0.4, 0.4)
            rows.append(["CTAX-COLL", a.code, str(month), round(due * min(share, 99.5) / 100), due])
        return rows

    # -- usage ---------------------------------------------------------------------

    def usage_rows(self, month: Month) -> list[list[object]]:
        """The month's usage file: daily counts, pay runs, audit days, timed incidents and
        claims, and now and then a late print job sheet for the month before."""
        rng = random.Random(f"{SEED}:{month}")
        rows: list[list[object]] = []
        for a in CLIENTS:
            calendar = self.calendars[a.nation]
            dates = (month.first_day + timedelta(days=i) for i in range(month.last_day.day))
            days = [day for day in dates if calendar.is_working_day(day)]
            rows += self._payroll(rng, a, days)
            bias = random.Random(f"{SEED}:{a.code}:{month.financial_year}").uniform(0.9, 1.1)
            invoices = _estimate(a, month.financial_year) / 12 * bias * _season("AP", month)
            rows += self._daily(rng, a, "AP", invoices, days, "Payment run")
            rows += self._daily(rng, a, "CC", a.calls * _season("CC", month), days, None)
            rows += self._daily(rng, a, "PRINT", a.mail_items * _season("PRINT", month), days, None)
            rows += self._audit(rng, a, days)
            rows += self._incidents(rng, a, month, days)
            rows += self._claims(rng, a, month, days, calendar)
        if month > self.first and month.month in (1, 5, 9):
            rows += self._late_print(rng, month.previous())
        return rows

    def _daily(
        self,
        rng: random.Random,
        a: Authority,
        service: str,
        monthly: float,
        days: list[date],
        reference: str | None,
    ) -> list[list[object]]:
        """One row a working day with the day's count, busier on Mondays."""
        rows = []
        for day in days:
            mean = monthly / len(days) * WEEKDAY[day.weekday()]
            quantity = round(rng.gauss(mean, mean * 0.15))
            if quantity > 0 and self.subscribed(a.code, service, day):
                event = f"{service}-{a.code}-{day:%Y%m%d}"
                rows.append([event, a.code, service, day, quantity, reference, None, None])
        return rows

    def _payroll(self, rng: random.Random, a: Authority, days: list[date]) -> list[list[object]]:
        """The main monthly pay run (on the 25th or the working day before; the 18th in
        December) and a small supplementary run around the 10th."""
        pay_day = max(d for d in days if d.day <= (18 if d.month == 12 else 25))
        extra_day = max(d for d in days if d.day <= 10)
        label = Month.of(pay_day).label
        growth = 1.01 ** _years_from_base(FinancialYear.of(pay_day))
        runs = [
            (pay_day, "M", a.payslips * growth * rng.uniform(0.985, 1.015), f"Payroll {label}"),
            (extra_day, "S", a.payslips * rng.uniform(0.02, 0.05), f"Supplementary {label}"),
        ]
        rows = []
        for day, run, quantity, reference in runs:
            if self.subscribed(a.code, "PAY", day):
                event = f"PAY-{a.code}-{day:%Y%m%d}-{run}"
                rows.append([event, a.code, "PAY", day, round(quantity), reference, None, None])
        return rows

    def _audit(self, rng: random.Random, a: Authority, days: list[date]) -> list[list[object]]:
        """Audit days delivered, booked in half days on the last working day of each week."""
        rows = []
        weekly = a.audit_days / 46 * (0.5 if days[0].month in (8, 12) else 1)
        week_ends = [
            d
            for i, d in enumerate(days)
            if i + 1 == len(days) or days[i + 1].weekday() < d.weekday()
        ]
        for day in week_ends:
            quantity = round(max(rng.gauss(weekly, weekly * 0.35), 0) * 2) / 2
            if quantity > 0 and self.subscribed(a.code, "AUDIT", day):
                event = f"AUDIT-{a.code}-{day:%Y%m%d}"
                rows.append([event, a.code, "AUDIT", day, quantity, "Audit plan", None, None])
        return rows

    def _timed(self, started: datetime, completed: datetime) -> tuple[str, str | None]:
        """Start and finish as London local times; a case not finished by now is still open."""
        finish = completed.isoformat(timespec="minutes") if completed <= self.now else None
        return started.isoformat(timespec="minutes"), finish

    def _paused(self, reference: str, started: datetime, completed: datetime) -> tuple[str, ...]:
        """Now and then a long incident waits on its caller ("awaiting information") for a
        while: its pause, from a seed of its own so that the other figures stay the same."""
        rng = random.Random(f"{SEED}:pause:{reference}")
        if completed - started < timedelta(hours=12) or rng.random() > 0.3:
            return ()
        paused = started + timedelta(minutes=rng.randrange(30, 180))
        resumed = min(paused + timedelta(hours=rng.uniform(3, 20)), completed)
        return paused.isoformat(timespec="minutes"), resumed.isoformat(timespec="minutes")

    def _incidents(
        self, rng: random.Random, a: Authority, month: Month, days: list[date]
    ) -> list[list[object]]:
        """Service desk incidents: most fixed within hours, some the next day, a few in days."""
        rows: list[list[object]] = []
        count = round(a.incidents * _season("ICT", month) * rng.uniform(0.92, 1.08))
        for n in range(1, count + 1):
            day = rng.choice(days)
            if not self.subscribed(a.code, "ICT", day):
                continue
            started = datetime.combine(day, time(8)) + timedelta(minutes=rng.randrange(570))
            draw = rng.random()
            if draw < a.first_fix:
                hours = rng.expovariate(1 / 1.6)
            elif draw < a.first_fix + 0.15:
                hours = rng.uniform(15, 28)
            else:
                hours = rng.uniform(30, 150)
            completed = started + timedelta(hours=hours)
            while completed.weekday() >= 5:
                completed += timedelta(days=1)
            reference = f"INC{month.compact[2:]}{a.code[:2]}{n:04d}"
            timed = self._timed(started, completed)
            paused = self._paused(reference, started, completed) if timed[1] else ()
            rows.append([f"ICT-{reference}", a.code, "ICT", day, 1, reference, *timed, *paused])
        return rows

    def _claims(
        self,
        rng: random.Random,
        a: Authority,
        month: Month,
        days: list[date],
        calendar: WorkingCalendar,
    ) -> list[list[object]]:
        """New benefit claims from receipt to decision, slower at the April uprating."""
        rows: list[list[object]] = []
        count = round(a.claims * _season("RB", month) * rng.uniform(0.9, 1.1))
        for n in range(1, count + 1):
            day = rng.choice(days)
            if not self.subscribed(a.code, "RB", day):
                continue
            started = datetime.combine(day, time(9)) + timedelta(minutes=rng.randrange(450))
            mean = a.claim_days * (1.2 if month.month in (4, 5) else 1)
            decided = day + timedelta(days=round(rng.gammavariate(4, mean / 4)))
            while not calendar.is_working_day(decided):
                decided += timedelta(days=1)
            completed = datetime.combine(decided, time(9)) + timedelta(minutes=rng.randrange(480))
            reference = f"HB/{a.code}/{month.compact}/{n:03d}"
            timed = self._timed(started, completed)
            rows.append([f"RB-{reference}", a.code, "RB", day, 1, reference, *timed])
        return rows

    def _late_print(self, rng: random.Random, month: Month) -> list[list[object]]:
        """A print job sheet that missed last month's file: billed as a prior-period line."""
        authority = rng.choice([a for a in CLIENTS if a.code in ("ASH", "BRK", "WEX", "GLAN")])
        code = authority.code
        calendar = self.calendars[authority.nation]
        day = month.last_day
        while not calendar.is_working_day(day):
            day -= timedelta(days=1)
        if not self.subscribed(code, "PRINT", day):
            return []
        quantity = round(authority.mail_items * rng.uniform(0.04, 0.08))
        reference = f"Late job sheet, {month.label}"
        event = f"PRINT-{code}-{day:%Y%m%d}-LATE"
        return [[event, code, "PRINT", day, quantity, reference, None, None]]


def _write_csv(
    path: Path, rows: Iterable[Sequence[object]], header: Sequence[str] = COLUMNS
) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def load_demo(database: Database, now: datetime | None = None) -> str:
    """Load the demo centre, with usage up to last month closed and issued and each billed
    quarter's KPIs finalised (raising service credits), in one transaction; return a one-line
    summary. Raises DemoNotEmpty if the database holds clients or usage.

    `now` (naive London time, default the clock) fixes which month is last month.
    """
    centre = _Centre(now or datetime.now(LONDON).replace(tzinfo=None))
    events = statements = 0
    with database.transaction() as session, tempfile.TemporaryDirectory() as folder:
        clients = session.scalar(select(func.count()).select_from(Client))
        usage = session.scalar(select(func.count()).select_from(UsageEvent))
        if clients or usage:
            raise DemoNotEmpty(
                f"the database already holds {clients} client(s) and {usage} usage event(s); "
                "the demo loads only into an empty database"
            )
        book = write_sheets(Path(folder) / "demo-setup.xlsx", centre.setup_sheets())
        load_setup(session, book, actor=ACTOR, issued=ISSUED)
        ledger = _write_csv(Path(folder) / "demo-ledger.csv", centre.cost_rows(), COST_COLUMNS)
        import_costs(session, ledger, actor=DEMO, is_settled=outturn_is_settled)
        for month in iter_months(centre.first, centre.last):
            if month == centre.first + BACK_DATED_LOADED:
                late = write_sheets(
                    Path(folder) / "demo-agreement.xlsx", centre.back_dated_sheets()
                )
                load_setup(session, late, actor=ACTOR, issued=ISSUED)
            path = _write_csv(Path(folder) / f"demo-usage-{month}.csv", centre.usage_rows(month))
            events += import_file(session, path, DEMO).inserted
            collected = _write_csv(
                Path(folder) / f"demo-ctax-{month}.csv", centre.collection_rows(month), KPI_COLUMNS
            )
            import_figures(session, collected, actor=DEMO, is_final=month_is_final)
            close_month(session, month, DEMO)
            holding = (REVIEWING,) if month == centre.last else ()
            statements += len(issue_month(session, month, DEMO, centre.issued_at(month), holding))
            if month.month in (3, 6, 9, 12):  # a quarter is billed: freeze it, raise its credits
                finalise_quarter(session, month.quarter, DEMO)
                _comment(session, month.quarter)
            if month.month == 5 and month.financial_year.previous() in centre.years:
                # the accounts are closed: the outturn approved, then the year locked
                approve_outturn(session, month.financial_year.previous(), DEMO)
                lock_year(session, month.financial_year.previous(), DEMO)
        _queries(session, centre.last)
        sign_ins = _users(session)
    months = centre.last - centre.first + 1
    return (
        f"demo loaded: {CENTRE}, {len(CLIENTS)} clients, {len(SERVICES)} services, "
        f"{months} months of usage from {centre.first.label} to "
        f"{centre.last.label} ({events:,} events), {statements} statements issued, "
        f"{REVIEWING}'s {centre.last.label} statement still a draft in review\n"
        f"demo sign-ins (evaluation only; the password is {DEMO_PASSWORD}):\n{sign_ins}"
    )


COMMENTARY = {
    "ICT-3WD": "Nearly every incident was resolved within three working days; the few that "
    "were not waited on parts from suppliers.",
    "ICT-8H": "Same-day fixes dipped at the start of the quarter while two engineers were "
    "trained on the new service desk, and recovered by its end.",
    "RB-20WD": "New claims rose after the autumn price rises; overtime kept most decisions "
    "within twenty working days.",
    "RB-AVG": "The average time to decide a new claim stayed close to the target of 18 days.",
    "ICT-8SH": "Counted on the service desk's hours, 8am to 6pm on weekdays, less time "
    "waiting on callers: most incidents logged late in the day were fixed the next morning.",
    "CTAX-COLL": "Collection to date is judged against the month's profile, not the 97% due "
    "by March; Brackenfield runs a little behind it after moving to monthly direct debits.",
}  # the managers' commentary on each finished quarter


def _comment(session: Session, quarter: Quarter) -> None:
    """The managers' commentary on a finished quarter's KPIs, for the publication."""
    for kpi, text in COMMENTARY.items():
        set_commentary(session, quarter, kpi, text, "manager@northmoor.example")


def _payroll_line(session: Session, number: str) -> tuple[int, Decimal]:
    """Where statement `number`'s payroll charge is (counting from 1), and its price per
    payslip."""
    lines = get_statement(session, number).lines
    position, line = next(
        (n, line)
        for n, line in enumerate(lines, start=1)
        if line.kind == "charge" and line.service and line.service.code == "PAY"
    )
    return position, (line.amount / line.quantity).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _queries(session: Session, last: Month) -> None:
    """Queries as councils raise them: one accepted (its adjustment waits for the next close)
    and one rejected on earlier statements, one open on last month's, and one on the draft
    still in review."""
    earlier = f"NSS-{(last + -2).compact}-BRK"
    position, rate = _payroll_line(session, earlier)
    accepted = raise_query(
        session,
        earlier,
        position,
        "Twelve of these payslips were test runs for our new starters' module.",
        "finance@brackenfield.example",
    )
    answer_query(
        session,
        accepted.id,
        True,
        "Agreed: the 12 test payslips come off your next statement.",
        "finance@northmoor.example",
        amount=-12 * rate,
    )
    rejected = raise_query(
        session,
        f"NSS-{(last + -1).compact}-BRK",
        None,
        "Our revenues and benefits caseload fell, so why has our share not?",
        "finance@brackenfield.example",
    )
    answer_query(
        session,
        rejected.id,
        False,
        "The pool is shared by the number of properties (the published driver), not by "
        "caseload, so the share follows the year's property count.",
        "finance@northmoor.example",
    )
    latest = f"NSS-{last.compact}-ASH"
    raise_query(
        session,
        latest,
        _payroll_line(session, latest)[0],
        "Please confirm the number of payslips: our HR system shows fewer.",
        "finance@ashvale.example",
    )
    raise_query(
        session,
        f"NSS-{last.compact}-{REVIEWING}",
        None,
        "We are checking the print volumes against our post room's log before we agree.",
        "finance@wexcombe.example",
    )


def _users(session: Session) -> str:
    """One user per role with the demo's password; the lines that say how to sign in."""
    lines = []
    for email, role, client in DEMO_USERS:
        user, _ = create_user(session, email, role, client, actor=ACTOR, password=DEMO_PASSWORD)
        lines.append(f"  {role:<8} {user.email}")
    return "\n".join(lines)
