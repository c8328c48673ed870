"""Budget estimates: last year's volumes priced at next year's tariffs (`billing estimate`)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.support import small_centre, write_book, write_csv

NEXT = "2027-28"


def budget_centre(cli, tmp_path) -> None:
    """The small centre; PRS leaves on 31 March 2027; 2027-28 tariffs:
    PAY 500@4.50; *@3.50, HOST 38,000 a year, ICT pool 126,000 split equally."""
    sheets = small_centre()
    april = date(2026, 4, 1)
    sheets["Subscriptions"] = (
        [["client", "service", "start", "end"]]
        + [[k, s, april, None] for k in ("WYR", "LAN") for s in ("PAY", "HOST", "ICT")]
        + [["PRS", s, april, date(2027, 3, 31)] for s in ("HOST", "ICT")]
    )
    sheets["Tariffs"] += [
        ["PAY", NEXT, "graduated", "500@4.50; *@3.50", None, None],
        ["HOST", NEXT, "fixed_fee", None, 38000, None],
        ["ICT", NEXT, "apportion", None, 126000, "equal"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))
    cli(
        "usage",
        "import",
        write_csv(
            tmp_path / "usage.csv",
            [
                {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 700},
                {"client": "WYR", "service": "PAY", "date": "2026-11-10", "quantity": 100},
                {"client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
            ],
        ),
    )


def net_by_client(entries: list[dict[str, str]]) -> dict[str, Decimal]:
    """`billing estimate --json`'s entries summed by client."""
    totals: dict[str, Decimal] = {}
    for e in entries:
        totals[e["client"]] = totals.get(e["client"], Decimal(0)) + Decimal(e["annual"])
    return totals


