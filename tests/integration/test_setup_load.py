"""`setup template` and `setup load` on a real SQLite file (CONTRACT.md sections 2, 3 and 5)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from billing.models import Statement
from opsplatform.models import Client, Service, ServiceHours, Setting, Subscription, Tariff
from opsplatform.settings import centre_settings
from tests import crafted
from tests.support import FY, small_centre, write_book, write_csv

# The columns of CONTRACT.md section 3, sheet by sheet.
CONTRACT_SHEETS = {
    "Settings": ["key", "value"],
    "Clients": [
        "code",
        "name",
        "nation",
        "email",
        "address",
        "vat_number",
        "vat_recoverable_code",
        "creditors_code",
    ],
    "Services": [
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
    "ServiceHours": ["service", "weekday", "open", "close"],
    "Subscriptions": [
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
        "review_date",
        "notice_given",
    ],
    "Drivers": ["client", "financial_year", "driver", "value"],
    "Tariffs": [
        "service",
        "financial_year",
        "rule",
        "client",
        "tier",
        "rate",
        "bands",
        "annual_amount",
        "driver",
        "minimum",
        "annual_cap",
        "billing",
        "true_up_tolerance",
    ],
    "Estimates": ["client", "service", "financial_year", "quantity"],
    "KPIs": [
        "code",
        "name",
        "service",
        "unit",
        "direction",
        "target",
        "amber",
        "method",
        "limit",
        "calendar",
    ],
    "SLAs": ["client", "kpi", "target", "amber", "service_credit_percent"],
    "PostingColumns": ["client", "position", "heading", "source"],
}


def count(database, model) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def client_names(database) -> dict[str, str]:
    with database.transaction() as session:
        return dict(session.execute(select(Client.code, Client.name)).all())


def show(cli, number: str) -> dict:
    return cli.json("billing", "show", number)


def lines_of(document: dict, kind: str) -> list[dict]:
    return [line for line in document["lines"] if line["kind"] == kind]


# -- the template --------------------------------------------------------------------------


def test_template_has_the_contract_sheets_and_headers_and_loads_back_empty(cli, database, tmp_path):
    out = tmp_path / "setup-template.xlsx"
    cli("setup", "template", out)

    book = load_workbook(out, read_only=True)
    try:
        for sheet, columns in CONTRACT_SHEETS.items():
            assert sheet in book.sheetnames, f"the template has no {sheet} sheet"
            header = [c for c in next(book[sheet].iter_rows(values_only=True)) if c is not None]
            assert [str(c).strip().lower() for c in header] == columns, sheet
    finally:
        book.close()

    result = cli("setup", "load", out, "--json")
    report = json.loads(result.stdout)
    assert all(
        counts["created"] == counts["updated"] == 0 for counts in report.get("sheets", {}).values()
    )
    assert count(database, Client) == 0
    assert count(database, Service) == 0
    assert count(database, Tariff) == 0


# -- loading the small centre --------------------------------------------------------------


def test_loading_creates_rows_and_loading_again_reports_them_unchanged(cli, database, tmp_path):
    book = write_book(tmp_path / "setup.xlsx", small_centre())

    first = cli.json("setup", "load", book)
    assert first["sheets"]["Clients"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert first["sheets"]["Services"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert first["sheets"]["Subscriptions"] == {"created": 8, "updated": 0, "unchanged": 0}
    assert first["sheets"]["Tariffs"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert first["sheets"]["Settings"]["created"] == 2
    assert client_names(database) == {
        "WYR": "Wyre Council",
        "LAN": "Lancaster City Council",
        "PRS": "Preston City Council",
    }
    assert count(database, Subscription) == 8

    second = cli.json("setup", "load", book)
    for sheet, counts in second["sheets"].items():
        assert counts["created"] == 0, sheet
        assert counts["updated"] == 0, sheet
        assert counts["unchanged"] == first["sheets"][sheet]["created"], sheet
    assert count(database, Client) == 3
    assert count(database, Subscription) == 8
    assert count(database, Tariff) == 3

    text = cli("setup", "load", book).stdout
    assert "0 new, 0 changed, 3 unchanged" in text


def test_headers_ignore_case_and_surrounding_spaces(cli, database, tmp_path):
    book = write_book(
        tmp_path / "setup.xlsx",
        {
            "Clients": [[" CODE ", "Name  ", " Nation"], ["WYR", "Wyre Council", "England"]],
            "Services": [
                ["Code", " NAME ", "Unit", "VAT_Rate "],
                ["PAY", "Payroll", "payslip", 20],
            ],
        },
    )
    cli("setup", "load", book)
    assert client_names(database) == {"WYR": "Wyre Council"}
    with database.transaction() as session:
        service = session.scalars(select(Service)).one()
        assert (service.code, service.unit, service.vat_rate) == ("PAY", "payslip", Decimal(20))


def test_dry_run_reports_but_writes_nothing(cli, database, tmp_path):
    book = write_book(tmp_path / "setup.xlsx", small_centre())

    report = cli.json("setup", "load", book, "--dry-run")
    assert report["dry_run"] is True
    assert report["sheets"]["Clients"]["created"] == 3
    assert "would load" in cli("setup", "load", book, "--dry-run").stdout

    assert count(database, Client) == 0
    assert count(database, Service) == 0
    assert count(database, Subscription) == 0
    assert count(database, Tariff) == 0
    assert count(database, Setting) == 0


# -- all or nothing ------------------------------------------------------------------------


def broken_book() -> dict[str, list[list]]:
    """Valid rows mixed with one of each kind of problem; (sheet, row, column) of each below."""
    return {
        "Clients": [
            ["code", "name"],
            ["WYR", "Wyre Council"],  # fine on its own: must not be written either
            ["x!", "Bad Code Council"],  # row 3: bad code
        ],
        "Services": [
            ["code", "name", "unit", "colour"],  # colour: unknown column
            ["PAY", "Payroll", "payslip", "blue"],
        ],
        "Subscriptions": [
            ["client", "service", "start", "end"],
            ["NOPE", "PAY", date(2026, 4, 1), None],  # row 2: dangling client
            ["WYR", "PAY", "2026-13-01", None],  # row 3: bad date
            ["WYR", "PAY", date(2026, 6, 1), date(2026, 5, 1)],  # row 4: end before start
        ],
        "Tariffs": [
            ["service", "financial_year", "rule", "rate", "bands"],
            ["PAY", FY, "unit_rate", None, None],  # row 2: needs a rate
            ["PAY", "2027-28", "graduated", None, "lots of them"],  # row 3: bad bands
        ],
        "KPIs": [
            ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
            ["PAY-5D", "Payslips on time", "PAY", "percent", "higher", 90, 95, "within", 5],
        ],
        "Extras": [["anything"], ["at all"]],  # unknown sheet
    }


EXPECTED_PROBLEMS = [
    ("Clients", 3, "code"),
    ("Services", 1, "colour"),
    ("Subscriptions", 2, "client"),
    ("Subscriptions", 3, "start"),
    ("Subscriptions", 4, "end"),
    ("Tariffs", 2, "rate"),
    ("Tariffs", 3, "bands"),
    ("KPIs", 2, "amber"),
]


def test_a_workbook_with_many_problems_lists_every_one_and_writes_nothing(cli, database, tmp_path):
    book = write_book(tmp_path / "broken.xlsx", broken_book())

    result = cli("setup", "load", book, expect=1)
    stderr = result.stderr
    for sheet, row, column in EXPECTED_PROBLEMS:
        assert f"sheet {sheet}, row {row}, column {column}" in stderr, (sheet, row, column)
    assert "Extras" in stderr
    assert all(line.startswith("error: ") for line in stderr.splitlines() if line.strip())

    errors = cli.json("setup", "load", book, expect=1)["errors"]
    where = {(e["sheet"], e["row"], e["column"]) for e in errors}
    for expected in EXPECTED_PROBLEMS:
        assert expected in where, expected
    assert any(e["sheet"] == "Extras" for e in errors)
    assert all(e["message"] for e in errors)

    assert count(database, Client) == 0
    assert count(database, Service) == 0
    assert count(database, Subscription) == 0
    assert count(database, Tariff) == 0
    assert cli.json("billing", "list") == []


def test_text_too_long_for_its_column_or_holding_a_nul_is_refused_naming_the_cell(
    cli, database, tmp_path
):
    long = write_book(
        tmp_path / "long.xlsx",
        {
            "Clients": [["code", "name"], ["WYR", "W" * 200], ["LAN", "L" * 201]],
            "Services": [["code", "name", "unit"], ["PAY", "Payroll", "p" * 41]],
        },
    )
    errors = cli.json("setup", "load", long, expect=1)["errors"]
    assert [(e["sheet"], e["row"], e["column"], e["message"]) for e in errors] == [
        ("Clients", 3, "name", "name is longer than 200 characters"),
        ("Services", 2, "unit", "unit is longer than 40 characters"),
    ]
    nul = crafted.workbook(
        tmp_path / "nul.xlsx",
        {
            "Clients": crafted.sheet(
                [
                    (crafted.cells("code", "name", row=1), 1),
                    (crafted.cells("WYR", "W_x0000_", row=2), 1),
                ]
            )
        },
    )
    errors = cli.json("setup", "load", nul, expect=1)["errors"]
    assert [(e["sheet"], e["row"], e["column"], e["message"]) for e in errors] == [
        ("Clients", 2, "name", "name holds a NUL character or a lone surrogate")
    ]
    assert count(database, Client) == 0


def test_a_refused_workbook_leaves_earlier_data_as_it_was(cli, database, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    book = write_book(
        tmp_path / "rename.xlsx",
        {
            "Clients": [["code", "name"], ["WYR", "Wyre Borough Council"]],
            "Subscriptions": [["client", "service", "start"], ["WYR", "PAY", "not a date"]],
        },
    )
    cli("setup", "load", book, expect=1)
    assert client_names(database)["WYR"] == "Wyre Council"


# -- service hours -------------------------------------------------------------------------

HOURS_HEADER = ["service", "weekday", "open", "close"]
ICT_HOURS_KPI = [
    ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit",
     "calendar"],
    ["ICT-4H", "Calls fixed in 4 hours", "ICT", "percent", "higher", 90, 80, "within", 14400,
     "service_hours"],
]  # fmt: skip


def opening_hours(database) -> dict[str, dict[str, tuple[str, str]]]:
    with database.transaction() as session:
        rows = session.execute(
            select(Service.code, ServiceHours.weekday, ServiceHours.open, ServiceHours.close).join(
                Service, ServiceHours.service_id == Service.id
            )
        ).all()
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for service, weekday, opens, closes in rows:
        found.setdefault(service, {})[weekday] = (opens, closes)
    return found


def test_every_service_hours_problem_is_listed_in_one_pass_and_nothing_written(
    cli, database, tmp_path
):
    book = small_centre()
    book["ServiceHours"] = [
        HOURS_HEADER,
        ["ICT", "mon", "08:00", "18:00"],
        ["NOPE", "tue", "08:00", "18:00"],  # unknown service
        ["ICT", "funday", "08:00", "18:00"],  # bad weekday
        ["ICT", "wed", "8 am", "18:00"],  # bad time
        ["ICT", "thu", "18:00", "08:00"],  # close not after open
        ["ICT", "MON", "09:00", "17:00"],  # repeats row 2
        ["ICT", "fri", "08:00", "24:01"],  # past midnight
    ]
    errors = cli.json("setup", "load", write_book(tmp_path / "bad.xlsx", book), expect=1)["errors"]
    assert {(e["sheet"], e["row"], e["column"]): e["message"] for e in errors} == {
        ("ServiceHours", 3, "service"): "unknown service 'NOPE'",
        ("ServiceHours", 4, "weekday"): "'funday' is not one of mon, tue, wed, thu, fri, sat, sun",
        ("ServiceHours", 5, "open"): "'8 am' is not a time: write HH:MM from 00:00 to 24:00, "
        "e.g. 08:30",
        ("ServiceHours", 6, "close"): "close 08:00 is not after open 18:00",
        ("ServiceHours", 7, None): "repeats row 2",
        ("ServiceHours", 8, "close"): "'24:01' is not a time: write HH:MM from 00:00 to 24:00, "
        "e.g. 08:30",
    }
    assert count(database, Client) == 0
    assert count(database, ServiceHours) == 0


def test_a_service_hours_kpi_needs_its_services_hours(cli, database, tmp_path):
    book = small_centre()
    book["KPIs"] = ICT_HOURS_KPI
    errors = cli.json("setup", "load", write_book(tmp_path / "kpi.xlsx", book), expect=1)["errors"]
    assert [(e["sheet"], e["row"], e["column"]) for e in errors] == [("KPIs", 2, "calendar")]
    assert "ICT" in errors[0]["message"] and "ServiceHours" in errors[0]["message"]

    book["ServiceHours"] = [HOURS_HEADER, ["ict", "Mon", "8:00", "18:00"]]
    cli("setup", "load", write_book(tmp_path / "kpi-and-hours.xlsx", book))
    assert opening_hours(database) == {"ICT": {"mon": ("08:00", "18:00")}}


def test_a_services_rows_replace_its_hours(cli, database, tmp_path):
    book = small_centre()
    book["ServiceHours"] = [
        HOURS_HEADER,
        *[["ICT", day, "08:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")],
        ["HOST", "sat", "00:00", "24:00"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))
    later = {"ServiceHours": [HOURS_HEADER, ["ICT", "mon", "09:00", "17:00"]]}
    report = cli.json("setup", "load", write_book(tmp_path / "later.xlsx", later))
    assert report["sheets"]["ServiceHours"] == {"created": 0, "updated": 1, "unchanged": 0}
    rows = report["changes"]["ServiceHours"]["rows"]
    assert [(r["key"]["weekday"], r["outcome"]) for r in rows] == [
        ("mon", "updated"),
        ("tue", "removed"),
        ("wed", "removed"),
        ("thu", "removed"),
        ("fri", "removed"),
    ]
    assert rows[1]["columns"] == {
        "open": {"old": "08:00", "new": None},
        "close": {"old": "18:00", "new": None},
    }
    assert opening_hours(database) == {
        "ICT": {"mon": ("09:00", "17:00")},
        "HOST": {"sat": ("00:00", "24:00")},  # another service's hours stay
    }


# -- upserts and tariffs -------------------------------------------------------------------


def test_rows_are_upserted_by_natural_key(cli, database, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    rename = write_book(
        tmp_path / "rename.xlsx",
        {
            "Clients": [
                ["code", "name"],
                ["wyr", "Wyre Borough Council"],
                ["LAN", "Lancaster City Council"],
            ],
            "Subscriptions": [
                ["client", "service", "start", "tier"],
                ["WYR", "PAY", date(2026, 4, 1), "premium"],
            ],
        },
    )
    report = cli.json("setup", "load", rename)
    assert report["sheets"]["Clients"] == {"created": 0, "updated": 1, "unchanged": 1}
    assert report["sheets"]["Subscriptions"] == {"created": 0, "updated": 1, "unchanged": 0}

    assert client_names(database) == {
        "WYR": "Wyre Borough Council",
        "LAN": "Lancaster City Council",
        "PRS": "Preston City Council",
    }
    assert count(database, Subscription) == 8
    with database.transaction() as session:
        tier = session.scalar(
            select(Subscription.tier)
            .join(Client, Subscription.client_id == Client.id)
            .join(Service, Subscription.service_id == Service.id)
            .where(Client.code == "WYR", Service.code == "PAY")
        )
    assert tier == "premium"


def test_the_most_specific_tariff_applies_client_then_tier_then_general(cli, tmp_path):
    book = {
        "Settings": [["key", "value"], ["statement_prefix", "TSS"]],
        "Clients": [["code", "name"], ["WYR", "Wyre"], ["LAN", "Lancaster"], ["PRS", "Preston"]],
        "Services": [["code", "name", "unit"], ["PAY", "Payroll", "payslip"]],
        "Subscriptions": [
            ["client", "service", "start", "tier"],
            ["WYR", "PAY", date(2026, 4, 1), None],  # standard: the general rate
            ["PRS", "PAY", date(2026, 4, 1), "premium"],  # the premium tier's rate
            ["LAN", "PAY", date(2026, 4, 1), "premium"],  # its own rate beats the tier's
        ],
        "Tariffs": [
            ["service", "financial_year", "rule", "client", "tier", "rate"],
            ["PAY", FY, "unit_rate", None, None, 1],
            ["PAY", FY, "unit_rate", None, "premium", 2],
            ["PAY", FY, "unit_rate", "LAN", None, 3],
        ],
    }
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))
    usage = [
        {"client": code, "service": "PAY", "date": "2026-05-10", "quantity": 10}
        for code in ("WYR", "LAN", "PRS")
    ]
    cli("usage", "import", write_csv(tmp_path / "may.csv", usage))
    cli("billing", "close", "2026-05")

    def pay(code: str) -> str:
        (line,) = [x for x in show(cli, f"TSS-202605-{code}")["lines"] if x["service"] == "PAY"]
        return line["amount"]

    assert pay("WYR") == "10.00"
    assert pay("PRS") == "20.00"
    assert pay("LAN") == "30.00"


# -- frozen tariffs ------------------------------------------------------------------------


@pytest.fixture
def april_issued(cli, tmp_path):
    """The small centre with 100 WYR payslips in April, April issued and May drafted."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli(
        "usage",
        "import",
        write_csv(
            tmp_path / "april.csv",
            [{"client": "WYR", "service": "PAY", "date": "2026-04-15", "quantity": 100}],
        ),
    )
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    cli("billing", "close", "2026-05")
    assert show(cli, "TSS-202604-WYR")["status"] == "issued"
    return cli


