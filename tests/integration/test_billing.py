"""Month close, issue, show and list on a real SQLite file (CONTRACT.md sections 2 and 5).

The figures are worked by hand from the contract's charging rules (docs/CHARGING.md): the small
centre (tests/support.py) with May 2026 usage of 700 WYR and 300 LAN payslips.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.models import Statement, StatementLine
from tests.support import FY, small_centre, write_book, write_csv

MAY_USAGE = [
    {"event_id": "w1", "client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 698},
    {"event_id": "w2", "client": "WYR", "service": "PAY", "date": "2026-05-22", "quantity": 1},
    {"event_id": "w3", "client": "WYR", "service": "PAY", "date": "2026-05-21", "quantity": 1},
    {"event_id": "l1", "client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
]
MONEY = re.compile(r"^-?\d+\.\d{2}$")


def load(cli, tmp_path, book: dict | None = None) -> None:
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", book or small_centre()))


def show(cli, number: str) -> dict:
    return cli.json("billing", "show", number)


def charges(document: dict) -> dict[str, str]:
    """Each service's charge line amount (one charge line per service)."""
    found: dict[str, str] = {}
    for line in document["lines"]:
        if line["kind"] == "charge":
            assert line["service"] not in found, f"two charge lines for {line['service']}"
            found[line["service"]] = line["amount"]
    return found


def numbers(summaries: list[dict]) -> list[str]:
    return sorted(s["number"] for s in summaries)


@pytest.fixture
def may(cli, tmp_path):
    """The acceptance centre: usage imported, April closed and issued, May closed."""
    load(cli, tmp_path)
    cli("usage", "import", write_csv(tmp_path / "may.csv", MAY_USAGE))
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    cli("billing", "close", "2026-05")
    return cli


# -- the acceptance figures ----------------------------------------------------------------


def test_may_statements_reproduce_the_acceptance_figures(may):
    wyr = show(may, "TSS-202605-WYR")
    assert charges(wyr) == {"PAY": "2600.00", "HOST": "3000.00", "ICT": "3333.33"}
    assert wyr["total"] == "8933.33"
    lan = show(may, "TSS-202605-LAN")
    assert charges(lan) == {"PAY": "1200.00", "HOST": "3000.00", "ICT": "3333.34"}
    assert lan["total"] == "7533.34"
    prs = show(may, "TSS-202605-PRS")
    assert charges(prs) == {"HOST": "3000.00", "ICT": "3333.33"}
    assert prs["total"] == "6333.33"
    # the ICT pool of 10,000.00 splits to the penny
    ict = [Decimal(charges(d)["ICT"]) for d in (wyr, lan, prs)]
    assert sum(ict) == Decimal("10000.00")

    assert show(may, "TSS-202604-WYR")["status"] == "issued"
    for document in (wyr, lan, prs):
        assert document["status"] == "draft"
        assert document["month"] == "2026-05"


def test_statements_are_numbered_prefix_yyyymm_client(may):
    assert numbers(may.json("billing", "list", "--month", "2026-05")) == [
        "TSS-202605-LAN",
        "TSS-202605-PRS",
        "TSS-202605-WYR",
    ]
    for summary in may.json("billing", "list"):
        assert summary["number"] == f"TSS-{summary['month'].replace('-', '')}-{summary['client']}"


def test_the_default_prefix_is_ssc(cli, tmp_path):
    book = small_centre()
    del book["Settings"]
    load(cli, tmp_path, book)
    assert numbers(cli.json("billing", "close", "2026-05")) == [
        "SSC-202605-LAN",
        "SSC-202605-PRS",
        "SSC-202605-WYR",
    ]


def test_show_json_has_the_contract_keys_and_money_as_strings(may):
    document = show(may, "TSS-202605-WYR")
    assert {"number", "client", "month", "status", "net", "vat", "total", "lines"} <= set(document)
    assert document["number"] == "TSS-202605-WYR"
    assert document["client"] == "WYR"
    for key in ("net", "vat", "total"):
        assert isinstance(document[key], str)
        assert MONEY.match(document[key]), document[key]
    assert document["lines"]
    for line in document["lines"]:
        assert {"service", "kind", "description", "quantity", "amount", "vat"} <= set(line)
        assert line["kind"] in (
            "charge",
            "prior_period",
            "adjustment",
            "service_credit",
            "true_up",
            "carried_forward",
        )
        assert isinstance(line["amount"], str) and MONEY.match(line["amount"]), line["amount"]
        assert isinstance(line["vat"], str) and MONEY.match(line["vat"]), line["vat"]
        assert line["description"]
    (pay,) = [x for x in document["lines"] if x["service"] == "PAY"]
    assert Decimal(pay["quantity"]) == 700

    net = sum((Decimal(x["amount"]) for x in document["lines"]), Decimal(0))
    vat = sum((Decimal(x["vat"]) for x in document["lines"]), Decimal(0))
    assert Decimal(document["net"]) == net
    assert Decimal(document["vat"]) == vat
    assert Decimal(document["total"]) == net + vat