def test_estimate_prices_last_years_volumes_at_the_new_tariffs(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    document = net_by_client(cli.json("billing", "estimate", NEXT, "-o", out))
    # WYR: PAY month by month: May 500 x 4.50 + 200 x 3.50 = 2950.00, November
    # 100 x 4.50 = 450.00; HOST 38,000.00; ICT 126,000 / 2 clients = 63,000.00.
    assert document["WYR"] == Decimal("104400.00")
    # LAN: PAY 300 x 4.50 = 1350.00, plus the same HOST and ICT.
    assert document["LAN"] == Decimal("102350.00")
    # PRS opted out before 2027-28: no budget letter.
    assert "PRS" not in document

    book = load_workbook(out)
    assert book.sheetnames[0] == "Summary"
    assert {"WYR", "LAN"} <= set(book.sheetnames)
    assert "PRS" not in book.sheetnames
    summary = [row for row in book["Summary"].iter_rows(values_only=True)]
    wyr_row = next(row for row in summary if row[0] == "WYR")
    assert Decimal(str(wyr_row[2])) == Decimal("104400")
    assert not any(row[0] == "PRS" for row in summary)

    sheet = [row for row in book["WYR"].iter_rows(values_only=True)]
    header = next(row for row in sheet if row[0] == "service")
    rows = {
        row[0]: dict(zip(header, row, strict=False))
        for row in sheet
        if row[0] in ("PAY", "HOST", "ICT")
    }
    assert Decimal(str(rows["PAY"]["net"])) == Decimal("3400")
    assert Decimal(str(rows["HOST"]["net"])) == Decimal("38000")
    assert Decimal(str(rows["ICT"]["net"])) == Decimal("63000")
    assert Decimal(str(rows["PAY"]["quantity"])) == 800


def test_estimate_human_output(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    text = cli("billing", "estimate", NEXT, "-o", out).stdout
    assert "WYR" in text and "104400.00" in text
    assert out.exists()


def test_estimate_without_tariffs_for_the_year_is_refused(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "later.xlsx"
    result = cli("billing", "estimate", "2028-29", "-o", out, expect=1)
    assert "tariff" in result.stderr.lower()
    assert "2028-29" in result.stderr
    assert not out.exists()
    refused = cli("billing", "estimate", "2028-29", "-o", out, "--json", expect=1)
    assert json.loads(refused.stdout)["errors"]
    assert not out.exists()


def test_estimate_needs_a_year_and_writes_a_workbook_only_when_asked(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli("billing", "estimate", "2027", "-o", tmp_path / "x.xlsx", expect=2)
    before = sorted(tmp_path.rglob("*"))
    printed = cli("billing", "estimate", NEXT).stdout
    assert "104400.00" in printed and "wrote" not in printed
    assert sorted(tmp_path.rglob("*")) == before  # no -o: no workbook


def test_estimate_json_is_one_entry_per_client_and_service(cli, tmp_path):
    budget_centre(cli, tmp_path)
    entries = cli.json("billing", "estimate", NEXT)
    assert {(e["client"], e["service"]) for e in entries} >= {("WYR", "PAY"), ("LAN", "HOST")}
    assert all(set(e) == {"client", "service", "annual"} for e in entries)
    wyre = {e["service"]: e["annual"] for e in entries if e["client"] == "WYR"}
    assert wyre == {"PAY": "3400.00", "HOST": "38000.00", "ICT": "63000.00"}


def test_a_service_left_before_the_year_is_not_projected(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "leave.xlsx",
            {
                "Subscriptions": [
                    ["client", "service", "start", "end"],
                    ["WYR", "PAY", date(2026, 4, 1), date(2027, 3, 31)],
                ]
            },
        ),
    )
    document = net_by_client(cli.json("billing", "estimate", NEXT, "-o", tmp_path / "b.xlsx"))
    # WYR keeps hosting and the ICT desk but takes no payroll in 2027-28.
    assert document["WYR"] == Decimal("101000.00")
    assert document["LAN"] == Decimal("102350.00")


def monthly(client: str, service: str, months: list[str], quantity) -> list[dict]:
    """One usage row on the 15th of each month named (`YYYY-MM`)."""
    return [
        {"client": client, "service": service, "date": f"{m}-15", "quantity": quantity}
        for m in months
    ]


BASE_MONTHS = [f"2026-{m:02d}" for m in range(4, 13)] + [f"2027-{m:02d}" for m in range(1, 4)]
FROM_NOVEMBER = BASE_MONTHS[7:]


def joiner_centre(cli, tmp_path) -> None:
    """The budget centre, and Chorley (CHO), which joined payroll and legal advice on
    1 November 2026; WYR takes legal advice all year; 2027-28 legal advice is a pool of
    24,000 apportioned by usage (hours)."""
    budget_centre(cli, tmp_path)
    november = date(2026, 11, 1)
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "joiner.xlsx",
            {
                "Clients": [["code", "name"], ["CHO", "Chorley Council"]],
                "Services": [["code", "name", "unit"], ["LGL", "Legal advice", "hour"]],
                "Subscriptions": [
                    ["client", "service", "start", "end"],
                    ["CHO", "PAY", november, None],
                    ["CHO", "LGL", november, None],
                    ["WYR", "LGL", date(2026, 4, 1), None],
                ],
                "Tariffs": [
                    ["service", "financial_year", "rule", "bands", "annual_amount", "driver"],
                    ["LGL", NEXT, "apportion", None, 24000, "usage"],
                ],
            },
        ),
    )
    rows = [
        {"client": "CHO", "service": "PAY", "date": f"{m}-15", "quantity": q}
        for m, q in zip(FROM_NOVEMBER, (100, 150, 120, 110, 120), strict=True)
    ]
    rows += monthly("CHO", "LGL", FROM_NOVEMBER, 10) + monthly("WYR", "LGL", BASE_MONTHS, 30)
    cli("usage", "import", write_csv(tmp_path / "joiner.csv", rows))


def annual(entries: list[dict]) -> dict[tuple[str, str], str]:
    """`billing estimate --json`'s `annual` by (client, service)."""
    return {(e["client"], e["service"]): e["annual"] for e in entries}


def test_a_client_that_joined_in_november_is_projected_for_all_twelve_months(cli, tmp_path):
    joiner_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    got = annual(cli.json("billing", "estimate", NEXT, "-o", out))
    # CHO payroll, subscribed November-March 2026-27: 100 + 150 + 120 + 110 + 120 = 600
    # payslips in 5 months, a mean of 120. 2027-28: April-October 7 x 120 = 840 and
    # November-March as last year, 600; every month under 500, so all at 4.50:
    # 1,440 x 4.50 = 6,480.00 (not 600 x 4.50 = 2,700.00, as if it used none until November).
    assert got[("CHO", "PAY")] == "6480.00"
    # Legal advice: each month's 2,000.00 of the pool split by hours. CHO's April-October
    # are its mean, 10 hours, against WYR's 30: 500.00 a month for CHO all year = 6,000.00
    # and 1,500.00 for WYR = 18,000.00 (not 2,500.00 and 21,500.00).
    assert got[("CHO", "LGL")] == "6000.00"
    assert got[("WYR", "LGL")] == "18000.00"
    # Full-year partners' other charges are as before.
    assert got[("WYR", "PAY")] == "3400.00"
    assert got[("LAN", "PAY")] == "1350.00"

    book = load_workbook(out)
    sheet = list(book["CHO"].iter_rows(values_only=True))
    header = next(row for row in sheet if row[0] == "service")
    pay = dict(zip(header, next(row for row in sheet if row[0] == "PAY"), strict=True))
    assert pay["quantity"] == 1440
    assert Decimal(str(pay["Apr 2027"])) == Decimal("540")  # 120 x 4.50
    assert Decimal(str(pay["Dec 2027"])) == Decimal("675")  # 150 x 4.50
    joined = (
        "CHO: PAY joined in November 2026; April-October projected at the mean of its "
        "5 subscribed months, 120 payslips a month"
    )
    notes = list(book["Notes"].iter_rows(values_only=True))
    assert ("CHO", joined) in notes
    assert any(row[0] == joined for row in sheet)  # and in CHO's own letter
    assert not any(row[0] == "WYR" and "joined" in row[1] for row in notes)


def test_a_subscription_with_no_base_year_months_has_nothing_to_project_from(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "new.xlsx",
            {
                "Subscriptions": [
                    ["client", "service", "start", "end"],
                    ["PRS", "PAY", date(2027, 4, 1), None],
                ]
            },
        ),
    )
    out = tmp_path / "budget.xlsx"
    assert annual(cli.json("billing", "estimate", NEXT, "-o", out))[("PRS", "PAY")] == "0.00"
    notes = list(load_workbook(out)["Notes"].iter_rows(values_only=True))
    assert (
        "PRS",
        "PRS: PAY was not subscribed in 2026-27: there are no volumes to project from, "
        "so its use is taken as nil",
    ) in notes


