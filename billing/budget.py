"""Budget estimates: each client's projected charges for a financial year, and the years
after it when asked.

Councils set their budgets in February for April, so the centre sends each client a
projection: a base year's volumes (last year's unless told), month for month, priced
with the new year's tariffs and subscriptions. A client that joined during the base
year is projected at the mean of the months it was subscribed for the months before it
joined, a scenario may change every volume, and a year without tariffs of its own is
priced at the latest earlier year's raised by an inflation percent a year
(billing.projection). Drivers and estimates not yet set for a year fall back to their
latest earlier values. The workbook's notes say what was assumed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from billing.charges import subscriptions_in, year_inputs
from billing.coding import Codings
from billing.engine import Ideal, YearInputs, rate_year
from billing.projection import (
    Fill,
    Pair,
    Scenario,
    growth,
    projected_usage,
    subscribed_months,
    uplifted,
)
from opsplatform.errors import TARIFFS_UNSET, Problem, Refused
from opsplatform.models import Client, Driver, Estimate, Service, Tariff
from opsplatform.money import ZERO, round_money
from opsplatform.periods import FinancialYear, Month
from opsplatform.settings import CentreSettings, centre_settings
from opsplatform.workbooks import (
    CellValue,
    active_sheet,
    fit_to_width,
    write_cell,
    write_table,
)

HEADER_ROW = 6  # the row of each sheet's table header, below its heading
# the sheet of every projected year's net, named by how many there are (MOST_YEARS at most)
YEARS_SHEET = {2: "Two years", 3: "Three years", 4: "Four years", 5: "Five years"}


@dataclass
class ServiceProjection:
    """A client's projected use of one service in the budget year: its quantity, and its
    net charge month by month."""

    service: str
    name: str
    unit: str
    quantity: Decimal
    monthly: list[Decimal]
    vat_rate: Decimal

    @property
    def net(self) -> Decimal:
        return sum(self.monthly, ZERO)

    @property
    def vat(self) -> Decimal:
        return sum((round_money(m * self.vat_rate / 100) for m in self.monthly), ZERO)


@dataclass(frozen=True)
class Note:
    """One thing the projection assumed, about one client or (client None) about all."""

    text: str
    client: str | None = None


@dataclass
class Projection:
    """The budget year's charges by client and service, month by month (the budget
    letters); every projected year's net by client and service; which year's tariffs
    priced each; and what was assumed."""

    year: FinancialYear
    basis: FinancialYear
    scenario: Scenario = field(default_factory=Scenario)
    clients: dict[str, list[ServiceProjection]] = field(default_factory=dict)
    annual: dict[Pair, dict[FinancialYear, Decimal]] = field(default_factory=dict)
    priced_at: dict[FinancialYear, FinancialYear] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    @property
    def years(self) -> list[FinancialYear]:
        """The years projected, the budget year first."""
        return [FinancialYear(self.year.start_year + n) for n in range(self.scenario.years)]

    def note(self, text: str, client: str | None = None) -> None:
        """Record an assumption once: later years often make the same one again."""
        if Note(text, client) not in self.notes:
            self.notes.append(Note(text, client))

    def totals(self) -> dict[str, list[Decimal]]:
        """Each client's net for each projected year."""
        totals: dict[str, list[Decimal]] = {}
        for (client, _service), by_year in sorted(self.annual.items()):
            years = totals.setdefault(client, [ZERO] * len(self.years))
            for n, year in enumerate(self.years):
                years[n] += by_year.get(year, ZERO)
        return totals


def project_year(
    session: Session,
    year: FinancialYear,
    basis: FinancialYear | None = None,
    scenario: Scenario | None = None,
) -> Projection:
    """Price `basis` year's usage (default: the year before) for `year`, and for the
    years after it that `scenario` asks for."""
    projection = Projection(year, basis or year.previous(), scenario or Scenario())
    _price_years(session, projection)
    _scenario_notes(projection)
    de_minimis = centre_settings(session).de_minimis
    base = subscribed_months(subscriptions_in(session, projection.basis), projection.basis)
    services = {s.code: s for s in session.scalars(select(Service))}
    clients = dict(session.execute(select(Client.code, Client.id)).all())
    codings = Codings(session)

    def vat_rate(client: str, service: str) -> Decimal:
        """The VAT the client's subscription bears (the service's rate, or none)."""
        return codings.of(clients[client], services[service], year.first_month).vat_rate

    for each in projection.years:
        lines = _rate(session, projection, each, base, de_minimis)
        _record(projection, each, lines, services, vat_rate)
    return projection


