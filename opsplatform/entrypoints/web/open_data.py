"""Pages: open data, without sign-in. The finalised quarters' KPI results and the
partners' annual charges from issued statements, each as CSV and JSON under the Open
Government Licence v3.0 (the Local Government Transparency Code asks for open,
machine-readable data). What is open is the domain's to say (sla.open_data,
billing.open_data); this module lists it and writes it out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from flask import Blueprint, Response, abort, jsonify, render_template, url_for
from flask.typing import ResponseReturnValue

from billing.open_data import annual_charges, charged_years
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Refused
from opsplatform.periods import FinancialYear, PeriodError, Quarter
from opsplatform.settings import centre_settings
from sla.open_data import final_quarters, open_results

open_data = Blueprint("open_data", __name__)

LICENCE = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"
KPI_COLUMNS = [
    "quarter",
    "kpi",
    "kpi_name",
    "council",
    "council_code",
    "value",
    "unit",
    "target",
    "status",
    "target_set_by",
]
CHARGE_COLUMNS = [
    "financial_year",
    "council",
    "council_code",
    "service",
    "service_code",
    "net_charges_gbp",
    "months_charged",
]


@dataclass(frozen=True)
class Files:
    """A dataset's files for one period: its name in words, and its CSV and JSON."""

    label: str
    name: str
    csv: str
    json: str


@open_data.get("/open-data")
def index() -> ResponseReturnValue:
    with database().reading() as session:
        quarters = [
            Files(
                q.label,
                q.short_label,
                *(url_for(".kpi_results", quarter=str(q), kind=k) for k in ("csv", "json")),
            )
            for q in final_quarters(session)
        ]
        years = [
            Files(
                str(y), str(y), *(url_for(".charges", year=str(y), kind=k) for k in ("csv", "json"))
            )
            for y in charged_years(session)
        ]
        return render_template(
            "open_data.html",
            centre=centre_settings(session),
            quarters=quarters,
            years=years,
            licence=LICENCE,
        )


def _text(value: object) -> object:
    """A cell as open data gives it: a number as written (`97.50`), no data as blank."""
    if isinstance(value, Decimal):
        return f"{value:f}"
    return "" if value is None else str(value)


def _published(name: str, kind: str, columns: Sequence[str], rows: list[list[object]]) -> Response:
    """The rows as a CSV file or a JSON list of objects, naming their licence."""
    if kind == "json":
        response = jsonify([dict(zip(columns, map(_text, row), strict=True)) for row in rows])
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_text(v) for v in row] for row in rows)
        response = Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Link"] = f'<{LICENCE}>; rel="license"'
    return response


@open_data.get("/open-data/kpi-results/<quarter>.<any(csv, json):kind>")
def kpi_results(quarter: str, kind: str) -> ResponseReturnValue:
    try:
        parsed = Quarter.parse(quarter)
        with database().reading() as session:
            found = open_results(session, parsed)
    except (PeriodError, Refused):
        abort(404)
    rows = [list(vars(r).values()) for r in found]
    return _published(f"kpi-results-{parsed}", kind, KPI_COLUMNS, rows)


@open_data.get("/open-data/charges/<year>.<any(csv, json):kind>")
def charges(year: str, kind: str) -> ResponseReturnValue:
    try:
        parsed = FinancialYear.parse(year)
    except PeriodError:
        abort(404)
    with database().reading() as session:
        if parsed not in charged_years(session):
            abort(404)
        found = annual_charges(session, parsed)
    rows = [list(vars(c).values()) for c in found]
    return _published(f"charges-{parsed}", kind, CHARGE_COLUMNS, rows)