def test_leavers_are_projected_only_for_the_months_they_are_subscribed(cli, tmp_path):
    budget_centre(cli, tmp_path)
    cli(
        "usage",
        "import",
        write_csv(
            tmp_path / "autumn.csv",
            monthly("LAN", "PAY", ["2026-09"], 100) + monthly("LAN", "PAY", ["2026-10"], 200),
        ),
    )
    cli(
        "setup",
        "load",
        write_book(
            tmp_path / "leavers.xlsx",
            {
                "Subscriptions": [
                    ["client", "service", "start", "end"],
                    ["LAN", "PAY", date(2026, 4, 1), date(2027, 9, 30)],
                    ["WYR", "PAY", date(2026, 4, 1), date(2028, 3, 31)],
                    ["LAN", "ICT", date(2026, 4, 1), date(2028, 3, 15)],
                    ["PRS", "HOST", date(2027, 12, 31), None],
                ]
            },
        ),
    )
    out = tmp_path / "budget.xlsx"
    got = annual(cli.json("billing", "estimate", NEXT, "-o", out))
    # LAN leaves payroll on 30 September 2027: April-September only, May 300 x 4.50 +
    # September 100 x 4.50 = 1,800.00; October's 200 is not projected.
    assert got[("LAN", "PAY")] == "1800.00"
    # WYR's payroll ends on 31 March 2028, the last day of the year: all twelve months.
    assert got[("WYR", "PAY")] == "3400.00"
    # LAN leaves the ICT desk on 15 March 2028: March is charged in full, as billed.
    assert got[("LAN", "ICT")] == "63000.00"
    # PRS rejoins hosting on 31 December 2027, the last day of a month: December to
    # March. Instalments of 38,000: 3,166.67 x 3 + March's 3,166.63 = 12,666.64.
    assert got[("PRS", "HOST")] == "12666.64"
    sheet = list(load_workbook(out)["PRS"].iter_rows(values_only=True))
    header = next(row for row in sheet if row[0] == "service")
    host = dict(zip(header, next(row for row in sheet if row[0] == "HOST"), strict=True))
    assert host["Nov 2027"] == 0
    assert Decimal(str(host["Dec 2027"])) == Decimal("3166.67")


