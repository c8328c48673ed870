"""Who sees a quarter's performance: the page, the workbook and the API apply one rule.

Staff see everything. A client council sees its own and the whole centre's results for
any quarter, and other councils' results and charges only once the quarter is final.
The centre is tests/integration/conftest.py's: WYR and LAN each used 100 payslips in April
2026, so 2026-27-Q1 has results and charges for both; it is provisional until finalised.
"""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from opsplatform.periods import Quarter
from sla.service import finalise_quarter
from sla.visibility import STAFF, council
from tests.integration.test_portal_pages import result_rows, sign_in
from tests.pages import Page

QUARTER = "2026-27-Q1"
LANCASTER = ("LAN", "Lancaster")


def workbook_text(response) -> str:
    """Every cell of every sheet of a downloaded workbook, as one text."""
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    return "\n".join(
        str(value)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )


def sheet_rows(response, name: str) -> list[tuple]:
    book = load_workbook(io.BytesIO(response.data))
    return [r for r in book[name].iter_rows(min_row=2, values_only=True) if any(r)]


def finalise(app, quarter: str = QUARTER) -> None:
    with app.extensions["opsplatform.db"].transaction() as session:
        finalise_quarter(session, Quarter.parse(quarter), "manager@centre.gov.uk")


def bearer(people, who: str) -> dict:
    return {"Authorization": f"Bearer {people[who]['token']}"}


def test_the_rule_itself():
    wyre = council("WYR")
    assert STAFF.sees_result("LAN", final=False) and STAFF.sees_charges(None, final=False)
    assert wyre.sees_result(None, final=False) and wyre.sees_result("WYR", final=False)
    assert not wyre.sees_result("LAN", final=False)
    assert wyre.sees_result("LAN", final=True)
    assert wyre.sees_charges("WYR", final=False)
    assert not wyre.sees_charges("LAN", final=False)
    assert not wyre.sees_charges(None, final=False)  # the total less its own gives LAN's away
    assert wyre.sees_charges("LAN", final=True) and wyre.sees_charges(None, final=True)
    nobody = council(None)  # a client user bound to no council
    assert nobody.sees_result(None, final=False)
    assert not nobody.sees_result("WYR", final=False)
    assert not nobody.sees_charges(None, final=False)


@pytest.mark.parametrize("quarter", [QUARTER, "2027-28-Q1"])  # provisional, and in the future
def test_a_client_downloads_only_its_own_figures_of_a_provisional_quarter(app, people, quarter):
    wyre = sign_in(app, people["wyr"])
    response = wyre.get(f"/performance/{quarter}.xlsx")
    text = workbook_text(response)
    for other in LANCASTER:
        assert other not in text, other
    assert "Other councils' figures are shown once the quarter is final." in text
    if quarter == QUARTER:
        assert [r[0] for r in sheet_rows(response, "By client")] == ["Wyre Council"]
        costs = sheet_rows(response, "Cost per transaction")
        assert {r[2] for r in costs} == {"Wyre Council"}
        assert next(r[3] for r in costs if r[0] == "Payroll") > 0  # its own April payroll charge


def test_staff_download_every_councils_figures_of_a_provisional_quarter(app, people):
    finance = sign_in(app, people["finance"])
    response = finance.get(f"/performance/{QUARTER}.xlsx")
    assert [r[0] for r in sheet_rows(response, "By client")] == [
        "Lancaster City Council",
        "Wyre Council",
    ]
    costs = sheet_rows(response, "Cost per transaction")
    assert [r[2] for r in costs if r[0] == "Payroll"] == [
        "whole centre",
        "Lancaster City Council",
        "Wyre Council",
    ]
    assert "shown once the quarter is final" not in workbook_text(response)


def test_a_client_sees_other_councils_once_the_quarter_is_final(app, people):
    wyre = sign_in(app, people["wyr"])
    page = wyre.get(f"/performance?quarter={QUARTER}")
    assert "Lancaster" not in page.text
    finalise(app)

    page = wyre.get(f"/performance?quarter={QUARTER}")
    rows = result_rows(Page(page.text))
    assert [r[1] for r in rows] == ["Whole centre", "Lancaster City Council", "Wyre Council"]
    response = wyre.get(f"/performance/{QUARTER}.xlsx")
    assert [r[0] for r in sheet_rows(response, "By client")] == [
        "Lancaster City Council",
        "Wyre Council",
    ]
    costs = sheet_rows(response, "Cost per transaction")
    assert [r[2] for r in costs if r[0] == "Payroll"] == [
        "whole centre",
        "Lancaster City Council",
        "Wyre Council",
    ]


def test_the_api_follows_the_same_rule(app, people):
    api = app.test_client()
    url = f"/api/v1/kpi-results?quarter={QUARTER}"
    provisional = api.get(url, headers=bearer(people, "wyr")).get_json()
    assert {r["client"] for r in provisional} == {None, "WYR"}
    finalise(app)
    final = api.get(url, headers=bearer(people, "wyr")).get_json()
    assert {r["client"] for r in final} == {None, "WYR", "LAN"}
    assert all(r["final"] for r in final)
