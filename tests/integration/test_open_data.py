"""Open data without sign-in (web/open_data.py): a finalised quarter's KPI results and the
partners' annual charges from issued statements, as CSV and JSON under the OGL.

The centre is tests/integration/conftest.py's: April 2026 issued, May 2026 drafted, for
WYR, LAN and PRS; 2026-27-Q1 has KPI results, provisional until finalised.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select

from billing.models import Statement
from opsplatform.models import Client
from opsplatform.periods import Quarter
from sla.service import assess_quarter
from tests.integration.test_publication_visibility import QUARTER, finalise
from tests.pages import Page

LICENCE = "open-government-licence/version/3"


def rows_of(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert LICENCE in response.headers["Link"] and 'rel="license"' in response.headers["Link"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_page_is_open_to_everyone_and_names_the_licence(client):
    page = Page(client.get("/open-data").text)
    assert "Open Government Licence v3.0" in page.text
    assert "/open-data/charges/2026-27.csv" in page.links
    assert "No quarter has been finalised yet." in page.text  # provisional: not open


def test_a_provisional_quarter_is_never_open_data(client):
    for kind in ("csv", "json"):
        assert client.get(f"/open-data/kpi-results/{QUARTER}.{kind}").status_code == 404
    assert client.get("/open-data/kpi-results/2026-27-Q9.csv").status_code == 404


def test_a_final_quarters_results_are_open_for_every_council(app, client):
    finalise(app)
    with app.extensions["opsplatform.db"].reading() as session:
        results = assess_quarter(session, Quarter.parse(QUARTER))
    rows = rows_of(client.get(f"/open-data/kpi-results/{QUARTER}.csv"))
    assert len(rows) == len(results)
    assert {r["council_code"] for r in rows} == {r.client or "" for r in results}
    centre = next(r for r in rows if r["kpi"] == "PAY-5D" and not r["council_code"])
    assert (centre["value"], centre["unit"], centre["status"]) == (
        "100.00",  # to two places
        "percent",
        "Green: on target",
    )
    assert centre["target_set_by"] == "the year's target"
    as_json = client.get(f"/open-data/kpi-results/{QUARTER}.json").json
    assert [r["council_code"] or "" for r in as_json] == [r["council_code"] for r in rows]
    assert f"/open-data/kpi-results/{QUARTER}.csv" in Page(client.get("/open-data").text).links


def test_annual_charges_add_up_from_issued_statements_only(app, client):
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with app.extensions["opsplatform.db"].reading() as session:
        codes = dict(session.execute(select(Client.id, Client.code)).all())
        for statement in session.scalars(select(Statement).where(Statement.status == "issued")):
            for line in statement.lines:
                if line.service is not None:
                    expected[codes[statement.client_id], line.service.code] += line.amount
    rows = rows_of(client.get("/open-data/charges/2026-27.csv"))
    found = {(r["council_code"], r["service_code"]): Decimal(r["net_charges_gbp"]) for r in rows}
    assert found == expected  # April's issued statements; May's drafts are left out
    assert {r["months_charged"] for r in rows} == {"1"}
    assert client.get("/open-data/charges/2024-25.csv").status_code == 404
    assert client.get("/open-data/charges/2026.json").status_code == 404