def _rate(
    session: Session,
    projection: Projection,
    year: FinancialYear,
    base: dict[Pair, frozenset[int]],
    de_minimis: Decimal,
) -> dict[tuple[str, str, Month], list[Ideal]]:
    """`year`'s ideal lines on the base year's projected usage (`base`: the months each
    client and service was subscribed then), at the tariffs that price it, unraised."""
    inputs = year_inputs(
        session,
        year,
        year.last_month,
        de_minimis,
        usage_from=projection.basis,
        tariffs_from=projection.priced_at[year],
    )
    _fall_back(session, inputs, projection)
    inputs.usage, fills = projected_usage(
        inputs.usage,
        base,
        subscribed_months(inputs.subscriptions, year),
        year,
        projection.scenario.volume_change,
    )
    for fill in fills:
        projection.note(_fill_note(fill, projection.basis, inputs.units), fill.client)
    return rate_year(inputs, year.last_month)


def _price_years(session: Session, projection: Projection) -> None:
    """Which year's tariffs price each projected year: its own, else the latest earlier
    year's. The budget year needs its own unless an inflation is given."""
    loaded = sorted(
        FinancialYear.parse(y) for y in session.scalars(select(Tariff.financial_year).distinct())
    )
    for each in projection.years:
        earlier = [y for y in loaded if y <= each]
        if not earlier:
            raise Refused(
                f"there are no tariffs for {each} or any year before it: load them before "
                "estimating budgets"
            )
        if (
            earlier[-1] != each
            and each == projection.year
            and projection.scenario.inflation is None
        ):
            raise Refused(
                [
                    Problem(
                        f"there are no tariffs for {each} yet: load them before estimating budgets",
                        code=TARIFFS_UNSET,
                    )
                ]
            )
        projection.priced_at[each] = earlier[-1]


def _scenario_notes(projection: Projection) -> None:
    """Say what the scenario assumed, and which tariffs priced each year."""
    volume, uplift = (
        _percent(projection.scenario.volume_change),
        _percent(projection.scenario.uplift),
    )
    projection.note(
        f"Volume change {volume}: every projected quantity is {projection.basis}'s for the "
        f"same month, changed by {volume}."
    )
    projection.note(
        f"Inflation {uplift} a year: a year without tariffs of its own is priced at the latest "
        f"earlier year's, each monthly charge raised by {uplift} for every year since, "
        "compounded, to the penny."
    )
    for each in projection.years:
        projection.note(
            f"{each} is priced at its own tariffs, as they stand."
            if projection.priced_at[each] == each
            else f"{each} has no tariffs of its own: it is priced {_priced(projection, each)}."
        )


def _priced(projection: Projection, year: FinancialYear) -> str:
    """How `year` is priced, in words: "at 2027-28 tariffs" or "at 2027-28 tariffs
    raised by 3% a year for 2 years (x 1.0609)"."""
    tariffs = projection.priced_at[year]
    years = year.start_year - tariffs.start_year
    if not years:
        return f"at {tariffs} tariffs"
    uplift = projection.scenario.uplift
    factor = growth(uplift, years).normalize()
    return (
        f"at {tariffs} tariffs raised by {_percent(uplift)} a year for {years} "
        f"year{'s' if years > 1 else ''} (x {factor:f})"
    )


def _percent(value: Decimal) -> str:
    """`5%`, `-2.5%`: a percent as people write it."""
    return f"{value.normalize():f}%"


def _fall_back(session: Session, inputs: YearInputs, projection: Projection) -> None:
    """Give each driver and estimate not yet set for the year its latest earlier value."""
    year = str(inputs.year)
    drivers = session.execute(
        select(Client.code, Driver.driver, Driver.financial_year, Driver.value)
        .join(Client, Driver.client_id == Client.id)
        .where(Driver.financial_year < year)
        .order_by(Driver.financial_year)
    )
    _carry_forward(inputs.drivers, drivers, "", inputs.year, projection)
    estimates = session.execute(
        select(Client.code, Service.code, Estimate.financial_year, Estimate.quantity)
        .join(Client, Estimate.client_id == Client.id)
        .join(Service, Estimate.service_id == Service.id)
        .where(Estimate.financial_year < year)
        .order_by(Estimate.financial_year)
    )
    _carry_forward(inputs.estimates, estimates, " estimate", inputs.year, projection)


