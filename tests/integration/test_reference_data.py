"""Reference data visible and safe to change (issue 15): the staff pages of clients,
services, subscriptions and tariffs; every change a setup load makes listed old and new
(the check page, `setup load --dry-run` and its `--json`); every problem of a workbook
reported in one pass; the current setup exported as a workbook that loads back unchanged;
and the templates' example rows and drop-down lists."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

import importers.setup_loader
from opsplatform.models import Subscription
from tests.integration.test_finance_pages import book_bytes, checked, download, sign_in
from tests.pages import Page
from tests.support import FY, small_centre, write_book

PAGES = [
    "/reference/clients",
    "/reference/services",
    "/reference/subscriptions",
    "/reference/tariffs",
]
NEXT_YEAR = "2027-28"
NEXT_YEAR_PAY = {
    "Tariffs": [
        ["service", "financial_year", "rule", "rate"],
        ["PAY", NEXT_YEAR, "unit_rate", 4.75],
    ]
}


def changes_of(page) -> list[list[str]]:
    """The rows of the check page's tables of changes: row, key, change, columns."""
    return [
        r for r in Page(page.text).rows if len(r) == 4 and r[2] in ("New", "Changed", "Removed")
    ]


# -- the pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["finance", "manager", "admin", "auditor"])
def test_staff_read_every_reference_page(app, people, role):
    staff = sign_in(app, people[role])
    for url in PAGES:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert 'aria-label="Reference data"' in response.text, url
    assert "/reference/clients" in Page(staff.get("/").text).links


def test_a_client_council_finds_no_reference_page(app, people):
    council = sign_in(app, people["wyr"])
    for url in [*PAGES, "/reference", "/imports/setup/current.xlsx"]:
        assert council.get(url).status_code == 404, url
    assert "/reference/clients" not in Page(council.get("/").text).links


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/reference/tariffs")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_clients_and_services_say_who_takes_what(app, people):
    staff = sign_in(app, people["auditor"])
    rows = Page(staff.get("/reference/clients").text).rows
    prs = next(r for r in rows if r[0] == "PRS")
    assert prs[1] == "Preston City Council"
    assert "Systems hosting" in prs[-1] and "ICT service desk" in prs[-1]
    assert "Payroll" not in prs[-1]
    pay = next(r for r in Page(staff.get("/reference/services").text).rows if r[0] == "PAY")
    assert pay[2] == "payslip"
    assert "Wyre Council" in pay[-1] and "Lancaster City Council" in pay[-1]
    assert "Preston" not in pay[-1]


def test_subscriptions_filter_by_client_and_service_and_show_leavers_in_notice(
    app, people, cli, tmp_path
):
    leaving = {
        "Subscriptions": [
            ["client", "service", "start", "end", "notice_months", "notice_given", "basis"],
            ["LAN", "ICT", date(2026, 4, 1), date(2099, 3, 31), 12, date(2026, 5, 1), "s113"],
        ]
    }
    cli("setup", "load", write_book(tmp_path / "leaving.xlsx", leaving))
    staff = sign_in(app, people["finance"])

    rows = Page(staff.get("/reference/subscriptions?client=LAN&service=ICT").text).rows
    found = [r for r in rows if r and r[0] == "LAN"]
    assert len(found) == 1
    assert found[0][1] == "ICT service desk"
    assert found[0][2] == "Leaving: in notice"
    assert found[0][8] == "s113"
    assert "given 1 May 2026" in found[0][9] and "runs out 1 May 2027" in found[0][9]

    lan = [r for r in Page(staff.get("/reference/subscriptions?client=lan").text).rows if r]
    assert {r[1] for r in lan if r[0] == "LAN"} == {
        "Payroll",
        "Systems hosting",
        "ICT service desk",
    }
    assert not any(r[0] in ("WYR", "PRS") for r in lan)
    pay = [r for r in Page(staff.get("/reference/subscriptions?service=PAY").text).rows if r]
    assert sorted(r[0] for r in pay if r[0] in ("WYR", "LAN", "PRS")) == ["LAN", "WYR"]
    assert "No subscriptions match" in staff.get("/reference/subscriptions?client=NOPE").text