def new_pay_tariff(tmp_path):
    book = small_centre()
    book["Tariffs"] = [book["Tariffs"][0], ["PAY", FY, "graduated", "500@5.00; *@3.00", None, None]]
    return write_book(tmp_path / "new-tariff.xlsx", book)


def pay_bands(database) -> str:
    with database.transaction() as session:
        return session.scalar(
            select(Tariff.bands)
            .join(Service)
            .where(Service.code == "PAY", Tariff.financial_year == FY)
        )


def test_unchanged_tariffs_of_an_issued_year_load_fine(april_issued, tmp_path):
    report = april_issued.json("setup", "load", write_book(tmp_path / "same.xlsx", small_centre()))
    assert report["sheets"]["Tariffs"] == {"created": 0, "updated": 0, "unchanged": 3}

    # next year's tariffs are not frozen by this year's statements
    book = small_centre()
    book["Tariffs"] = [book["Tariffs"][0], ["PAY", "2027-28", "graduated", "*@9.00", None, None]]
    report = april_issued.json("setup", "load", write_book(tmp_path / "next.xlsx", book))
    assert report["sheets"]["Tariffs"] == {"created": 1, "updated": 0, "unchanged": 0}


def test_a_changed_tariff_of_an_issued_year_is_refused_naming_the_issued_month(
    april_issued, database, tmp_path
):
    cli = april_issued
    book = new_pay_tariff(tmp_path)
    result = cli("setup", "load", book, expect=1)
    assert "2026-04" in result.stderr
    assert (
        "error: sheet Tariffs, row 2, column rule: the tariffs of 2026-27 are frozen: "
        "statements for 2026-04 are issued; load with --rerate to change them and bill the "
        "difference as prior-period lines"
    ) in result.stderr
    errors = cli.json("setup", "load", book, expect=1)["errors"]
    assert [(e["sheet"], e["row"], e["code"]) for e in errors] == [("Tariffs", 2, "tariff_frozen")]
    assert errors[0]["message"].endswith(
        "; load with --rerate to change them and bill the difference as prior-period lines"
    )
    assert pay_bands(database) == "500@4.00; *@3.00"

    # with May issued too, both months are named
    cli("billing", "issue", "2026-05")
    result = cli("setup", "load", book, expect=1)
    assert "2026-04" in result.stderr and "2026-05" in result.stderr

    # a brand-new tariff for the frozen year (a client's own) is a change too
    extra = small_centre()
    extra["Tariffs"][0] = [*extra["Tariffs"][0], "client"]
    extra["Tariffs"].append(["PAY", FY, "graduated", "500@1.00; *@1.00", None, None, "WYR"])
    cli("setup", "load", write_book(tmp_path / "extra.xlsx", extra), expect=1)
    assert count(database, Tariff) == 3