def _carry_forward(
    found: dict[tuple[str, str], Decimal],
    earlier: Iterable[Row[str, str, str, Decimal]],
    noun: str,
    year: FinancialYear,
    projection: Projection,
) -> None:
    """Fill `found`'s missing (client, name) keys from `earlier` rows (client, name, year,
    value) in year order, the latest value winning, and note each one filled."""
    latest = {(client, name): (given, value) for client, name, given, value in earlier}
    for (client, name), (given, value) in sorted(latest.items()):
        if (client, name) not in found:
            found[(client, name)] = value
            projection.note(
                f"{client}: {name}{noun} for {year} not yet set; {given} value "
                f"{value.normalize():,f} used",
                client,
            )


def _fill_note(fill: Fill, basis: FinancialYear, units: dict[str, str]) -> str:
    """What was projected for the months a client was not subscribed in the base year."""
    if fill.mean is None:
        return (
            f"{fill.client}: {fill.service} was not subscribed in {basis}: there are no "
            "volumes to project from, so its use is taken as nil"
        )
    first = basis.months()[min(fill.subscribed)]
    count = len(fill.subscribed)
    how = (
        f"joined in {first.label}"
        if max(fill.filled) < min(fill.subscribed)
        else f"was not subscribed in every month of {basis}"
    )
    return (
        f"{fill.client}: {fill.service} {how}; {_runs(fill.filled, basis)} projected at "
        f"the mean of its {count} subscribed month{'s' if count > 1 else ''}, "
        f"{fill.mean.normalize():,f} {units[fill.service]}s a month"
    )


def _runs(indexes: list[int], year: FinancialYear) -> str:
    """Months of a year (0 is April) named as runs: `April-October`, `May, July-August`."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    names = [f"{month.first_day:%B}" for month in year.months()]
    return ", ".join(
        names[run[0]] if len(run) == 1 else f"{names[run[0]]}-{names[run[-1]]}" for run in runs
    )


def _record(
    projection: Projection,
    year: FinancialYear,
    lines: dict[tuple[str, str, Month], list[Ideal]],
    services: dict[str, Service],
    vat_rate: Callable[[str, str], Decimal],
) -> None:
    """Add `year`'s rated lines to the projection: each client and service's net, and for
    the budget year its months in detail, with the VAT rate `vat_rate(client, service)`."""
    years_on = year.start_year - projection.priced_at[year].start_year
    amounts: dict[Pair, list[Decimal]] = defaultdict(lambda: [ZERO] * 12)
    quantities: dict[Pair, Decimal] = defaultdict(lambda: ZERO)
    for (client, service, month), ideal in lines.items():
        amount = sum((line.amount for line in ideal), ZERO)
        amounts[(client, service)][month - year.first_month] = uplifted(
            amount, projection.scenario.uplift, years_on
        )
        quantities[(client, service)] += sum(
            (line.quantity for line in ideal if line.kind == "charge"), ZERO
        )
    for (client, service), monthly in sorted(amounts.items()):
        projection.annual.setdefault((client, service), {})[year] = sum(monthly, ZERO)
        if year == projection.year:
            s = services[service]
            projection.clients.setdefault(client, []).append(
                ServiceProjection(
                    service,
                    s.name,
                    s.unit,
                    quantities[(client, service)],
                    monthly,
                    vat_rate(client, service),
                )
            )


def estimate_entries(projection: Projection) -> list[dict[str, object]]:
    """`billing estimate --json`: one entry per client and service, `annual` its net for
    the budget year (money as strings) and, when more years are projected, `years`: its
    net for each."""
    entries: list[dict[str, object]] = []
    for (client, service), by_year in sorted(projection.annual.items()):
        entry: dict[str, object] = {
            "client": client,
            "service": service,
            "annual": f"{by_year.get(projection.year, ZERO):.2f}",
        }
        if len(projection.years) > 1:
            entry["years"] = {str(y): f"{by_year.get(y, ZERO):.2f}" for y in projection.years}
        entries.append(entry)
    return entries


def write_budget_workbook(session: Session, projection: Projection, path: Path) -> None:
    """A summary of every client, then one sheet per client to send as its budget
    letter, the years after the budget year when projected, and the notes."""
    settings = centre_settings(session)
    names = dict(session.execute(select(Client.code, Client.name)).all())
    book = Workbook()
    summary = active_sheet(book)
    summary.title = "Summary"
    _heading(
        summary,
        f"{settings.centre_name}: projected charges for {projection.year}",
        f"Based on {projection.basis} volumes, month for month, and {projection.year} "
        f"subscriptions, {_priced(projection, projection.year)}.",
        projection,
    )
    rows: list[list[CellValue]] = [
        [
            code,
            names[code],
            sum((p.net for p in ps), ZERO),
            sum((p.vat for p in ps), ZERO),
            sum((p.net + p.vat for p in ps), ZERO),
        ]
        for code, ps in projection.clients.items()
    ]
    write_table(
        summary,
        ["client", "name", "net", "VAT", "total"],
        rows,
        money_columns=(2, 3, 4),
        start_row=HEADER_ROW,
        widths=[10, 40, 16, 14, 16],
    )
    for code, services in projection.clients.items():
        _client_sheet(book.create_sheet(code), code, names[code], services, projection, settings)
    if len(projection.years) > 1:
        _years_sheet(book.create_sheet(YEARS_SHEET[len(projection.years)]), projection)
    _notes_sheet(book.create_sheet("Notes"), projection)
    for ws in book.worksheets:
        fit_to_width(ws)
    book.save(path)


def _heading(ws: Worksheet, title: str, basis: str, projection: Projection) -> None:
    """A sheet's title, what it is based on and the scenario, above its table."""
    write_cell(ws, 1, 1, title).font = Font(bold=True, size=14)
    write_cell(ws, 2, 1, basis)
    scenario = projection.scenario
    write_cell(
        ws,
        3,
        1,
        f"Volume change {_percent(scenario.volume_change)}; inflation "
        f"{_percent(scenario.uplift)} a year, for years without tariffs of their own.",
    )
    write_cell(ws, 4, 1, "Estimates, not bills: the Notes sheet says what was assumed.")


