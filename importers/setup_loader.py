"""Writing checked setup rows: each upserted by its natural key, after the checks that
cells alone cannot make.

`load_sheets` takes rows as a workbook's sheets give them (raw cells by header), parses
each (importers.setup_sheets), refuses a row repeating another's key, and hands it to the
loader's method for its sheet, which checks it against the rows already loaded (from
this workbook or earlier ones: unknown codes, overlapping subscriptions, a tariff's
parts, thresholds, frozen tariffs) and creates or updates it. Any problem anywhere
refuses the whole load. The LoadReport counts each sheet's rows by outcome and lists the
first CHANGES_KEPT new or changed rows of each, with every changed column's old and new
value, from the comparison the upsert makes anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import chain
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from billing.rules import format_bands, parse_bands
from importers.setup_sheets import KEYS, SETTINGS, SHEETS, Row, natural_key, parse_row
from opsplatform.calendars import WEEKDAYS
from opsplatform.db import Base
from opsplatform.errors import TARIFF_FROZEN, Problem, Problems, Refused
from opsplatform.models import (
    PROFILE_ALL,
    CalendarOverride,
    Client,
    CostCentreShare,
    Driver,
    Estimate,
    Kpi,
    KpiBaseline,
    KpiProfile,
    PostingColumn,
    PostingTemplate,
    Service,
    ServiceHours,
    Setting,
    Sla,
    Subscription,
    Tariff,
    YearLock,
)
from opsplatform.periods import FinancialYear, Month
from opsplatform.settings import DEFAULTS, STEPPED, locked_years, step_setting

PROGRESS_ROWS = 100  # rows loaded between reports of progress


class Issued(Protocol):
    """What the loader asks of issued statements, which it must never change; billing
    answers (`billing.issue.ISSUED`), importers not reading statements themselves
    (docs/ARCHITECTURE.md)."""

    def months(self, session: Session, year: str) -> list[str]:
        """The months of financial year `year` with issued statements."""

    def billed_clients(self, session: Session, year: str, service_id: int) -> set[int]:
        """The clients with issued lines of the service about months of `year`."""

    def next_month(self, session: Session) -> Month | None:
        """The first month after every issued one (None: nothing is issued yet)."""


_Model = TypeVar("_Model", bound=Base)
_Coded = TypeVar("_Coded", Client, Service, Kpi)  # what a row names by its code
# the rows a model's column names by id, which a report of changes names by code
_REFERENCES: dict[str, type[Client] | type[Service] | type[Kpi]] = {
    "client_id": Client,
    "service_id": Service,
    "kpi_id": Kpi,
}
# a model's column as its sheet names it, where the names differ; None: not a sheet's column
_COLUMNS: dict[str, str | None] = {
    "client_id": "client",
    "service_id": "service",
    "kpi_id": "kpi",
    "day": "date",
    "version": None,
}


CHANGES_KEPT = 200  # changed or new rows a report lists per sheet; the rest are counted

# A cell's value as a report of changes gives it: plain text (numbers as written, dates as
# YYYY-MM-DD), or None for a blank cell.
Shown = str | None


@dataclass
class LoadReport:
    """What a load did (or, dry, would do): rows created, updated and unchanged per sheet,
    and the first CHANGES_KEPT rows of each sheet that are new or changed, each with its
    row number, its key and, column by column, the value it had and the value it gets
    (`changes`, plain data, as an upload's meta keeps it), the rest counted (`unlisted`)."""

    dry_run: bool
    sheets: dict[str, dict[str, int]] = field(default_factory=dict)
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unlisted: dict[str, int] = field(default_factory=dict)

    def count(self, sheet: str, outcome: str) -> None:
        counts = self.sheets.setdefault(sheet, {"created": 0, "updated": 0, "unchanged": 0})
        counts[outcome] += 1

    def wants(self, sheet: str) -> bool:
        """Whether another change of `sheet` is listed (else it is only counted)."""
        if len(self.changes.get(sheet, ())) < CHANGES_KEPT:
            return True
        self.unlisted[sheet] = self.unlisted.get(sheet, 0) + 1
        return False

    def change(
        self,
        sheet: str,
        row: int | None,
        key: dict[str, Shown],
        outcome: str,
        columns: dict[str, tuple[Shown, Shown]],
    ) -> None:
        """List a row created, updated or removed (`outcome`; a removed row has no `row`
        number): `columns` maps each column it changes to (old, new)."""
        self.changes.setdefault(sheet, []).append(
            {
                "row": row,
                "key": key,
                "outcome": outcome,
                "columns": {name: {"old": old, "new": new} for name, (old, new) in columns.items()},
            }
        )

    def changes_document(self) -> dict[str, dict[str, Any]]:
        """The changes by sheet, as `setup load --json` gives them and an upload keeps them:
        `{sheet: {"rows": [...], "unlisted": N}}`, sheets in the workbook's order."""
        return {
            sheet: {"rows": rows, "unlisted": self.unlisted.get(sheet, 0)}
            for sheet, rows in self.changes.items()
        }

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "sheets": self.sheets, "changes": self.changes_document()}


