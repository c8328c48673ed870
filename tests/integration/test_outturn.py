"""Full cost recovery: the cost ledger (`costs import`) and the year-end outturn of a
service funded on cost (`billing outturn`), worked by hand (docs/CHARGING.md)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from opsplatform.models import CostLine
from tests.support import write_book, write_csv

YEAR = [f"2025-{m:02d}" for m in range(4, 13)] + [f"2026-{m:02d}" for m in range(1, 4)]


def pooled_centre() -> dict[str, list[list]]:
    """Revenues and benefits, funded on cost: a £1.2m pool shared 40/35/25 by three
    councils in 2025-26; ICT beside it, on price, sharing the centre's accommodation."""
    return {
        "Settings": [["key", "value"], ["statement_prefix", "RB"]],
        "Clients": [
            ["code", "name"],
            ["ASH", "Ashvale Borough Council"],
            ["BRK", "Brookmere District Council"],
            ["CLD", "Caldmoor Council"],
        ],
        "Services": [
            ["code", "name", "unit", "cost_centre", "funding"],
            ["REV", "Revenues and benefits", "account", "CC100", "cost"],
            ["ICT", "ICT", "ticket", "CC200", None],
        ],
        "Subscriptions": [
            ["client", "service", "start"],
            ["ASH", "REV", date(2025, 4, 1)],
            ["BRK", "REV", date(2025, 4, 1)],
            ["CLD", "REV", date(2025, 4, 1)],
        ],
        "Drivers": [
            ["client", "financial_year", "driver", "value"],
            ["ASH", "2025-26", "share", 40],
            ["BRK", "2025-26", "share", 35],
            ["CLD", "2025-26", "share", 25],
            ["ASH", "2026-27", "share", 40],
            ["BRK", "2026-27", "share", 35],
            ["CLD", "2026-27", "share", 25],
        ],
        "Tariffs": [
            ["service", "financial_year", "rule", "annual_amount", "driver"],
            ["REV", "2025-26", "apportion", 1200000, "share"],
            ["REV", "2026-27", "apportion", 1250000, "share"],
        ],
        "CostCentres": [
            ["cost_centre", "service", "name", "share", "driver"],
            ["CC100", "REV", "Revenues team", None, None],
            ["CC200", "ICT", "ICT service desk", None, None],
            ["CC900", "REV", "Accommodation", 300, "floor area"],
            ["CC900", "ICT", "Accommodation", 100, "floor area"],
        ],
    }


def ledger(kind: str = "actual", march: str = "107500.01") -> list[dict]:
    """A year of the revenues team's staff costs (11 x 100,000.00 and March's), and the
    accommodation's £40,000.00 in two subjectives: REV's actual cost is 1,207,500.01 +
    30,000.00 = 1,237,500.01 against 1,200,000.00 charged, a deficit of 37,500.01."""
    rows = [
        {
            "cost_centre": "CC100",
            "subjective": "E1000",
            "month": month,
            "kind": kind,
            "amount": march if month == "2026-03" else "100000.00",
        }
        for month in YEAR
    ]
    rows += [
        {"cost_centre": "CC900", "subjective": "P2000", "month": "2025-09", "kind": kind,
         "amount": "25000.00"},
        {"cost_centre": "CC900", "subjective": "P3000", "month": "2026-03", "kind": kind,
         "amount": "15000.00"},
    ]  # fmt: skip
    return rows


def the_year_issued(cli, tmp_path) -> None:
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", pooled_centre()))
    for month in YEAR:
        cli("billing", "close", month)
        cli("billing", "issue", month)


def partners(document: dict) -> dict[str, str]:
    return {p["client"]: p["amount"] for p in document["partners"]}