def test_tariffs_by_year_with_the_rule_in_words(app, people, cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "next.xlsx", NEXT_YEAR_PAY))
    staff = sign_in(app, people["manager"])

    page = staff.get("/reference/tariffs")  # the year in hand, or the latest with tariffs
    assert page.status_code == 200
    rows = {
        r[0]: r for r in Page(staff.get(f"/reference/tariffs?year={FY}").text).rows if len(r) == 8
    }
    assert rows["Payroll"][1:4] == [
        "Every client",
        "Graduated price",
        "Each month: the first 500 payslips at £4.00 each, then £3.00 each",
    ]
    assert rows["Systems hosting"][3] == "£36,000.00 a year, in monthly instalments"
    assert rows["ICT service desk"][3] == "£120,000.00 a year, shared in equal shares"
    assert rows["Payroll"][7] == "1"

    later = Page(staff.get(f"/reference/tariffs?year={NEXT_YEAR}").text)
    assert [
        "Payroll",
        "Every client",
        "Unit rate",
        "£4.75 per payslip",
        "–",
        "–",
        "On actual use",
        "1",
    ] in later.rows
    options = staff.get("/reference/tariffs").text
    assert f'<option value="{NEXT_YEAR}"' in options and f'<option value="{FY}"' in options
    assert staff.get("/reference/tariffs?year=1999-00").status_code == 404


# -- every change, old and new -------------------------------------------------------------


def test_the_check_page_shows_a_changed_tariff_old_and_new_and_a_new_client(
    app, people, cli, tmp_path
):
    cli("setup", "load", write_book(tmp_path / "next.xlsx", NEXT_YEAR_PAY))
    finance = sign_in(app, people["finance"])
    book = {
        "Clients": [
            ["code", "name", "nation"],
            ["BPL", "Blackpool Council", "england"],
            ["WYR", "Wyre Council"],
        ],
        "Tariffs": [
            ["service", "financial_year", "rule", "rate"],
            ["PAY", NEXT_YEAR, "unit_rate", 5],
        ],
    }
    page, _ = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "changes.xlsx")
    assert page.status_code == 200, page.text
    found = changes_of(page)
    assert ["2", "code BPL", "New", "name: Blackpool Council nation: england"] in found
    assert [
        "2",
        f"service PAY, financial year {NEXT_YEAR}",
        "Changed",
        "rate: 4.75 → becomes 5",
    ] in found
    assert not any("WYR" in r[1] for r in found)  # unchanged rows are only counted