def test_vat_is_charged_per_line_at_the_services_rate(cli, tmp_path):
    book = small_centre()
    book["Services"] = [
        ["code", "name", "unit", "vat_rate"],
        *[[*row, None] for row in book["Services"][1:]],
        ["PRT", "Printing", "page", 20],
        ["POST", "Post room", "item", 20],
    ]
    book["Subscriptions"] += [
        ["WYR", "PRT", date(2026, 4, 1)],
        ["WYR", "POST", date(2026, 4, 1)],
    ]
    book["Tariffs"] = [
        [*book["Tariffs"][0], "rate"],
        *[[*row, None] for row in book["Tariffs"][1:]],
        ["PRT", FY, "unit_rate", None, None, None, "0.0333"],
        ["POST", FY, "unit_rate", None, None, None, "0.03"],
    ]
    load(cli, tmp_path, book)
    usage = [
        {"client": "WYR", "service": "PRT", "date": "2026-05-02", "quantity": 1001},
        {"client": "WYR", "service": "POST", "date": "2026-05-02", "quantity": 1},
    ]
    cli("usage", "import", write_csv(tmp_path / "may.csv", usage))
    cli("billing", "close", "2026-05")

    document = show(cli, "TSS-202605-WYR")
    lines = {x["service"]: x for x in document["lines"]}
    assert (lines["PRT"]["amount"], lines["PRT"]["vat"]) == ("33.33", "6.67")  # 33.3333; 6.666
    assert (lines["POST"]["amount"], lines["POST"]["vat"]) == ("0.03", "0.01")  # 0.006
    for service in ("PAY", "HOST", "ICT"):
        assert lines[service]["vat"] == "0.00"
    # rounded per line: 6.67 + 0.01, not 20% of the 33.36 VAT-able total (6.67)
    assert document["vat"] == "6.68"
    assert Decimal(document["total"]) == Decimal(document["net"]) + Decimal("6.68")


# -- close and issue -----------------------------------------------------------------------


def test_closing_twice_rebuilds_the_drafts_without_duplicates(may, database):
    before = {n: show(may, n) for n in numbers(may.json("billing", "list", "--month", "2026-05"))}
    with database.transaction() as session:
        lines_before = session.scalar(select(func.count()).select_from(StatementLine))

    again = may.json("billing", "close", "2026-05")
    assert numbers(again) == sorted(before)
    after = {n: show(may, n) for n in sorted(before)}
    assert after == before
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StatementLine)) == lines_before
        assert (
            session.scalar(
                select(func.count()).select_from(Statement).where(Statement.month == "2026-05")
            )
            == 3
        )


def test_a_re_close_picks_up_new_usage(may, tmp_path):
    extra = [{"client": "WYR", "service": "PAY", "date": "2026-05-30", "quantity": 100}]
    may("usage", "import", write_csv(tmp_path / "more.csv", extra))
    may("billing", "close", "2026-05")
    assert charges(show(may, "TSS-202605-WYR"))["PAY"] == "2900.00"  # 500 x 4 + 300 x 3


def test_issue_makes_the_drafts_issued_with_due_dates(may):
    issued = may.json("billing", "issue", "2026-05")
    assert numbers(issued) == ["TSS-202605-LAN", "TSS-202605-PRS", "TSS-202605-WYR"]
    for summary in may.json("billing", "list", "--month", "2026-05"):
        assert summary["status"] == "issued"
        issued_on = datetime.fromisoformat(summary["issued_at"]).date()
        assert date.fromisoformat(summary["due_date"]) == issued_on + timedelta(days=30)
    assert show(may, "TSS-202605-WYR")["status"] == "issued"


def test_payment_terms_come_from_the_settings(cli, tmp_path):
    book = small_centre()
    book["Settings"].append(["payment_terms_days", 14])
    load(cli, tmp_path, book)
    cli("billing", "close", "2026-05")
    (summary, *_) = cli.json("billing", "issue", "2026-05")
    issued_on = datetime.fromisoformat(summary["issued_at"]).date()
    assert date.fromisoformat(summary["due_date"]) == issued_on + timedelta(days=14)


def test_re_closing_an_issued_month_leaves_its_statements_untouched(may, tmp_path):
    april = {n: show(may, n) for n in numbers(may.json("billing", "list", "--month", "2026-04"))}
    assert len(april) == 3
    late = [{"client": "LAN", "service": "PAY", "date": "2026-04-20", "quantity": 50}]
    may("usage", "import", write_csv(tmp_path / "late.csv", late))

    may("billing", "close", "2026-04")
    assert {n: show(may, n) for n in april} == april
    assert numbers(may.json("billing", "list", "--month", "2026-04")) == sorted(april)


def test_issuing_without_drafts_is_refused(may):
    result = may("billing", "issue", "2026-06", expect=1)
    assert result.stderr.startswith("error: ")
    assert "2026-06" in result.stderr
    # April is already issued: nothing left to issue
    may("billing", "issue", "2026-04", expect=1)
    assert may.json("billing", "issue", "2026-06", expect=1)["errors"]