def test_a_deficit_is_shared_40_35_25_to_the_penny_and_raised_once_approved(cli, tmp_path):
    the_year_issued(cli, tmp_path)
    imported = cli.json("costs", "import", write_csv(tmp_path / "ledger.csv", ledger()))
    assert imported["rows"] == 14 and imported["totals"] == {"actual": "1247500.01"}

    [rev] = cli.json("billing", "outturn", "2025-26")
    assert (rev["actual"], rev["charged"], rev["difference"]) == (
        "1237500.01",
        "1200000.00",
        "37500.01",
    )
    # 37,500.01 x 40% = 15,000.004, x 35% = 13,125.0035, x 25% = 9,375.0025: the penny
    # left after rounding down goes to the largest remainder, Ashvale's
    assert partners(rev) == {"ASH": "15000.01", "BRK": "13125.00", "CLD": "9375.00"}
    assert rev["partners"][0]["explanation"] == (
        "Ashvale Borough Council's share of the 2025-26 deficit on Revenues and benefits: it "
        "was charged £480,000.00 of the £1,200,000.00 charged for the year (40.00%), so it "
        "pays £15,000.01"
    )
    accommodation = next(c for c in rev["costs"] if c["cost_centre"] == "CC900")
    assert (accommodation["amount"], accommodation["of"], accommodation["lines"]) == (
        "30000.00",
        "40000.00",
        2,
    )
    assert "300 of 400 floor area" in accommodation["explanation"]
    traced = cli.json("costs", "lines", "2025-26", "--service", "REV")
    assert len(traced) == 14 and traced[-1] == {
        "month": "2026-03",
        "cost_centre": "CC900",
        "subjective": "P3000",
        "amount": "15000.00",
        "share": "300",
        "of": "400",
        "source": "ledger.csv row 15",
    }
    assert rev["approved_by"] is None  # the dry run wrote nothing
    assert "nothing written" in cli("billing", "outturn", "2025-26").stdout

    [approved] = cli.json("billing", "outturn", "2025-26", "--approve")
    assert approved["approved_by"] and partners(approved) == partners(rev)
    again = cli("billing", "outturn", "2025-26", "--approve", expect=1)
    assert "already approved" in again.stderr

    # on each partner's April statement, once: the accruals of 2025-26 list them (beside
    # the year's statements, all issued after it here)
    cli("billing", "lock-year", "2025-26")
    accrued = cli.json("billing", "accruals", "2025-26")
    assert sorted(
        (a["client"], a["kind"], a["net"], a["about"]) for a in accrued if a["kind"] == "outturn"
    ) == [
        ("ASH", "outturn", "15000.01", "outturn 2025-26"),
        ("BRK", "outturn", "13125.00", "outturn 2025-26"),
        ("CLD", "outturn", "9375.00", "outturn 2025-26"),
    ]
    cli("billing", "close", "2026-04")
    april = cli.json("billing", "show", "RB-202604-ASH")
    [line] = [x for x in april["lines"] if x["kind"] == "outturn"]
    assert (line["service"], line["amount"]) == ("REV", "15000.01")
    assert "40.00%" in line["basis"]

    settled = cli("costs", "import", write_csv(tmp_path / "late.csv", ledger()), expect=1)
    assert "the outturn of 2025-26 is approved" in settled.stderr


def test_a_surplus_is_refunded_on_the_same_basis(cli, tmp_path):
    the_year_issued(cli, tmp_path)
    # March's staff cost 57,500.00: 1,187,500.00 in all, a surplus of 12,500.00
    cli("costs", "import", write_csv(tmp_path / "ledger.csv", ledger(march="57500.00")))
    [rev] = cli.json("billing", "outturn", "2025-26", "--service", "rev")
    assert rev["difference"] == "-12500.00"
    assert partners(rev) == {"ASH": "-5000.00", "BRK": "-4375.00", "CLD": "-3125.00"}
    assert (
        "surplus" in rev["explanation"]
        and "is refunded £5,000.00" in (rev["partners"][0]["explanation"])
    )


def test_an_outturn_waits_for_the_years_statements_and_its_ledger(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", pooled_centre()))
    cli("billing", "close", "2025-04")
    early = cli("billing", "outturn", "2025-26", "--approve", expect=1)
    assert "waits for every statement of the year to be issued" in early.stderr
    for month in YEAR:
        cli("billing", "close", month)
        cli("billing", "issue", month)
    unledgered = cli("billing", "outturn", "2025-26", "--approve", expect=1)
    assert "no actual costs for March 2026" in unledgered.stderr
    priced = cli("billing", "outturn", "2025-26", "--service", "ICT", expect=1)
    assert "ICT is funded on price, not cost" in priced.stderr


def test_a_month_extracted_again_replaces_the_month_and_is_never_counted_twice(
    cli, tmp_path, database
):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", pooled_centre()))
    cli("costs", "import", write_csv(tmp_path / "ledger.csv", ledger()))
    again = [
        {"cost_centre": "CC100", "subjective": "E1000", "month": "2026-03", "kind": "actual",
         "amount": "100000.00"},
        {"cost_centre": "CC100", "subjective": "E1100", "month": "2026-03", "kind": "actual",
         "amount": "7500.01"},
    ]  # fmt: skip
    report = cli.json("costs", "import", write_csv(tmp_path / "march.csv", again))
    # March held 2 lines (staff, accommodation): both replaced by the extract's two
    assert (report["replaced"], report["months"]) == (2, {"actual": ["2026-03"]})
    costs = cli.json("costs", "report", "2025-26")
    rev = next(s for s in costs["services"] if s["service"] == "REV")
    # 1,237,500.01 less March's accommodation (15,000.00 x 3/4 = 11,250.00)
    assert rev["actual"] == "1226250.01"
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CostLine)) == 14