def test_dry_run_prints_every_change_and_json_gains_changes(cli, database, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    book = small_centre()
    book["Clients"][1] = ["WYR", "Wyre Borough Council"]
    book["Clients"].append(["BPL", "Blackpool Council"])
    book["Tariffs"][2][4] = 40000  # HOST's annual amount
    path = write_book(tmp_path / "changed.xlsx", book)

    text = cli("setup", "load", path, "--dry-run").stdout
    assert "changed Clients row 2 (code WYR): name: Wyre Council -> Wyre Borough Council" in text
    assert "new Clients row 5 (code BPL): name Blackpool Council" in text
    assert (
        f"changed Tariffs row 3 (service HOST, financial_year {FY}): annual_amount: 36000 -> 40000"
        in text
    )

    document = cli.json("setup", "load", path, "--dry-run")
    assert document["sheets"]["Clients"] == {"created": 1, "updated": 1, "unchanged": 2}
    assert document["changes"]["Clients"] == {
        "rows": [
            {
                "row": 2,
                "key": {"code": "WYR"},
                "outcome": "updated",
                "columns": {"name": {"old": "Wyre Council", "new": "Wyre Borough Council"}},
            },
            {
                "row": 5,
                "key": {"code": "BPL"},
                "outcome": "created",
                "columns": {
                    "name": {"old": None, "new": "Blackpool Council"},
                    "nation": {"old": None, "new": "england"},
                },
            },
        ],
        "unlisted": 0,
    }
    assert "Services" not in document["changes"]  # nothing changes there


def test_changes_past_the_cap_are_counted_not_listed(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(importers.setup_loader, "CHANGES_KEPT", 2)
    clients = [["code", "name"]] + [[f"C{n:02}", f"Council {n}"] for n in range(5)]
    document = cli.json(
        "setup", "load", write_book(tmp_path / "c.xlsx", {"Clients": clients}), "--dry-run"
    )
    assert [r["key"]["code"] for r in document["changes"]["Clients"]["rows"]] == ["C00", "C01"]
    assert document["changes"]["Clients"]["unlisted"] == 3
    text = cli(
        "setup", "load", write_book(tmp_path / "c.xlsx", {"Clients": clients}), "--dry-run"
    ).stdout
    assert "... and 3 more new or changed rows in Clients" in text


def test_a_workbook_with_problems_on_several_sheets_lists_them_all_at_once(cli, database, tmp_path):
    book = small_centre()
    book["Clients"].append(["bad code!", "Nobody"])
    book["Services"].append(["AUD", "Audit", None])  # no unit
    book["Subscriptions"].append(["WYR", "NOPE", date(2026, 4, 1)])
    book["Tariffs"].append(["HOST", "2026-28", "fixed_fee", None, 1, None])
    book["KPIs"] = [
        ["code", "name", "unit", "direction", "target", "amber", "method"],
        ["K-1", "Late", "percent", "higher", 90, 95, "submitted"],
    ]
    document = cli.json("setup", "load", write_book(tmp_path / "bad.xlsx", book), expect=1)
    places = {(e["sheet"], e["column"]) for e in document["errors"]}
    assert {
        ("Clients", "code"),
        ("Services", "unit"),
        ("Subscriptions", "service"),
        ("Tariffs", "financial_year"),
        ("KPIs", "amber"),
    } <= places
    assert document["error_count"] == len(document["errors"])


# -- the current setup, downloaded -----------------------------------------------------------


def test_the_exported_setup_loads_back_with_every_row_unchanged(cli, database, tmp_path):
    book = small_centre()
    book["Clients"][0] += ["nation", "email", "address", "vat_number"]
    book["Clients"][1] += ["wales", "fin@wyre.gov.uk", "Civic Centre\nPoulton", "GB123456789"]
    book["Services"][0] += [
        "vat_rate",
        "cost_centre",
        "subjective",
        "funding",
        "baseline_unit_cost",
        "baseline_period",
    ]
    book["Services"][1] += [20, "R410", "9400", "cost", 5.1234, "2018-19"]
    book["Subscriptions"][0] += [
        "end",
        "tier",
        "vat",
        "notice_months",
        "notice_given",
        "review_date",
    ]
    book["Subscriptions"][1] += [
        date(2027, 3, 31),
        "premium",
        "exempt",
        6,
        date(2026, 9, 1),
        date(2027, 1, 1),
    ]
    book["Tariffs"].append(["PAY", NEXT_YEAR, "graduated", "1000@3.1234; *@0.0001", None, None])
    book["Drivers"] = [
        ["client", "financial_year", "driver", "value"],
        ["WYR", FY, "population", 112000.5],
    ]
    book["Estimates"] = [
        ["client", "service", "financial_year", "quantity"],
        ["WYR", "PAY", FY, "123456789012.123456"],
    ]
    book["ServiceHours"] = [
        ["service", "weekday", "open", "close"],
        ["ICT", "sun", "10:00", "16:30"],
        ["ICT", "mon", "08:00", "18:00"],
        ["HOST", "sat", "00:00", "24:00"],
    ]
    book["KPIs"] = [
        ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit",
         "calendar"],
        ["PAY-5D", "Payslips in 5 days", "PAY", "percent", "higher", 95, 90, "within", 5, None],
        ["ICT-4H", "Calls in 4 hours", "ICT", "percent", "higher", 90, 80, "within", 14400,
         "service_hours"],
    ]  # fmt: skip
    book["SLAs"] = [
        ["client", "kpi", "target", "amber", "service_credit_percent"],
        ["WYR", "PAY-5D", 97, None, 2.5],
    ]
    book["Holidays"] = [
        ["nation", "date", "action", "name"],
        ["england", date(2027, 5, 10), "add", "Extra"],
    ]
    book["Baselines"] = [
        ["kpi", "client", "value", "period"],
        ["PAY-5D", None, 81.5, "2023-24"],
        ["PAY-5D", "WYR", 80, None],
    ]
    book["Profiles"] = [
        ["kpi", "client", "month", "target", "amber"],
        ["PAY-5D", None, "2026-12", 90, None],
        ["PAY-5D", "WYR", "2026-12", 92, 88],
    ]
    book["PostingColumns"] = [
        ["client", "position", "heading", "source"],
        ["WYR", 1, "Cost Centre", "cost_centre"],
        ["WYR", 3, None, "text:GBP"],
    ]
    book["CostCentres"] = [
        ["cost_centre", "service", "name", "share", "driver"],
        ["CC100", "PAY", "Payroll team", None, None],
        ["CC900", "PAY", "Accommodation", 120.5, "floor area"],
        ["CC900", "HOST", "Accommodation", 40, "floor area"],
    ]
    book["Settings"].append(["de_minimis", "5"])
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))

    out = tmp_path / "current.xlsx"
    assert "wrote" in cli("setup", "export", out).stdout
    exported = load_workbook(out)
    template = load_workbook(write_template(cli, tmp_path))
    assert exported.sheetnames == template.sheetnames
    for name in template.sheetnames:
        assert [c.value for c in exported[name][1]] == [c.value for c in template[name][1]], name
    assert exported["Clients"].max_row == 4

    document = cli.json("setup", "load", out, "--dry-run")
    assert document["changes"] == {}
    for sheet, counts in document["sheets"].items():
        assert counts["created"] == counts["updated"] == 0, sheet
        assert counts["unchanged"] == exported[sheet].max_row - 1, sheet
    assert set(document["sheets"]) == set(template.sheetnames) - {"Notes", "KPI presets"}