def test_a_volume_change_scales_every_quantity(cli, tmp_path):
    budget_centre(cli, tmp_path)
    got = annual(cli.json("billing", "estimate", NEXT, "--volume-change", "-5"))
    # WYR: May 700 x 0.95 = 665: 500 x 4.50 + 165 x 3.50 = 2,827.50; November
    # 100 x 0.95 = 95 x 4.50 = 427.50; 3,255.00. LAN: 285 x 4.50 = 1,282.50.
    assert got[("WYR", "PAY")] == "3255.00"
    assert got[("LAN", "PAY")] == "1282.50"
    assert got[("WYR", "HOST")] == "38000.00"  # a fixed fee does not follow volumes


def test_inflation_raises_only_a_year_priced_at_older_tariffs(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    # 2027-28 has tariffs of its own: they stand, whatever the inflation.
    own = annual(cli.json("billing", "estimate", NEXT, "--inflation", "3"))
    assert own[("WYR", "PAY")] == "3400.00"
    later = annual(
        cli.json(
            "billing",
            "estimate",
            "2028-29",
            "--from",
            "2026-27",
            "--volume-change",
            "-5",
            "--inflation",
            "3%",
            "-o",
            out,
        )
    )
    # 2028-29 has none: 2027-28's, each month's charge x 1.03, rounded half up.
    # WYR payroll: May 2,827.50 x 1.03 = 2,912.325 -> 2,912.33; November 427.50 x 1.03
    # = 440.325 -> 440.33; 3,352.66.
    assert later[("WYR", "PAY")] == "3352.66"
    # Hosting: 3,166.67 x 1.03 = 3,261.6701 -> 3,261.67 x 11, March 3,166.63 x 1.03 =
    # 3,261.6289 -> 3,261.63: 39,140.00. ICT: 5,250.00 x 1.03 = 5,407.50 x 12 = 64,890.00.
    assert later[("WYR", "HOST")] == "39140.00"
    assert later[("WYR", "ICT")] == "64890.00"
    book = load_workbook(out)
    heading = [row[0] for row in book["Summary"].iter_rows(max_row=3, values_only=True)]
    assert "at 2027-28 tariffs raised by 3% a year for 1 year (x 1.03)" in heading[1]
    assert heading[2].startswith("Volume change -5%; inflation 3% a year")
    notes = [row[1] for row in book["Notes"].iter_rows(values_only=True)]
    assert any(n.startswith("Volume change -5%: every projected quantity") for n in notes)
    assert any(n.startswith("Inflation 3% a year: a year without tariffs") for n in notes)


def test_a_year_without_tariffs_is_priced_at_the_latest_only_when_inflation_is_given(cli, tmp_path):
    budget_centre(cli, tmp_path)
    refused = cli("billing", "estimate", "2028-29", "--from", "2026-27", expect=1)
    assert "no tariffs for 2028-29" in refused.stderr and "--inflation" in refused.stderr
    flat = annual(
        cli.json("billing", "estimate", "2028-29", "--from", "2026-27", "--inflation", "0")
    )
    assert flat[("WYR", "PAY")] == "3400.00"
    assert flat[("WYR", "HOST")] == "38000.00"
    nothing = cli("billing", "estimate", "2025-26", "--inflation", "3", expect=1)
    assert "no tariffs for 2025-26 or any year before it" in nothing.stderr


def test_three_years(cli, tmp_path):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    entries = cli.json("billing", "estimate", NEXT, "--years", "3", "--inflation", "3", "-o", out)
    years = {(e["client"], e["service"]): e["years"] for e in entries}
    # 2027-28 at its own tariffs; 2028-29 at them x 1.03; 2029-30 x 1.03^2 = 1.0609.
    # Payroll, 2029-30: May 2,950.00 x 1.0609 = 3,129.655 -> 3,129.66, November 450.00
    # x 1.0609 = 477.405 -> 477.41: 3,607.07.
    assert years[("WYR", "PAY")] == {
        "2027-28": "3400.00",
        "2028-29": "3502.00",
        "2029-30": "3607.07",
    }
    # Hosting 2029-30: 3,166.67 x 1.0609 = 3,359.520203 -> 3,359.52 x 11 and March
    # 3,166.63 x 1.0609 = 3,359.477767 -> 3,359.48: 40,314.20.
    assert years[("WYR", "HOST")]["2029-30"] == "40314.20"
    # ICT 2029-30: 5,250.00 x 1.0609 = 5,569.725 -> 5,569.73 x 12 = 66,836.76 (the
    # pennies of rounding each month, against 63,000 x 1.0609 = 66,836.70).
    assert years[("WYR", "ICT")]["2029-30"] == "66836.76"
    assert all(e["annual"] == e["years"][NEXT] for e in entries)  # annual: the budget year
    assert all(set(e) == {"client", "service", "annual", "years"} for e in entries)

    rows = list(load_workbook(out)["Three years"].iter_rows(values_only=True))
    header = next(row for row in rows if row[0] == "client")
    assert header == ("client", "service", "2027-28", "2028-29", "2029-30")
    ict = next(row for row in rows if row[:2] == ("WYR", "ICT"))
    assert [Decimal(str(v)) for v in ict[2:]] == [
        Decimal("63000"),
        Decimal("64890"),
        Decimal("66836.76"),
    ]

    text = cli("billing", "estimate", NEXT, "--years", "3").stdout
    # without an inflation the later years are priced flat at 2027-28's tariffs
    assert "WYR" in text and text.count("104400.00") == 3


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--years", "0", "the years projected must be from 1 to 5, not 0"),
        ("--years", "6", "the years projected must be from 1 to 5, not 6"),
        ("--volume-change", "-101", "the volume change must be from -100% to 1000%, not -101%"),
        ("--inflation", "1000.5", "the inflation must be from -100% to 1000%, not 1000.5%"),
        ("--inflation", "lots", "--inflation: 'lots' is not a number"),
    ],
)
def test_a_scenario_out_of_range_is_refused_and_nothing_written(
    cli, tmp_path, option, value, message
):
    budget_centre(cli, tmp_path)
    out = tmp_path / "budget.xlsx"
    refused = cli("billing", "estimate", NEXT, option, value, "-o", out, expect=1)
    assert f"error: {message}" in refused.stderr
    assert not out.exists()
    document = cli.json("billing", "estimate", NEXT, option, value, "-o", out, expect=1)
    assert [e["message"] for e in document["errors"]] == [message]
    assert not out.exists()