def test_rerate_accepts_the_change_and_bills_the_difference_as_prior_period(
    april_issued, database, tmp_path
):
    cli = april_issued
    april_before = show(cli, "TSS-202604-WYR")
    may_before = show(cli, "TSS-202605-WYR")
    assert lines_of(may_before, "prior_period") == []

    cli("setup", "load", new_pay_tariff(tmp_path), "--rerate")
    assert pay_bands(database) == "500@5.00; *@3.00"
    assert show(cli, "TSS-202604-WYR") == april_before  # issued statements never change

    cli("billing", "close", "2026-05")
    may = show(cli, "TSS-202605-WYR")
    (prior,) = lines_of(may, "prior_period")
    assert prior["service"] == "PAY"
    assert prior["amount"] == "100.00"  # 100 payslips re-rated from 4.00 to 5.00
    assert "TSS-202604-WYR" in (prior.get("corrects") or prior["description"])
    assert Decimal(may["net"]) == Decimal(may_before["net"]) + Decimal("100.00")
    # LAN and PRS had no April payslips: nothing changed for them
    assert lines_of(show(cli, "TSS-202605-LAN"), "prior_period") == []
    assert lines_of(show(cli, "TSS-202605-PRS"), "prior_period") == []


def test_restating_a_frozen_tariff_with_other_spacing_is_not_a_change(april_issued, tmp_path):
    # The same bands written without the space after ';' mean the same tariff: the
    # whole setup workbook is reloaded through the year, and an unchanged tariff loads.
    book = small_centre()
    book["Tariffs"][1] = ["PAY", FY, "graduated", "500@4.00;*@3.00", None, None]
    april_issued("setup", "load", write_book(tmp_path / "respaced.xlsx", book))