def test_staff_download_the_current_setup_from_the_setup_page(app, people):
    finance = sign_in(app, people["finance"])
    page = Page(finance.get("/imports/setup").text)
    assert "/imports/setup/current.xlsx" in page.links
    response = download(sign_in(app, people["auditor"]), "/imports/setup/current.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert [r[0].value for r in book["Clients"].iter_rows(min_row=2)] == ["LAN", "PRS", "WYR"]


# -- the templates ---------------------------------------------------------------------------


def write_template(cli, tmp_path, command: str = "setup"):
    out = tmp_path / f"{command}-template.xlsx"
    cli(command, "template", out)
    return out


def validations(sheet) -> dict[str, str]:
    """Each drop-down list of a sheet by the first cell it covers: its source."""
    return {str(v.sqref).split(":")[0]: v.formula1 for v in sheet.data_validations.dataValidation}


def test_the_setup_template_offers_choices_and_the_centres_codes(cli, tmp_path):
    blank = load_workbook(write_template(cli, tmp_path))
    tariffs = validations(blank["Tariffs"])
    assert tariffs["C2"] == '"unit_rate,graduated,banded,fixed_fee,apportion"'
    assert "A2" not in tariffs  # no codes yet: no list of services
    assert validations(blank["Subscriptions"])["G2"] == '"service,outside_scope,exempt,zero"'
    assert validations(blank["Clients"])["C2"] == '"england,wales,scotland,northern_ireland"'

    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    book = load_workbook(write_template(cli, tmp_path))
    subscriptions = validations(book["Subscriptions"])
    client_list, service_list = subscriptions["A2"], subscriptions["B2"]
    assert cells(book["Notes"], client_list) == ["LAN", "PRS", "WYR"]
    assert cells(book["Notes"], service_list) == ["HOST", "ICT", "PAY"]
    assert validations(book["Tariffs"])["A2"] == service_list
    assert (
        next(
            v
            for v in book["Subscriptions"].data_validations.dataValidation
            if v.formula1 == client_list
        ).errorStyle
        == "warning"
    )


def cells(sheet, reference: str) -> list[str]:
    """The values of a range `Notes!$H$5:$H$7` of `sheet`."""
    first, last = reference.split("!")[1].replace("$", "").split(":")
    return [row[0].value for row in sheet[f"{first}:{last}"]]


def test_the_setup_template_has_an_example_of_each_sheet_that_never_loads(cli, database, tmp_path):
    book = load_workbook(write_template(cli, tmp_path))
    notes = list(book["Notes"].iter_rows(min_row=4, max_col=5, values_only=True))
    assert notes[0] == ("sheet", "column", "required", "notes", "example")
    assert ("Clients", "code", "yes", "2-12 of A-Z 0-9 -", "WYR") in notes
    assert ("Tariffs", "rate", "no", "unit_rate", "4.75") in notes
    assert all(book[s].max_row == 1 for s in book.sheetnames if s not in ("Notes", "KPI presets"))
    document = cli.json("setup", "load", write_template(cli, tmp_path))
    assert document["sheets"] == {} and document["changes"] == {}


def test_the_setup_templates_kpi_presets_load_as_kpis_once_a_service_is_named(
    cli, database, tmp_path
):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    presets = load_workbook(write_template(cli, tmp_path))["KPI presets"]
    rows = list(presets.iter_rows(min_row=3, values_only=True))
    header, body = list(rows[0]), [list(r) for r in rows[1:]]
    assert header[-1] == "definition" and len(body) == 7
    codes = {r[0] for r in body}
    assert {"HB-NEW", "HB-COC", "CTAX-COLL", "NNDR-COLL", "AP-30", "CC-ANS", "CC-ABN"} == codes
    assert all(r[-1] for r in body)  # each says what defines it
    kpis = [header[:-1]] + [
        [*r[:2], "PAY" if r[7] in ("within", "average_elapsed") else None, *r[3:-1]] for r in body
    ]
    document = cli.json("setup", "load", write_book(tmp_path / "kpis.xlsx", {"KPIs": kpis}))
    assert document["sheets"]["KPIs"]["created"] == 7


def test_the_usage_template_has_an_example_and_lists_of_codes(cli, database, tmp_path):
    blank = load_workbook(write_template(cli, tmp_path, "usage"))
    assert validations(blank["Usage"]) == {}
    notes = list(blank["Notes"].iter_rows(max_col=4, values_only=True))
    assert notes[0] == ("column", "required", "notes", "example")
    assert notes[2][0] == "client" and notes[2][3] == "WYR"

    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    path = write_template(cli, tmp_path, "usage")
    book = load_workbook(path)
    lists = validations(book["Usage"])
    assert cells(book["Notes"], lists["B2"]) == ["LAN", "PRS", "WYR"]
    assert cells(book["Notes"], lists["C2"]) == ["HOST", "ICT", "PAY"]
    book["Usage"].append(["T1", "WYR", "PAY", "2026-05-07", 3])
    book.save(path)
    assert cli.json("usage", "import", path)["inserted"] == 1


def test_the_web_templates_offer_the_centres_codes(app, people):
    finance = sign_in(app, people["finance"])
    for url, sheet, cell in (
        ("/imports/setup/template.xlsx", "Subscriptions", "A2"),
        ("/imports/usage/template.xlsx", "Usage", "B2"),
    ):
        book = load_workbook(io.BytesIO(download(finance, url).data))
        assert cells(book["Notes"], validations(book[sheet])[cell]) == ["LAN", "PRS", "WYR"], url


def test_a_subscription_in_notice_is_one_until_its_notice_runs_out():
    from importers.reference import status_of
    from opsplatform.vocabulary import SubscriptionStatus

    leaver = Subscription(
        start=date(2026, 4, 1),
        end=date(2026, 6, 30),
        notice_given=date(2026, 4, 1),
        notice_months=6,
    )
    assert status_of(leaver, date(2026, 5, 1)) == SubscriptionStatus.NOTICE
    assert status_of(leaver, date(2026, 9, 30)) == SubscriptionStatus.NOTICE  # paid until October
    assert status_of(leaver, date(2026, 10, 2)) == SubscriptionStatus.ENDED
    assert status_of(leaver, date(2026, 3, 1)) == SubscriptionStatus.FUTURE
    assert (
        status_of(Subscription(start=date(2026, 4, 1)), date(2030, 1, 1))
        == SubscriptionStatus.ACTIVE
    )


def test_a_replaced_posting_template_lists_its_changed_and_removed_columns(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    header = ["client", "position", "heading", "source"]
    first = [header, ["WYR", 1, "CC", "cost_centre"], ["WYR", 2, "Acct", "subjective"]]
    first.append(["WYR", 3, "Amount", "amount"])
    cli("setup", "load", write_book(tmp_path / "p1.xlsx", {"PostingColumns": first}))
    again = [header, ["WYR", 1, "Cost centre", "cost_centre"], ["WYR", 2, "Acct", "subjective"]]
    path = write_book(tmp_path / "p2.xlsx", {"PostingColumns": again})

    document = cli.json("setup", "load", path, "--dry-run")
    assert document["changes"]["PostingColumns"]["rows"] == [
        {
            "row": 2,
            "key": {"client": "WYR", "position": "1"},
            "outcome": "updated",
            "columns": {"heading": {"old": "CC", "new": "Cost centre"}},
        },
        {
            "row": None,
            "key": {"client": "WYR", "position": "3"},
            "outcome": "removed",
            "columns": {
                "heading": {"old": "Amount", "new": None},
                "source": {"old": "amount", "new": None},
            },
        },
    ]
    text = cli("setup", "load", path, "--dry-run").stdout
    assert "removed PostingColumns (client WYR, position 3): heading: Amount -> (blank)" in text


def test_the_check_page_lists_a_removed_posting_column(app, people, cli, tmp_path):
    header = ["client", "position", "heading", "source"]
    first = [header, ["WYR", 1, "CC", "cost_centre"], ["WYR", 2, "Amount", "amount"]]
    cli("setup", "load", write_book(tmp_path / "p1.xlsx", {"PostingColumns": first}))
    finance = sign_in(app, people["finance"])
    book = {"PostingColumns": [header, ["WYR", 1, "CC", "cost_centre"]]}
    page, _ = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "posting.xlsx")
    assert [
        "–",
        "client WYR, position 2",
        "Removed",
        "heading: Amount → becomes (blank) source: amount → becomes (blank)",
    ] in changes_of(page)
