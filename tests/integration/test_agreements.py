"""Back-dated agreements caught up, settings that do not re-rate, locked years (CONTRACT
section 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from tests.support import small_centre, write_book, write_csv


def issued_months(cli, tmp_path, *months: str) -> None:
    """The small centre with `months` closed and issued, WYR using 600 payslips in each."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    rows = [
        {"event_id": f"w{m}", "client": "WYR", "service": "PAY", "date": f"{m}-10", "quantity": 600}
        for m in months
    ]
    cli("usage", "import", write_csv(tmp_path / "usage.csv", rows))
    for m in months:
        cli("billing", "close", m)
        cli("billing", "issue", m)


def lines_of(document: dict) -> list[tuple[str, str, str, str]]:
    return [
        (line["kind"], line["service"], line["period"], line["amount"])
        for line in document["lines"]
    ]


def test_a_back_dated_partner_is_billed_for_every_month_it_missed(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04", "2026-05", "2026-06")
    # Blackburn signs in July, back-dated: hosting from 31 May (the whole of May is a
    # subscribed month), payroll from April with 100 payslips in May
    joiner = {
        "Clients": [["code", "name"], ["BWD", "Blackburn with Darwen"]],
        "Subscriptions": [
            ["client", "service", "start"],
            ["BWD", "HOST", date(2026, 5, 31)],
            ["BWD", "PAY", date(2026, 4, 1)],
        ],
    }
    cli("setup", "load", write_book(tmp_path / "joiner.xlsx", joiner))
    late = [
        {"event_id": "b1", "client": "BWD", "service": "PAY", "date": "2026-05-20", "quantity": 100}
    ]
    cli("usage", "import", write_csv(tmp_path / "late.csv", late))
    cli("billing", "close", "2026-07")
    bwd = cli.json("billing", "show", "TSS-202607-BWD")
    # hosting 36,000 / 12 = 3,000.00 a month; payroll 100 x 4.00 = 400.00 in May; April
    # and June payroll come to nothing and are not written
    assert lines_of(bwd) == [
        ("charge", "HOST", "2026-07", "3000.00"),
        ("charge", "PAY", "2026-07", "0.00"),
        ("prior_period", "HOST", "2026-05", "3000.00"),
        ("prior_period", "PAY", "2026-05", "400.00"),
        ("prior_period", "HOST", "2026-06", "3000.00"),
    ]
    may = next(
        line for line in bwd["lines"] if line["period"] == "2026-05" and line["service"] == "HOST"
    )
    assert may["description"] == "Systems hosting, May 2026: not billed before"
    assert may["corrects"] is None
    assert bwd["total"] == "9400.00"
    # the others' figures did not move: no lines about earlier months for them
    wyr = cli.json("billing", "show", "TSS-202607-WYR")
    assert {line["kind"] for line in wyr["lines"]} == {"charge"}


def test_months_no_one_has_been_issued_are_left_to_their_own_close(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04")
    cli("billing", "close", "2026-06")  # May never closed: June carries no May lines
    prs = cli.json("billing", "show", "TSS-202606-PRS")
    assert {line["period"] for line in prs["lines"]} == {"2026-06"}
    cli("billing", "close", "2026-05")
    assert {line["period"] for line in cli.json("billing", "show", "TSS-202605-PRS")["lines"]} == {
        "2026-05"
    }


def wyr_pay(tmp_path, name: str, rows: list[tuple[str, int]]):
    """A usage file of WYR payroll: (date, payslips) per row."""
    return write_csv(
        tmp_path / f"{name}.csv",
        [
            {"event_id": f"{name}{i}", "client": "WYR", "service": "PAY", "date": d, "quantity": q}
            for i, (d, q) in enumerate(rows)
        ],
    )


def settings_centre(cli, tmp_path) -> None:
    """The small centre; WYR uses 50 payslips (50 x 4.00 = 200.00) in April, May and June;
    April and May issued with no de minimis."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    rows = [("2026-04-10", 50), ("2026-05-10", 50), ("2026-06-10", 50)]
    cli("usage", "import", wyr_pay(tmp_path, "u", rows))
    for m in ("2026-04", "2026-05"):
        cli("billing", "close", m)
        cli("billing", "issue", m)


def load_de_minimis(cli, tmp_path, value: int, *options: str, expect: int = 0):
    book = write_book(tmp_path / "dm.xlsx", {"Settings": [["key", "value"], ["de_minimis", value]]})
    return cli("setup", "load", book, *options, expect=expect)


def pay_lines(document: dict) -> list[tuple[str, str, str]]:
    return [
        (x["kind"], x["period"], x["amount"]) for x in document["lines"] if x["service"] == "PAY"
    ]


def test_a_new_de_minimis_applies_from_the_first_month_not_yet_issued(cli, tmp_path):
    settings_centre(cli, tmp_path)
    load_de_minimis(cli, tmp_path, 400)
    cli("billing", "close", "2026-06")
    # June's 200.00 is below 400.00 and carried; April and May are not re-rated
    assert pay_lines(cli.json("billing", "show", "TSS-202606-WYR")) == [
        ("charge", "2026-06", "0.00")
    ]
    # a reload of the same value changes nothing
    load_de_minimis(cli, tmp_path, 400)
    cli("billing", "close", "2026-06")
    assert pay_lines(cli.json("billing", "show", "TSS-202606-WYR")) == [
        ("charge", "2026-06", "0.00")
    ]


def test_with_rerate_a_new_de_minimis_re_rates_the_issued_months(cli, tmp_path):
    settings_centre(cli, tmp_path)
    load_de_minimis(cli, tmp_path, 400, "--rerate")
    cli("billing", "close", "2026-06")
    # April's 200.00 is now carried into May (400.00); June's 200.00 is carried
    assert pay_lines(cli.json("billing", "show", "TSS-202606-WYR")) == [
        ("charge", "2026-06", "0.00"),
        ("prior_period", "2026-04", "-200.00"),
        ("prior_period", "2026-05", "200.00"),
    ]


def test_a_later_change_without_rerate_keeps_the_months_of_the_earlier_one(cli, tmp_path):
    settings_centre(cli, tmp_path)
    load_de_minimis(cli, tmp_path, 400)  # from June
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    cli("usage", "import", wyr_pay(tmp_path, "july", [("2026-07-10", 50)]))
    load_de_minimis(cli, tmp_path, 100)  # from July: June keeps its 400
    cli("billing", "close", "2026-07")
    # July: 200.00 + June's carried 200.00, both billed at a de minimis of 100
    assert pay_lines(cli.json("billing", "show", "TSS-202607-WYR")) == [
        ("charge", "2026-07", "200.00"),
        ("carried_forward", "2026-07", "200.00"),
    ]


def whole_year(cli, tmp_path) -> None:
    """The small centre with 2027-28 tariffs, every month of 2026-27 closed and issued."""
    sheets = small_centre()
    sheets["Tariffs"] += [
        ["PAY", "2027-28", "graduated", "500@4.00; *@3.00", None, None],
        ["HOST", "2027-28", "fixed_fee", None, 36000, None],
        ["ICT", "2027-28", "apportion", None, 120000, "equal"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))
    for m in [f"2026-{n:02d}" for n in range(4, 13)] + [f"2027-{n:02d}" for n in range(1, 4)]:
        cli("billing", "close", m)
        cli("billing", "issue", m)


def test_a_year_locks_only_once_every_statement_of_it_is_issued(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04")
    refused = cli("billing", "lock-year", "2026-27", expect=1)
    assert "until its March statements are issued" in refused.stderr
    cli("billing", "close", "2026-05")
    refused = cli("billing", "lock-year", "2026-27", expect=1)
    assert "drafts for 2026-05 are not issued" in refused.stderr


def test_a_locked_year_is_never_re_rated(cli, tmp_path):
    whole_year(cli, tmp_path)
    batch = cli.json("usage", "import", wyr_pay(tmp_path, "jan", [("2027-01-12", 10)]))["batch"]
    locked = cli.json("billing", "lock-year", "2026-27")
    # 12 months x (WYR, LAN, PRS); HOST 3 x 36,000 and ICT 120,000 a year
    assert (locked["financial_year"], locked["statements"], locked["net"]) == (
        "2026-27",
        36,
        "228000.00",
    )
    assert "already locked" in cli("billing", "lock-year", "2026-27", expect=1).stderr
    # closes, usage, tariffs, drivers and charging settings of 2026-27 are all refused
    assert "2026-27 is locked" in cli("billing", "close", "2027-03", expect=1).stderr
    refused = cli("usage", "import", wyr_pay(tmp_path, "late", [("2027-03-20", 10)]), expect=1)
    assert "2026-27, which is locked" in refused.stdout + refused.stderr
    refused = cli("usage", "revert", str(batch), expect=1)
    assert f"batch {batch} holds usage of 2026-27, which is locked" in refused.stderr
    tariff = {
        "Tariffs": [
            ["service", "financial_year", "rule", "annual_amount"],
            ["HOST", "2026-27", "fixed_fee", 40000],
        ]
    }
    refused = cli("setup", "load", write_book(tmp_path / "t.xlsx", tariff), "--rerate", expect=1)
    assert "2026-27 is locked" in refused.stdout + refused.stderr
    refused = load_de_minimis(cli, tmp_path, 400, "--rerate", expect=1)
    assert "2026-27 locked" in refused.stdout + refused.stderr
    # without --rerate the setting applies from April 2027, and 2027-28 goes on as usual
    load_de_minimis(cli, tmp_path, 400)
    cli("billing", "close", "2027-04")
    april = cli.json("billing", "show", "TSS-202704-WYR")
    assert {x["period"] for x in april["lines"]} == {"2027-04"}


def test_the_accruals_list_what_was_billed_about_the_year_after_it(cli, tmp_path):
    whole_year(cli, tmp_path)
    cli("usage", "import", wyr_pay(tmp_path, "late", [("2027-03-20", 10)]))  # 10 x 4.00
    cli("billing", "close", "2027-04")
    cli("billing", "issue", "2027-04")
    cli(
        "billing",
        "adjust",
        "LAN",
        "HOST",
        "-150.00",
        "--reason",
        "Outage",
        "--statement",
        "TSS-202703-LAN",
    )
    cli("billing", "lock-year", "2026-27")
    out = tmp_path / "accruals.xlsx"
    found = cli.json("billing", "accruals", "2026-27", "-o", out)
    assert [(a["client"], a["status"], a["kind"], a["about"], a["net"]) for a in found] == [
        ("WYR", "issued", "prior_period", "2027-03", "40.00"),
        ("LAN", "pending", "adjustment", "TSS-202703-LAN", "-150.00"),
    ]
    from openpyxl import load_workbook

    book = load_workbook(out)
    assert book.sheetnames == ["Accruals", "By client"]
    totals = {row[0]: row[4] for row in book["By client"].iter_rows(min_row=2, values_only=True)}
    assert totals == {"LAN": -150, "WYR": 40}


def leaver(tmp_path, **terms) -> object:
    """PRS leaves hosting and the ICT pool at the end of September 2026."""
    columns = ["client", "service", "start", "end", *terms]
    rows = [
        ["PRS", s, date(2026, 4, 1), date(2026, 9, 30), *terms.values()] for s in ("HOST", "ICT")
    ]
    return write_book(tmp_path / "leaver.xlsx", {"Subscriptions": [columns, *rows]})


def effects_of(document: dict) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (e["client"], e["service"]): (e["before"], e["after"])
        for e in document["effects"]["changes"]
    }


def test_a_leavers_dry_run_shows_what_every_remaining_partner_will_pay(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04")  # the year in hand is 2026-27, whatever the date
    report = cli.json("setup", "load", leaver(tmp_path), "--dry-run")
    # ICT: 10,000.00 a month split three ways (3,333.33, LAN 3,333.34, 3,333.33), then
    # from October two ways: 6 x 3,333.33 + 6 x 5,000.00; hosting: PRS pays 6 x 3,000.00
    assert report["effects"]["year"] == "2026-27"
    assert effects_of(report) == {
        ("WYR", "ICT"): ("39999.96", "49999.98"),
        ("LAN", "ICT"): ("40000.08", "50000.04"),
        ("PRS", "ICT"): ("39999.96", "19999.98"),
        ("PRS", "HOST"): ("36000.00", "18000.00"),
    }
    # nothing was written: a real load reports the same moves
    assert effects_of(cli.json("setup", "load", leaver(tmp_path))) == effects_of(report)


def test_a_leaver_under_notice_keeps_paying_its_pool_share_until_the_notice_ends(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04")
    # notice given on 1 September with six months' notice: it runs to 1 March 2027
    book = leaver(tmp_path, notice_months=6, notice_given=date(2026, 9, 1))
    report = cli.json("setup", "load", book)
    # the others pay no more; PRS stops paying for hosting, which is not pooled
    assert effects_of(report) == {("PRS", "HOST"): ("36000.00", "18000.00")}
    cli("billing", "close", "2026-10")
    ict = next(
        x for x in cli.json("billing", "show", "TSS-202610-PRS")["lines"] if x["service"] == "ICT"
    )
    assert ict["amount"] == "3333.33"
    assert ict["basis"].endswith(
        "PRS left on 30 September 2026 and pays its share until its notice ends on 1 March 2027"
    )
    assert {x["service"] for x in cli.json("billing", "show", "TSS-202610-PRS")["lines"]} == {"ICT"}


def test_the_years_own_statements_issued_after_it_are_accrued(cli, tmp_path, monkeypatch):
    """March's statements issued on 6 April are billed after the year end: both sides
    accrue them in the year they are about."""
    import billing.issue

    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli("billing", "close", "2027-02")  # February's drafts: not issued when the year ends
    cli("billing", "issue", "2027-02")
    cli("billing", "close", "2027-03")
    april = datetime(2027, 4, 6, 9, tzinfo=UTC)
    monkeypatch.setattr(billing.issue, "utcnow", lambda: april)
    cli("billing", "issue", "2027-03")
    found = cli.json("billing", "accruals", "2026-27")
    assert {(a["statement"], a["kind"], a["about"]) for a in found} == {
        (f"TSS-202703-{c}", "charge", "2027-03") for c in ("WYR", "LAN", "PRS")
    }
    # hosting 3 x 3,000.00 and the ICT pool's 10,000.00; February, issued before, is not
    assert sum(Decimal(a["net"]) for a in found) == Decimal("3000") * 3 + Decimal("10000")


def test_a_new_tariff_is_frozen_only_if_it_would_change_an_issued_figure(cli, tmp_path):
    issued_months(cli, tmp_path, "2026-04", "2026-05")

    def load(rows: list[list], *options: str, expect: int = 0):
        book = {"Tariffs": [["service", "financial_year", "rule", "client", "rate"], *rows]}
        return cli("setup", "load", write_book(tmp_path / "t.xlsx", book), *options, expect=expect)

    # WYR's own payroll rate would re-price April and May, which WYR was billed for
    refused = load([["PAY", "2026-27", "unit_rate", "WYR", 3.0]], expect=1)
    assert "the tariffs of 2026-27 are frozen" in refused.stdout + refused.stderr
    # PRS was never billed for payroll: its own tariff changes nothing issued
    load([["PAY", "2026-27", "unit_rate", "PRS", 3.0]])
    # a new service no one has been billed for
    service = {
        "Services": [["code", "name", "unit"], ["HR", "HR advice", "case"]],
        "Tariffs": [
            ["service", "financial_year", "rule", "rate"],
            ["HR", "2026-27", "unit_rate", 40],
        ],
    }
    cli("setup", "load", write_book(tmp_path / "hr.xlsx", service))
    # with --rerate the frozen one loads, and the difference reaches the next statement
    load([["PAY", "2026-27", "unit_rate", "WYR", 3.0]], "--rerate")
    cli("billing", "close", "2026-06")
    wyr = cli.json("billing", "show", "TSS-202606-WYR")
    # 600 payslips a month: 500 x 4.00 + 100 x 3.00 = 2,300.00 before, 600 x 3.00 after
    assert pay_lines(wyr)[1:] == [
        ("prior_period", "2026-04", "-500.00"),
        ("prior_period", "2026-05", "-500.00"),
    ]


def test_drivers_and_estimates_of_a_locked_year_are_refused(cli, tmp_path):
    whole_year(cli, tmp_path)
    cli("billing", "lock-year", "2026-27")
    book = {
        "Drivers": [
            ["client", "financial_year", "driver", "value"],
            ["WYR", "2026-27", "population", 100],
        ],
        "Estimates": [
            ["client", "service", "financial_year", "quantity"],
            ["WYR", "PAY", "2026-27", 1200],
        ],
    }
    refused = cli("setup", "load", write_book(tmp_path / "d.xlsx", book), "--rerate", expect=1)
    output = refused.stdout + refused.stderr
    assert "2026-27 is locked (billing lock-year): its drivers can no longer change" in output
    assert "2026-27 is locked (billing lock-year): its estimates can no longer change" in output
    # the year after is open
    book = {
        "Drivers": [
            ["client", "financial_year", "driver", "value"],
            ["WYR", "2027-28", "population", 100],
        ]
    }
    cli("setup", "load", write_book(tmp_path / "d2.xlsx", book))