class _Loader:
    """Checks and upserts one row at a time, counting into `report` and gathering
    `problems`; one method per sheet, named after it."""

    def __init__(self, session: Session, report: LoadReport, rerate: bool, issued: Issued) -> None:
        self.session = session
        self.report = report
        self.rerate = rerate
        self.issued = issued
        self.problems = Problems()
        self.absent: set[str] = set()
        self.before = 0  # problems found before the row being loaded
        self.templates: dict[int, PostingTemplate] = {}  # posting templates replaced
        self.left: dict[str, PostingTemplate] = {}  # and their columns no row gave again
        # each service's opening hours given before this workbook, by weekday, while no
        # row of it has given them again (they are removed once every row is loaded)
        self.hours_left: dict[str, dict[str, ServiceHours]] = {}
        self.number: int | None = 0  # the number of the row being loaded (None: no row)
        self.key: dict[str, Shown] = {}  # and its key, as a report of changes shows it

    def problem(self, message: str, sheet: str, row: int, column: str | None = None) -> None:
        self.problems.append(Problem(message, sheet, row, column))

    def find(self, model: type[_Model], **key: object) -> _Model | None:
        return self.session.scalars(select(model).filter_by(**key)).one_or_none()

    def kept(self, values: Row) -> Row:
        """The values a sheet really gives: a column left out of it changes nothing."""
        return {k: v for k, v in values.items() if k not in self.absent}

    def upsert(self, sheet: str, model: type[_Model], key: dict[str, Any], values: Row) -> None:
        """Create or update the row with natural `key`; count what happened."""
        row = self.find(model, **key)
        if row is None:
            row = model(**key, **values)
            self.session.add(row)
            self.report.count(sheet, "created")
            self.listed(sheet, "created", {k: (None, v) for k, v in values.items()})
            self.session.flush()
            return
        values = self.kept(values)
        changed = {k: (getattr(row, k), v) for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for k, v in values.items():
                setattr(row, k, v)
            self.report.count(sheet, "updated")
            self.listed(sheet, "updated", changed)
        else:
            self.report.count(sheet, "unchanged")
        self.session.flush()

    def listed(self, sheet: str, outcome: str, pairs: Mapping[str, tuple[object, object]]) -> None:
        """List the row being loaded as new or changed in the report, with the (old, new)
        values of the model's columns in `pairs` that its sheet has, those that stay the
        same left out; past CHANGES_KEPT rows of the sheet, only count it."""
        if not self.report.wants(sheet):
            return
        columns = {}
        for attribute, (old, new) in pairs.items():
            name = _COLUMNS.get(attribute, attribute)
            if name is None or name in self.key or old == new:
                continue
            columns[name] = (self.shown(attribute, old), self.shown(attribute, new))
        self.report.change(sheet, self.number, self.key, outcome, columns)

    def shown(self, attribute: str, value: object) -> Shown:
        """A value of a model's column as the report shows it: a row named by id by its code."""
        model = _REFERENCES.get(attribute)
        if model is not None and value is not None:
            code: str | None = self.session.scalar(select(model.code).where(model.id == value))
            return code
        return shown(value)

    def ref(
        self, model: type[_Coded], code: str, sheet: str, row: int, column: str
    ) -> _Coded | None:
        found = self.find(model, code=code)
        if found is None:
            kind = {Client: "client", Service: "service", Kpi: "KPI"}[model]
            self.problem(f"unknown {kind} '{code}'", sheet, row, column)
        return found

    def differs(self, row: Base, values: Row) -> bool:
        """Whether `values` (those the sheet gives) would change `row`."""
        return any(getattr(row, k) != v for k, v in self.kept(values).items())

    def changes(self, model: type[_Model], key: dict[str, Any], values: Row) -> bool:
        """Whether upserting `values` at `key` would create or change a row."""
        row = self.find(model, **key)
        return row is None or self.differs(row, values)

    def year_locked(self, year: str) -> bool:
        return self.session.get(YearLock, year) is not None

    def refuse_locked(self, year: str, what: str, sheet: str, row: int) -> None:
        """Refuse a change to `what` of a financial year locked for good, saying why."""
        self.problem(
            f"{year} is locked (billing lock-year): its {what} can no longer change; "
            "correct its statements with billing adjust",
            sheet,
            row,
            "financial_year",
        )

    # One method per sheet: check what cells alone cannot, then upsert.

    def settings(self, n: int, r: Row) -> None:
        parse, _ = SETTINGS[r["key"]]
        try:
            value = parse(r["value"])
        except ValueError as error:
            self.problem(str(error), "Settings", n, "value")
            return
        if r["key"] in STEPPED:
            self.step(n, r["key"], str(value))
        self.upsert("Settings", Setting, {"key": r["key"]}, {"value": str(value)})

    def step(self, n: int, key: str, new: str) -> None:
        """A charging setting changes from the first month not yet issued; with `rerate`,
        for every month, unless a locked year would be re-rated."""
        stored = self.find(Setting, key=key)
        old = stored.value if stored else DEFAULTS[key]
        if Decimal(old) == Decimal(new):
            return
        if not self.rerate:
            step_setting(self.session, key, old, new, self.issued.next_month(self.session))
            return
        locked = locked_years(self.session)
        if locked:
            self.problem(
                f"{', '.join(sorted(locked))} locked (billing lock-year): {key} cannot "
                "re-rate it; load the change without --rerate to apply it from the first "
                "month not yet issued",
                "Settings",
                n,
                "value",
            )
            return
        step_setting(self.session, key, old, new, None)

    def clients(self, n: int, r: Row) -> None:
        self.upsert("Clients", Client, {"code": r["code"]}, _without(r, "code"))

    def services(self, n: int, r: Row) -> None:
        self.upsert("Services", Service, {"code": r["code"]}, _without(r, "code"))

    def servicehours(self, n: int, r: Row) -> None:
        """The workbook's rows for a service replace its opening hours: a weekday it had
        that no row gives again is closed (`removed`)."""
        sheet = "ServiceHours"
        service = self.ref(Service, r["service"], sheet, n, "service")
        if r["close"] <= r["open"]:
            self.problem(f"close {r['close']} is not after open {r['open']}", sheet, n, "close")
        if service is None or self.troubled():
            return
        if service.code not in self.hours_left:
            had = self.session.scalars(select(ServiceHours).filter_by(service_id=service.id))
            self.hours_left[service.code] = {h.weekday: h for h in had}
        self.hours_left[service.code].pop(r["weekday"], None)
        key = {"service_id": service.id, "weekday": r["weekday"]}
        self.upsert(sheet, ServiceHours, key, {"open": r["open"], "close": r["close"]})

    def subscriptions(self, n: int, r: Row) -> None:
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

    def costcentres(self, n: int, r: Row) -> None:
        service = self.ref(Service, r["service"], "CostCentres", n, "service")
        if service is None:
            return
        key = {"cost_centre": r["cost_centre"], "service_id": service.id}
        self.upsert("CostCentres", CostCentreShare, key, _without(r, "cost_centre", "service"))

    def drivers(self, n: int, r: Row) -> None:
        client = self.ref(Client, r["client"], "Drivers", n, "client")
        if r["driver"] in ("equal", "usage"):
            self.problem(f"'{r['driver']}' is built in and needs no values", "Drivers", n, "driver")
        if client is None or self.troubled():
            return
        key = {"client_id": client.id, "financial_year": r["financial_year"], "driver": r["driver"]}
        values = {"value": r["value"]}
        if self.year_locked(r["financial_year"]) and self.changes(Driver, key, values):
            self.refuse_locked(r["financial_year"], "drivers", "Drivers", n)
            return
        self.upsert("Drivers", Driver, key, values)

    def tariffs(self, n: int, r: Row) -> None:
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
        changed = existing is None or self.differs(existing, values)
        if changed and self.year_locked(r["financial_year"]):
            self.refuse_locked(r["financial_year"], "tariffs", sheet, n)
            return
        if changed and not self.rerate:
            months = self.issued.months(self.session, r["financial_year"])
            if months and (existing is not None or self.rerates(service, scope, r)):
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

    def rerates(self, service: Service, scope: str, r: Row) -> bool:
        """Whether a new tariff would change an issued figure: whether it applies to a
        client already billed for the service in its year, in place of the tariff that
        priced it (a client's own tariff over its tier's, a tier's over the general one)."""
        year = r["financial_year"]
        billed = self.issued.billed_clients(self.session, year, service.id)
        if not billed:
            return False
        kind, _, name = scope.partition(":")
        fy = FinancialYear.parse(year)
        subscriptions = self.session.scalars(
            select(Subscription).where(
                Subscription.service_id == service.id, Subscription.client_id.in_(billed)
            )
        ).all()
        in_year = [s for s in subscriptions if s.overlaps(fy.first_day, fy.last_day)]
        if kind == "client":
            return any(s.client.code == name for s in in_year)
        if kind == "tier":
            return any(s.tier == name for s in in_year)
        specific = set(
            self.session.scalars(
                select(Tariff.scope).where(
                    Tariff.service_id == service.id, Tariff.financial_year == year
                )
            )
        )
        return any(
            f"client:{s.client.code}" not in specific and f"tier:{s.tier}" not in specific
            for s in in_year
        )

    def estimates(self, n: int, r: Row) -> None:
        client = self.ref(Client, r["client"], "Estimates", n, "client")
        service = self.ref(Service, r["service"], "Estimates", n, "service")
        if client is None or service is None:
            return
        key = {
            "client_id": client.id,
            "service_id": service.id,
            "financial_year": r["financial_year"],
        }
        values = {"quantity": r["quantity"]}
        if self.year_locked(r["financial_year"]) and self.changes(Estimate, key, values):
            self.refuse_locked(r["financial_year"], "estimates", "Estimates", n)
            return
        self.upsert("Estimates", Estimate, key, values)

    def kpis(self, n: int, r: Row) -> None:
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
        if r["calendar"] == "service_hours" and service is not None:
            opening = select(ServiceHours.id).filter_by(service_id=service.id).limit(1)
            if self.session.scalar(opening) is None:
                self.problem(
                    f"a service_hours KPI counts the hours {service.code} is open, but it "
                    "has none: give them on the ServiceHours sheet",
                    "KPIs",
                    n,
                    "calendar",
                )
        _check_thresholds(self, "KPIs", n, r["direction"], r["target"], r["amber"])
        if self.troubled() or (r["service"] and service is None):
            return
        values = _without(r, "code", "service")
        values["service_id"] = service.id if service else None
        self.upsert("KPIs", Kpi, {"code": r["code"]}, values)

    def slas(self, n: int, r: Row) -> None:
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

    def holidays(self, n: int, r: Row) -> None:
        key = {"nation": r["nation"], "day": r["date"]}
        self.upsert("Holidays", CalendarOverride, key, {"action": r["action"], "name": r["name"]})

    def baselines(self, n: int, r: Row) -> None:
        kpi = self.ref(Kpi, r["kpi"], "Baselines", n, "kpi")
        client = self.ref(Client, r["client"], "Baselines", n, "client") if r["client"] else None
        if kpi is None or (r["client"] and client is None):
            return
        key = {"kpi_id": kpi.id, "scope": client.code if client else "centre"}
        self.upsert("Baselines", KpiBaseline, key, {"value": r["value"], "period": r["period"]})

    def profiles(self, n: int, r: Row) -> None:
        kpi = self.ref(Kpi, r["kpi"], "Profiles", n, "kpi")
        client = self.ref(Client, r["client"], "Profiles", n, "client") if r["client"] else None
        if kpi is None or (r["client"] and client is None):
            return
        if r["amber"] is not None:
            _check_thresholds(self, "Profiles", n, kpi.direction, r["target"], r["amber"])
        if self.troubled():
            return
        key = {
            "kpi_id": kpi.id,
            "scope": client.code if client else PROFILE_ALL,
            "month": r["month"],
        }
        self.upsert("Profiles", KpiProfile, key, {"target": r["target"], "amber": r["amber"]})

    def postingcolumns(self, n: int, r: Row) -> None:
        """The workbook's rows for a client replace its template: its first row removes
        the columns the client had, and each row counts as what it changes of them."""
        client = self.ref(Client, r["client"], "PostingColumns", n, "client")
        if client is None:
            return
        if client.id not in self.templates:
            self.templates[client.id] = _remove_template(self.session, client.id)
            self.left[client.code] = dict(self.templates[client.id])
        was = self.templates[client.id].get(r["position"])
        self.left[client.code].pop(r["position"], None)
        now = (r["heading"], r["source"])
        self.session.add(
            PostingColumn(
                client_id=client.id, position=r["position"], heading=now[0], source=now[1]
            )
        )
        self.session.flush()
        outcome = "created" if was is None else "unchanged" if was == now else "updated"
        self.report.count("PostingColumns", outcome)
        if outcome != "unchanged":
            old = was or (None, None)
            pairs = {"heading": (old[0], now[0]), "source": (old[1], now[1])}
            self.listed("PostingColumns", outcome, pairs)

    def removed(self) -> None:
        """Remove and list the opening hours no row of the workbook gave again for a
        service it gave hours for; list the posting columns that replacing a client's
        template removed (those no row of the workbook gave again)."""
        for code, hours in self.hours_left.items():
            for weekday in sorted(hours, key=WEEKDAYS.index):
                self.number, self.key = None, {"service": code, "weekday": weekday}
                gone = hours[weekday]
                pairs: dict[str, tuple[object, object]] = {
                    "open": (gone.open, None),
                    "close": (gone.close, None),
                }
                self.listed("ServiceHours", "removed", pairs)
                self.session.delete(gone)
        self.session.flush()
        for code, left in self.left.items():
            for position, (heading, source) in sorted(left.items()):
                self.number, self.key = None, {"client": code, "position": str(position)}
                pairs = {"heading": (heading, None), "source": (source, None)}
                self.listed("PostingColumns", "removed", pairs)

    def troubled(self) -> bool:
        """Whether the row being loaded has a problem."""
        return self.problems.total > self.before


def _check_thresholds(
    loader: _Loader, sheet: str, n: int, direction: str, target: Decimal, amber: Decimal
) -> None:
    if direction == "higher" and amber > target:
        loader.problem("amber must not be above target when higher is better", sheet, n, "amber")
    if direction == "lower" and amber < target:
        loader.problem("amber must not be below target when lower is better", sheet, n, "amber")


def _remove_template(session: Session, client_id: int) -> PostingTemplate:
    """Remove a client's posting columns; return what they were."""
    where = PostingColumn.client_id == client_id
    was = {
        c.position: (c.heading, c.source)
        for c in session.scalars(select(PostingColumn).where(where))
    }
    session.execute(delete(PostingColumn).where(where))
    return was


def shown(value: object) -> Shown:
    """A cell's value as plain text: a number as written (`4.75`, not `4.750000`), a date
    as YYYY-MM-DD, None for a blank."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _without(row: Row, *keys: str) -> Row:
    return {k: v for k, v in row.items() if k not in keys}


def load_sheets(
    session: Session,
    sheets: Mapping[str, Iterable[tuple[int, dict[str, object]]]],
    *,
    issued: Issued,
    problems: Problems | list[Problem] | None = None,
    dry_run: bool = False,
    rerate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load rows given as a workbook's sheets would give them (raw cells by header),
    checked exactly as the workbook's; raise Refused with `problems` and any found.

    `issued` tells what issued statements hold: a tariff that would change one may
    change only with `rerate`, and a charging setting applies from the first month not
    yet issued unless `rerate`; nothing of a locked year changes. This writes no
    audit entry: the business actions that load rows (importers.setup) record their own.
    `progress`, if given, is told the number of rows loaded every PROGRESS_ROWS rows.
    """
    report = LoadReport(dry_run=dry_run)
    loader = _Loader(session, report, rerate, issued)
    if isinstance(problems, Problems):
        loader.problems = problems
    else:
        loader.problems += problems or []
    done = 0
    for sheet in SHEETS:
        handle: Callable[[int, Row], None] = getattr(loader, sheet.name.lower())
        keys_seen: dict[tuple[object, ...], int] = {}
        rows = iter(sheets.get(sheet.name, ()))
        first = next(rows, None)
        loader.absent = sheet.column_names() - set(first[1]) if first else set()
        for number, raw in chain([first], rows) if first else ():
            done += 1
            if progress is not None and done % PROGRESS_ROWS == 0:
                progress(done)
            loader.before = loader.problems.total
            row = parse_row(sheet, number, raw, loader.problems)
            if row is None:
                continue
            key = natural_key(sheet.name, row)
            if key in keys_seen:
                loader.problem(f"repeats row {keys_seen[key]}", sheet.name, number)
                continue
            keys_seen[key] = number
            loader.number = number
            loader.key = {
                name: shown(value)
                for name, value in zip(KEYS[sheet.name], key, strict=True)
                if value is not None
            }
            handle(number, row)
    loader.removed()
    if loader.problems:
        raise Refused(loader.problems)
    return report