def test_the_frozen_check_only_counts_issued_statements(cli, database, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli("billing", "close", "2026-04")  # drafts only
    cli("setup", "load", new_pay_tariff(tmp_path))
    assert pay_bands(database) == "500@5.00; *@3.00"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Statement)) == 3


def test_a_column_left_out_of_a_sheet_keeps_the_stored_values(cli, database, tmp_path):
    first = {
        "Clients": [["code", "name", "nation", "email"], ["GLA", "Glanafon", "wales", "a@b.cymru"]]
    }
    cli("setup", "load", write_book(tmp_path / "first.xlsx", first))
    renamed = {"Clients": [["code", "name"], ["GLA", "Glanafon County Borough"]]}
    cli("setup", "load", write_book(tmp_path / "renamed.xlsx", renamed))
    with database.transaction() as session:
        client = session.scalars(select(Client).where(Client.code == "GLA")).one()
        assert (client.name, client.nation, client.email) == (
            "Glanafon County Borough",
            "wales",
            "a@b.cymru",
        )


def test_agreements_vat_and_ledger_codes_load_and_are_optional(cli, database, tmp_path):
    sheets = small_centre()
    sheets["Settings"] += [
        ["centre_address", "Civic Centre, Poulton-le-Fylde, FY6 7PU"],
        ["vat_number", "GB 123 4567 89"],
        ["vat_control_code", "S0001"],
        ["debtors_code", "B4100"],
    ]
    sheets["Clients"] = [
        ["code", "name", "address", "vat_number"],
        ["WYR", "Wyre Council", "Civic Centre, FY6 7PU", None],
        ["LAN", "Lancaster City Council", None, None],
        ["PRS", "Preston City Council", None, None],
    ]
    sheets["Services"] = [
        ["code", "name", "unit", "cost_centre", "subjective"],
        ["PAY", "Payroll", "payslip", "C100", "I4000"],
        ["HOST", "Systems hosting", "month", "C200", "I4100"],
        ["ICT", "ICT service desk", "month", None, None],
    ]
    sheets["Subscriptions"][0] += [
        "vat",
        "client_cost_centre",
        "client_subjective",
        "basis",
        "notice_months",
        "review_date",
    ]
    sheets["Subscriptions"][1] += ["outside_scope", "W-HR1", "E1200", "S101", 12, date(2029, 3, 31)]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))

    with database.reading() as session:
        first = session.scalars(select(Subscription).order_by(Subscription.id)).first()
        assert (first.client.code, first.service.code) == ("WYR", "PAY")
        assert (first.vat, first.client_cost_centre, first.client_subjective) == (
            "outside_scope",
            "W-HR1",
            "E1200",
        )
        assert (first.basis, first.notice_months, first.review_date) == (
            "s101",
            12,
            date(2029, 3, 31),
        )
        others = session.scalars(select(Subscription).where(Subscription.id != first.id)).all()
        assert {s.vat for s in others} == {"service"}  # the default: the service's own rate
        assert {s.basis for s in others} == {None}
        wyre = session.scalars(select(Client).where(Client.code == "WYR")).one()
        assert wyre.address == "Civic Centre, FY6 7PU" and wyre.vat_number is None
        pay = session.scalars(select(Service).where(Service.code == "PAY")).one()
        assert (pay.cost_centre, pay.subjective) == ("C100", "I4000")
        settings = centre_settings(session)
        assert (settings.vat_number, settings.vat_control_code, settings.debtors_code) == (
            "GB 123 4567 89",
            "S0001",
            "B4100",
        )


def test_an_unknown_vat_treatment_is_refused_naming_its_cell(cli, database, tmp_path):
    sheets = small_centre()
    sheets["Subscriptions"][0] += ["vat"]
    sheets["Subscriptions"][1] += ["reduced"]
    result = cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets), expect=1)
    assert (
        "sheet Subscriptions, row 2, column vat: 'reduced' is not one of service, "
        "outside_scope, exempt, zero"
    ) in result.stderr
    with database.reading() as session:
        assert session.scalar(select(func.count(Client.id))) == 0