def test_a_budget_letter_charges_vat_as_the_clients_subscription_does(cli, tmp_path):
    """Hosting at 20% VAT: LAN pays it; WYR's hosting is a non-business supply."""
    budget_centre(cli, tmp_path)
    vat = {
        "Services": [
            ["code", "name", "unit", "vat_rate"],
            ["HOST", "Systems hosting", "month", 20],
        ],
        "Subscriptions": [
            ["client", "service", "start", "vat"],
            ["WYR", "HOST", date(2026, 4, 1), "outside_scope"],
        ],
    }
    cli("setup", "load", write_book(tmp_path / "vat.xlsx", vat))
    out = tmp_path / "budget.xlsx"
    cli("billing", "estimate", NEXT, "-o", out)
    book = load_workbook(out)

    def host(code: str) -> dict:
        sheet = list(book[code].iter_rows(values_only=True))
        header = next(row for row in sheet if row[0] == "service")
        return next(dict(zip(header, row, strict=False)) for row in sheet if row[0] == "HOST")

    # 38,000.00 a year in instalments of 3,166.67 (March 3,166.63); VAT rounded per
    # month: 633.334 and 633.326 are both 633.33, so 12 x 633.33 = 7,599.96
    assert Decimal(str(host("WYR")["VAT"])) == 0
    assert Decimal(str(host("LAN")["VAT"])) == Decimal("7599.96")