def test_list_filters_by_month_and_client(may):
    everything = may.json("billing", "list")
    assert len(everything) == 6
    assert {s["month"] for s in may.json("billing", "list", "--month", "2026-04")} == {"2026-04"}
    wyr = may.json("billing", "list", "--client", "WYR")
    assert numbers(wyr) == ["TSS-202604-WYR", "TSS-202605-WYR"]
    both = may.json("billing", "list", "--month", "2026-05", "--client", "lan")
    assert numbers(both) == ["TSS-202605-LAN"]
    assert may.json("billing", "list", "--month", "2026-07") == []
    text = may("billing", "list", "--client", "PRS").stdout
    assert "TSS-202604-PRS" in text and "TSS-202605-PRS" in text and "WYR" not in text


def test_an_unknown_statement_is_refused(may):
    result = may("billing", "show", "TSS-209901-WYR", expect=1)
    assert "TSS-209901-WYR" in result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize("month", ["2026-13", "May 2026", "202605", "2026-5-1"])
def test_a_bad_month_argument_is_wrong_usage(cli, month):
    cli("billing", "close", month, expect=2)
    cli("billing", "list", "--month", month, expect=2)


# -- subscriptions and drivers -------------------------------------------------------------


def test_a_subscription_starting_mid_month_pays_a_full_fixed_fee_instalment(cli, tmp_path):
    book = small_centre()
    book["Clients"].append(["FYL", "Fylde Council"])
    book["Subscriptions"].append(["FYL", "HOST", date(2026, 5, 20)])
    load(cli, tmp_path, book)

    april = cli.json("billing", "close", "2026-04")
    assert "TSS-202604-FYL" not in numbers(april)
    cli("billing", "close", "2026-05")
    fyl = show(cli, "TSS-202605-FYL")
    assert charges(fyl) == {"HOST": "3000.00"}
    assert fyl["total"] == "3000.00"


def test_a_subscription_ending_mid_month_pays_that_month_and_no_later(cli, tmp_path):
    book = small_centre()
    book["Subscriptions"] = [
        [*book["Subscriptions"][0], "end"],
        *[[*row, None] for row in book["Subscriptions"][1:] if row[0] != "PRS"],
        ["PRS", "HOST", date(2026, 4, 1), date(2026, 5, 10)],
    ]
    load(cli, tmp_path, book)
    cli("billing", "close", "2026-05")
    assert charges(show(cli, "TSS-202605-PRS")) == {"HOST": "3000.00"}
    june = cli.json("billing", "close", "2026-06")
    assert numbers(june) == ["TSS-202606-LAN", "TSS-202606-WYR"]


def driver_book() -> dict[str, list[list]]:
    book = small_centre()
    book["Tariffs"][-1] = ["ICT", FY, "apportion", None, 120000, "population"]
    book["Drivers"] = [
        ["client", "financial_year", "driver", "value"],
        ["WYR", FY, "population", 112000],
        ["LAN", FY, "population", 144000],
    ]
    return book


def test_a_missing_driver_value_refuses_the_close(cli, database, tmp_path):
    load(cli, tmp_path, driver_book())

    result = cli("billing", "close", "2026-05", expect=1)
    assert "population" in result.stderr
    assert "PRS" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.json("billing", "list") == []
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Statement)) == 0

    # with PRS's value the pool splits by population: 10,000.00 over 112k, 144k and 144k
    book = driver_book()
    book["Drivers"].append(["PRS", FY, "population", 144000])
    load(cli, tmp_path, book)
    cli("billing", "close", "2026-05")
    ict = {c: charges(show(cli, f"TSS-202605-{c}"))["ICT"] for c in ("WYR", "LAN", "PRS")}
    # 2800.00 exactly for WYR; LAN and PRS 3600.00 each
    assert ict == {"WYR": "2800.00", "LAN": "3600.00", "PRS": "3600.00"}
    drafts = {c: show(cli, f"TSS-202605-{c}") for c in ("WYR", "LAN", "PRS")}

    # a newcomer without a value refuses the re-close, and the drafts stay as they were
    book["Clients"].append(["FYL", "Fylde Council"])
    book["Subscriptions"].append(["FYL", "ICT", date(2026, 5, 1)])
    load(cli, tmp_path, book)
    result = cli("billing", "close", "2026-05", expect=1)
    assert "population" in result.stderr and "FYL" in result.stderr
    assert {c: show(cli, f"TSS-202605-{c}") for c in drafts} == drafts
    assert numbers(cli.json("billing", "list")) == sorted(d["number"] for d in drafts.values())


def test_each_line_records_the_tariff_and_version_it_was_priced_with(cli, database, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    changed = small_centre()
    changed["Tariffs"][1][3] = "500@4.50; *@3.00"
    cli("setup", "load", write_book(tmp_path / "changed.xlsx", changed), "--rerate")
    cli("billing", "close", "2026-05")
    with database.transaction() as session:
        versions = {
            (s.month, line.kind): line.tariff_version
            for s in session.scalars(select(Statement))
            for line in s.lines
            if line.service is not None and line.service.code == "PAY" and s.client.code == "WYR"
        }
    assert versions[("2026-04", "charge")] == 1
    assert versions[("2026-05", "charge")] == 2