def test_a_bad_ledger_is_refused_naming_every_bad_row_and_nothing_is_written(
    cli, tmp_path, database
):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", pooled_centre()))
    rows = ledger()
    rows[1]["cost_centre"] = "CC999"
    rows[2]["amount"] = "12.345"
    rows[3]["kind"] = "forecast"
    rows[4]["month"] = "2025-13"
    rows[5]["subjective"] = ""
    refused = cli("costs", "import", write_csv(tmp_path / "bad.csv", rows), expect=1)
    for expected in (
        "row 3, column cost_centre: cost centre 'CC999' is not on the CostCentres sheet",
        "row 4, column amount: '12.345' has more than 2 decimal places",
        "row 5, column kind: 'forecast' is not one of actual, budget",
        "row 6, column month",
        "row 7, column subjective: subjective is required",
    ):
        assert expected in refused.stderr
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CostLine)) == 0


def test_next_years_pool_is_proposed_from_its_budget_and_written_once_accepted(cli, tmp_path):
    the_year_issued(cli, tmp_path)
    budget = [
        {"cost_centre": "CC100", "subjective": "E1000", "month": f"2026-{m:02d}" if m < 13 else
         f"2027-{m - 12:02d}", "kind": "budget", "amount": "105000.00"}
        for m in range(4, 16)
    ] + [{"cost_centre": "CC900", "subjective": "P2000", "month": "2026-04", "kind": "budget",
          "amount": "40000.00"}]  # fmt: skip
    cli("costs", "import", write_csv(tmp_path / "budget.csv", budget))
    # REV's budget: 12 x 105,000.00 + 3/4 of the accommodation's 40,000.00 = 1,290,000.00
    [rev] = cli.json("billing", "rates", "2026-27")
    assert (rev["rule"], rev["current"], rev["proposed"], rev["recovers"]) == (
        "apportion",
        "1200000",
        "1290000",
        "1290000.00",
    )
    assert [
        (p["client"], p["this_year"], p["next_year"], p["change"]) for p in rev["partners"]
    ] == [
        ("ASH", "480000.00", "516000.00", "36000.00"),
        ("BRK", "420000.00", "451500.00", "31500.00"),
        ("CLD", "300000.00", "322500.00", "22500.00"),
    ]
    cli.json("billing", "rates", "2026-27", "--accept")
    cli("billing", "close", "2026-04")
    april = cli.json("billing", "show", "RB-202604-ASH")
    [charge] = [x for x in april["lines"] if x["kind"] == "charge"]
    assert charge["amount"] == "43000.00"  # 516,000.00 / 12
    cli("billing", "issue", "2026-04")
    refused = cli("billing", "rates", "2026-27", "--accept", expect=1)
    assert "2026-27 has issued statements" in refused.stderr
    unbudgeted = cli("billing", "rates", "2027-28", expect=1)
    assert "REV has no budget for 2027-28 in the cost ledger" in unbudgeted.stderr


def test_a_quarters_true_unit_cost_stands_beside_its_price_and_its_cost_before_sharing(
    cli, tmp_path
):
    book = pooled_centre()
    book["Services"][0] += ["baseline_unit_cost", "baseline_period"]
    book["Services"][1] += [420, "2019-20"]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book))
    usage = [
        {"event_id": f"{c}{m}", "client": c, "service": "REV", "date": f"2025-0{m}-10",
         "quantity": q}
        for m in (4, 5, 6)
        for c, q in (("ASH", 160), ("BRK", 100), ("CLD", 73))
    ]  # fmt: skip
    cli("usage", "import", write_csv(tmp_path / "usage.csv", usage))
    for month in YEAR[:3]:
        cli("billing", "close", month)

    def centre_row() -> dict:
        rows = cli.json("sla", "costs", "2025-26-Q1")
        return next(r for r in rows if r["client"] is None and r["service"] == "REV")

    unledgered = centre_row()
    assert (unledgered["cost_per_unit"], unledgered["actual_cost_per_unit"]) == (300.3003, None)
    cli("costs", "import", write_csv(tmp_path / "ledger.csv", ledger()))
    row = centre_row()
    # 999 accounts charged 300,000.00 cost 300,000.00 (the revenues team's April to June):
    # a unit cost 420.00 before sharing, so sharing saved (420 - 300.3003...) x 999
    assert (row["charges"], row["actual_cost"], row["units"]) == ("300000.00", "300000.00", 999)
    assert (row["cost_per_unit"], row["actual_cost_per_unit"]) == (300.3003, 300.3003)
    assert (row["baseline_cost_per_unit"], row["baseline_period"]) == (420, "2019-20")
    assert row["saving"] == "119580.00"
