"""The setup workbook: reference data upserted by natural key, all or nothing.

Every sheet is optional. Each row is parsed cell by cell, then checked against the
rows already loaded (from this workbook or earlier ones); any problem anywhere
rolls the whole workbook back and is reported with sheet, row and column. The workbook
is checked before it is read (importers.xlsx), each sheet holds at most SETUP_ROWS rows,
and rows are read as they are loaded, so that no sheet is ever held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.rules import RULES, format_bands, parse_bands
from importers import tables as cell
from importers.tables import Spilled, blank, check_header, named_rows
from importers.xlsx import Limits, open_workbook
from opsplatform.calendars import NATIONS
from opsplatform.errors import TARIFF_FROZEN, Problem, Problems, Refused
from opsplatform.models import (
    CalendarOverride,
    Client,
    Driver,
    Estimate,
    Kpi,
    KpiBaseline,
    Service,
    Setting,
    Sla,
    Subscription,
    Tariff,
)
from opsplatform.periods import FinancialYear


def _one_of(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        result = cell.text(value).lower()
        if result not in choices:
            raise ValueError(f"'{cell.text(value)}' is not one of {', '.join(choices)}")
        return result

    return parse


def _financial_year(value: object) -> str:
    return str(FinancialYear.parse(cell.text(value)))


def _percent(value: object) -> object:
    result = cell.decimal(value)
    if not 0 <= result <= 100:
        raise ValueError(f"'{cell.text(value)}' is not a percentage from 0 to 100")
    return result


def _not_negative(parse: Callable[[object], object]) -> Callable[[object], object]:
    def checked(value: object) -> object:
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


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[object], object]
    required: bool = True
    default: object = None
    note: str = ""


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: list[Column]
    note: str
    example: list[object] = field(default_factory=list)

    def column_names(self) -> set[str]:
        return {c.name for c in self.columns}


SETTINGS = {
    "centre_name": (cell.text, "Name of the shared-service centre, shown on statements"),
    "statement_prefix": (cell.code, "Prefix of statement numbers (default SSC)"),
    "de_minimis": (_not_negative(cell.money), "Smallest amount billed for a service (GBP)"),
    "service_credit_cap_percent": (_percent, "Cap on a quarter's service credits (default 100)"),
    "payment_terms_days": (cell.whole, "Days from issue to payment due (default 30)"),
    "close_working_day": (cell.whole, "Working day of the month for the close (default 3)"),
}

SHEETS = [
    Sheet(
        "Settings",
        [Column("key", _one_of(*SETTINGS)), Column("value", cell.text)],
        "Centre-wide settings, one key a row: " + ", ".join(SETTINGS),
        ["centre_name", "Fylde Coast Shared Services"],
    ),
    Sheet(
        "Clients",
        [
            Column("code", cell.code, note="2-12 of A-Z 0-9 -"),
            Column("name", cell.text),
            Column("nation", _one_of(*NATIONS), False, "england", "bank holidays to use"),
            Column("email", _email, False),
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
        ],
        "Services on the menu, keyed by code",
        ["PAY", "Payroll", "payslip", 0, "CC100"],
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
        ],
        "Which client uses which service, from start to end; keyed by client, service, start",
        ["WYR", "PAY", "2026-04-01", None, "standard", "PO-1234"],
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
            Column("rule", _one_of(*RULES)),
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
            Column("billing", _one_of("actual", "estimate"), False, "actual"),
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
            Column("unit", _one_of("percent", "days", "seconds", "count")),
            Column("direction", _one_of("higher", "lower")),
            Column("target", cell.decimal),
            Column("amber", cell.decimal),
            Column("method", _one_of("within", "average_elapsed", "submitted")),
            Column("limit", _not_negative(cell.decimal), False),
            Column(
                "calendar",
                _one_of("working_days", "calendar_days", "seconds"),
                False,
                "working_days",
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
            Column("nation", _one_of(*NATIONS)),
            Column("date", cell.day),
            Column("action", _one_of("add", "remove"), False, "add", "add a holiday or remove one"),
            Column("name", cell.text, False),
        ],
        "Local changes to a nation's bank holidays, used in working-day KPIs",
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
]
SHEETS_BY_NAME = {s.name.lower(): s for s in SHEETS}


@dataclass
class LoadReport:
    """What a load did (or, dry, would do): rows created, updated and unchanged per sheet."""

    dry_run: bool
    sheets: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, sheet: str, outcome: str) -> None:
        counts = self.sheets.setdefault(sheet, {"created": 0, "updated": 0, "unchanged": 0})
        counts[outcome] += 1

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "sheets": self.sheets}


class _Loader:
    def __init__(self, session: Session, report: LoadReport, rerate: bool, issued_months) -> None:
        self.session = session
        self.report = report
        self.rerate = rerate
        self.issued_months = issued_months
        self.problems = Problems()
        self.absent: set[str] = set()
        self.before = 0  # problems found before the row being loaded

    def problem(self, message: str, sheet: str, row: int, column: str | None = None) -> None:
        self.problems.append(Problem(message, sheet, row, column))

    def find(self, model, **key):
        return self.session.scalars(select(model).filter_by(**key)).one_or_none()

    def kept(self, values: dict) -> dict:
        """The values a sheet really gives: a column left out of it changes nothing."""
        return {k: v for k, v in values.items() if k not in self.absent}

    def upsert(self, sheet: str, model, key: dict, values: dict):
        """Create or update the row with natural `key`; count what happened."""
        row = self.find(model, **key)
        if row is None:
            row = model(**key, **values)
            self.session.add(row)
            self.report.count(sheet, "created")
            self.session.flush()
            return row
        values = self.kept(values)
        if any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            self.report.count(sheet, "updated")
        else:
            self.report.count(sheet, "unchanged")
        self.session.flush()
        return row

    def ref(self, model, code: str, sheet: str, row: int, column: str):
        found = self.find(model, code=code)
        if found is None:
            kind = {Client: "client", Service: "service", Kpi: "KPI"}[model]
            self.problem(f"unknown {kind} '{code}'", sheet, row, column)
        return found

    # One method per sheet: check what cells alone cannot, then upsert.

    def settings(self, n: int, r: dict) -> None:
        parse, _ = SETTINGS[r["key"]]
        try:
            value = parse(r["value"])
        except ValueError as error:
            self.problem(str(error), "Settings", n, "value")
            return
        self.upsert("Settings", Setting, {"key": r["key"]}, {"value": str(value)})

    def clients(self, n: int, r: dict) -> None:
        self.upsert("Clients", Client, {"code": r["code"]}, _without(r, "code"))

    def services(self, n: int, r: dict) -> None:
        self.upsert("Services", Service, {"code": r["code"]}, _without(r, "code"))

    def subscriptions(self, n: int, r: dict) -> None:
        client = self.ref(Client, r["client"], "Subscriptions", n, "client")
        service = self.ref(Service, r["service"], "Subscriptions", n, "service")
        if r["end"] is not None and r["end"] < r["start"]:
            self.problem("end is before start", "Subscriptions", n, "end")
        if client is None or service is None or self.troubled():
            return
        key = {"client_id": client.id, "service_id": service.id, "start": r["start"]}
        others = self.session.scalars(
            select(Subscription).filter_by(client_id=client.id, service_id=service.id)
        )
        for other in others:
            if other.start != r["start"] and other.overlaps(r["start"], r["end"] or r["start"].max):
                self.problem(
                    f"overlaps the subscription of {client.code} to {service.code} from {other.start}",
                    "Subscriptions",
                    n,
                    "start",
                )
                return
        self.upsert("Subscriptions", Subscription, key, _without(r, "client", "service", "start"))

    def drivers(self, n: int, r: dict) -> None:
        client = self.ref(Client, r["client"], "Drivers", n, "client")
        if r["driver"] in ("equal", "usage"):
            self.problem(f"'{r['driver']}' is built in and needs no values", "Drivers", n, "driver")
        if client is None or self.troubled():
            return
        key = {"client_id": client.id, "financial_year": r["financial_year"], "driver": r["driver"]}
        self.upsert("Drivers", Driver, key, {"value": r["value"]})

    def tariffs(self, n: int, r: dict) -> None:
        sheet = "Tariffs"
        service = self.ref(Service, r["service"], sheet, n, "service")
        client = self.ref(Client, r["client"], sheet, n, "client") if r["client"] else None
        rule = r["rule"]
        if r["client"] and r["tier"]:
            self.problem("name a client or a tier, not both", sheet, n, "tier")
        needs = {
            "unit_rate": "rate",
            "graduated": "bands",
            "banded": "bands",
            "fixed_fee": "annual_amount",
            "apportion": "annual_amount",
        }[rule]
        if r[needs] is None:
            self.problem(f"a {rule} tariff needs {needs}", sheet, n, needs)
        for other in ("rate", "bands", "annual_amount"):
            if other != needs and r[other] is not None:
                self.problem(f"a {rule} tariff takes no {other}", sheet, n, other)
        if rule in ("graduated", "banded") and r["bands"] is not None:
            try:
                r["bands"] = format_bands(parse_bands(r["bands"], rule), rule)
            except ValueError as error:
                self.problem(str(error), sheet, n, "bands")
        if rule == "apportion" and r["driver"] is None:
            self.problem(
                "an apportion tariff needs a driver: equal, usage or a Drivers name",
                sheet,
                n,
                "driver",
            )
        if rule != "apportion" and r["driver"] is not None:
            self.problem(f"a {rule} tariff takes no driver", sheet, n, "driver")
        if rule == "apportion" and (r["client"] or r["tier"]):
            self.problem(
                "an apportion tariff pools the whole service: no client or tier", sheet, n, "client"
            )
        if r["billing"] == "estimate" and rule != "unit_rate":
            self.problem("estimate billing is for unit_rate tariffs only", sheet, n, "billing")
        if service is None or self.troubled() or (r["client"] and client is None):
            return
        scope = f"client:{client.code}" if client else f"tier:{r['tier']}" if r["tier"] else "all"
        key = {"service_id": service.id, "financial_year": r["financial_year"], "scope": scope}
        values = _without(r, "service", "financial_year", "client")
        values["client_id"] = client.id if client else None
        existing = self.find(Tariff, **key)
        changed = existing is None or any(
            getattr(existing, k) != v for k, v in self.kept(values).items()
        )
        if changed and not self.rerate:
            months = self.issued_months(self.session, r["financial_year"])
            if months:
                self.problems.append(
                    Problem(
                        f"the tariffs of {r['financial_year']} are frozen: statements for "
                        f"{', '.join(months)} are issued",
                        sheet,
                        n,
                        "rule",
                        TARIFF_FROZEN,
                    )
                )
                return
        if existing is not None and changed:
            values["version"] = existing.version + 1
        self.upsert(sheet, Tariff, key, values)

    def estimates(self, n: int, r: dict) -> None:
        client = self.ref(Client, r["client"], "Estimates", n, "client")
        service = self.ref(Service, r["service"], "Estimates", n, "service")
        if client is None or service is None:
            return
        key = {
            "client_id": client.id,
            "service_id": service.id,
            "financial_year": r["financial_year"],
        }
        self.upsert("Estimates", Estimate, key, {"quantity": r["quantity"]})

    def kpis(self, n: int, r: dict) -> None:
        service = self.ref(Service, r["service"], "KPIs", n, "service") if r["service"] else None
        if r["method"] == "within" and r["limit"] is None:
            self.problem("a within KPI needs a limit", "KPIs", n, "limit")
        if r["method"] in ("within", "average_elapsed") and service is None and not r["service"]:
            self.problem(
                f"a {r['method']} KPI is measured on a service's usage: name it",
                "KPIs",
                n,
                "service",
            )
        _check_thresholds(self, "KPIs", n, r["direction"], r["target"], r["amber"])
        if self.troubled() or (r["service"] and service is None):
            return
        values = _without(r, "code", "service")
        values["service_id"] = service.id if service else None
        self.upsert("KPIs", Kpi, {"code": r["code"]}, values)

    def slas(self, n: int, r: dict) -> None:
        client = self.ref(Client, r["client"], "SLAs", n, "client")
        kpi = self.ref(Kpi, r["kpi"], "SLAs", n, "kpi")
        if client is None or kpi is None:
            return
        target = r["target"] if r["target"] is not None else kpi.target
        amber = r["amber"] if r["amber"] is not None else kpi.amber
        _check_thresholds(self, "SLAs", n, kpi.direction, target, amber)
        if self.troubled():
            return
        key = {"client_id": client.id, "kpi_id": kpi.id}
        self.upsert("SLAs", Sla, key, _without(r, "client", "kpi"))

    def holidays(self, n: int, r: dict) -> None:
        key = {"nation": r["nation"], "day": r["date"]}
        self.upsert("Holidays", CalendarOverride, key, {"action": r["action"], "name": r["name"]})

    def baselines(self, n: int, r: dict) -> None:
        kpi = self.ref(Kpi, r["kpi"], "Baselines", n, "kpi")
        client = self.ref(Client, r["client"], "Baselines", n, "client") if r["client"] else None
        if kpi is None or (r["client"] and client is None):
            return
        key = {"kpi_id": kpi.id, "scope": client.code if client else "centre"}
        self.upsert("Baselines", KpiBaseline, key, {"value": r["value"], "period": r["period"]})

    def troubled(self) -> bool:
        """Whether the row being loaded has a problem."""
        return self.problems.total > self.before


def _check_thresholds(loader: _Loader, sheet: str, n: int, direction: str, target, amber) -> None:
    if direction == "higher" and amber > target:
        loader.problem("amber must not be above target when higher is better", sheet, n, "amber")
    if direction == "lower" and amber < target:
        loader.problem("amber must not be below target when lower is better", sheet, n, "amber")


def _without(row: dict, *keys: str) -> dict:
    return {k: v for k, v in row.items() if k not in keys}


def _parse_row(sheet: Sheet, number: int, raw: dict, problems: Problems) -> dict | None:
    parsed = {}
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


SETUP_ROWS = 20_000  # rows under a sheet's header: ten years of a 50-council centre's
SETUP = Limits(rows=SETUP_ROWS + 1, columns=26)
PROGRESS_ROWS = 100  # rows loaded between reports of progress


def read_workbook(path: Path, problems: Problems) -> dict[str, Iterator[tuple[int, dict]]]:
    """Every known sheet's rows as (row number, raw cells), read as they are loaded; the
    problems of sheet names, headers and values beyond them go to `problems` (beside the
    rows' own, sheet by sheet)."""
    book = open_workbook(path, SETUP, every_sheet=True)
    sheets = {}
    for title in book.sheet_names:
        sheet = SHEETS_BY_NAME.get(title.strip().lower())
        if sheet is None:
            if title.strip().lower() != "notes":
                problems.append(
                    Problem(f"unknown sheet; expected {', '.join(s.name for s in SHEETS)}", title)
                )
        elif title in book.sheets:
            sheets[sheet.name] = _sheet_rows(book.rows(title), sheet, problems)
    return sheets


def _sheet_rows(raw: Iterator, sheet: Sheet, problems: Problems) -> Iterator[tuple[int, dict]]:
    header, rows = named_rows(raw, margin=True)
    required = {c.name for c in sheet.columns if c.required}
    problems += check_header(header or [], sheet.column_names(), required, sheet.name)
    for number, row in rows:
        if row.__class__ is Spilled:
            problems.append(row.problem(sheet.name, number))
        yield number, row


def load_setup(
    session: Session,
    path: Path,
    dry_run: bool = False,
    rerate: bool = False,
    issued_months: Callable[[Session, str], list[str]] = lambda _session, _year: [],
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load a setup workbook into the session's transaction; raise Refused on any problem.

    `issued_months(session, year)` names the months of a financial year with issued
    statements: a tariff of such a year may change only with `rerate`. The caller
    commits (or, for a dry run, rolls back). `progress`, if given, is told the number of
    rows loaded every PROGRESS_ROWS rows.
    """
    problems = Problems()
    sheets = read_workbook(path, problems)
    return load_sheets(session, sheets, problems, dry_run, rerate, issued_months, progress)


def load_sheets(
    session: Session,
    sheets: dict[str, Iterable[tuple[int, dict]]],
    problems: Problems | list[Problem] | None = None,
    dry_run: bool = False,
    rerate: bool = False,
    issued_months: Callable[[Session, str], list[str]] = lambda _session, _year: [],
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load rows given as a workbook's sheets would give them (raw cells by header),
    checked exactly as the workbook's; raise Refused with `problems` and any found."""
    report = LoadReport(dry_run=dry_run)
    loader = _Loader(session, report, rerate, issued_months)
    if isinstance(problems, Problems):
        loader.problems = problems
    else:
        loader.problems += problems or []
    done = 0
    for sheet in SHEETS:
        handle = getattr(loader, sheet.name.lower())
        keys_seen: dict[tuple, int] = {}
        rows = iter(sheets.get(sheet.name, ()))
        first = next(rows, None)
        loader.absent = sheet.column_names() - set(first[1]) if first else set()
        for number, raw in chain([first], rows) if first else ():
            done += 1
            if progress is not None and done % PROGRESS_ROWS == 0:
                progress(done)
            loader.before = loader.problems.total
            row = _parse_row(sheet, number, raw, loader.problems)
            if row is None:
                continue
            key = _natural_key(sheet.name, row)
            if key in keys_seen:
                loader.problem(f"repeats row {keys_seen[key]}", sheet.name, number)
                continue
            keys_seen[key] = number
            handle(number, row)
    if loader.problems:
        raise Refused(loader.problems)
    return report


_KEYS = {
    "Settings": ("key",),
    "Clients": ("code",),
    "Services": ("code",),
    "Subscriptions": ("client", "service", "start"),
    "Drivers": ("client", "financial_year", "driver"),
    "Tariffs": ("service", "financial_year", "client", "tier"),
    "Estimates": ("client", "service", "financial_year"),
    "KPIs": ("code",),
    "SLAs": ("client", "kpi"),
    "Holidays": ("nation", "date"),
    "Baselines": ("kpi", "client"),
}


_MODELS = {
    "Settings": Setting,
    "Clients": Client,
    "Services": Service,
    "Subscriptions": Subscription,
    "Drivers": Driver,
    "Tariffs": Tariff,
    "Estimates": Estimate,
    "KPIs": Kpi,
    "SLAs": Sla,
    "Holidays": CalendarOverride,
    "Baselines": KpiBaseline,
}
# each sheet's text columns stored in a column of limited length, by name
_LONGEST = {
    sheet: {c.name: c.type.length for c in model.__table__.columns if getattr(c.type, "length", 0)}
    for sheet, model in _MODELS.items()
}


def _natural_key(sheet: str, row: dict) -> tuple:
    return tuple(row[k] for k in _KEYS[sheet])