def _client_sheet(
    ws: Worksheet,
    code: str,
    name: str,
    services: list[ServiceProjection],
    projection: Projection,
    settings: CentreSettings,
) -> None:
    """A client's budget letter: each service's projected charges month by month, and
    what was assumed about the client beneath."""
    _heading(
        ws,
        f"{name}: projected charges for {projection.year}",
        f"From {settings.centre_name}; based on {projection.basis} volumes, "
        f"{_priced(projection, projection.year)}.",
        projection,
    )
    headers = [
        "service",
        "name",
        "unit",
        "quantity",
        "net",
        "VAT",
        "total",
        *[f"{m.first_day:%b %Y}" for m in projection.year.months()],
    ]
    body: list[list[CellValue]] = [
        [p.service, p.name, p.unit, p.quantity, p.net, p.vat, p.net + p.vat, *p.monthly]
        for p in services
    ]
    last = write_table(
        ws,
        headers,
        body,
        money_columns=range(4, 7 + 12),
        start_row=HEADER_ROW,
        widths=[10, 24, 10, 12, 14, 12, 14, *[12] * 12],
    )
    for row, note in enumerate((n for n in projection.notes if n.client == code), last + 2):
        write_cell(ws, row, 1, note.text)


def _years_sheet(ws: Worksheet, projection: Projection) -> None:
    """Each client and service's net for every projected year."""
    years = projection.years
    _heading(
        ws,
        f"Projected net charges, {years[0]} to {years[-1]}",
        f"Based on {projection.basis} volumes, month for month, and each year's subscriptions.",
        projection,
    )
    write_table(
        ws,
        ["client", "service", *[str(y) for y in years]],
        [
            [client, service, *[by_year.get(y, ZERO) for y in years]]
            for (client, service), by_year in sorted(projection.annual.items())
        ],
        money_columns=range(2, 2 + len(years)),
        start_row=HEADER_ROW,
        widths=[10, 12, *[16] * len(years)],
    )


def _notes_sheet(ws: Worksheet, projection: Projection) -> None:
    """Every assumption: the scenario's, each year's tariffs, and each client's."""
    write_table(
        ws, ["client", "note"], [[n.client, n.text] for n in projection.notes], widths=[10, 140]
    )
