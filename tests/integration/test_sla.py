"""Quarterly KPI assessment, service credits, unit costs and the publication, via the CLI.

Figures are worked by hand from CONTRACT.md sections 5 and 6.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from openpyxl.chart import BarChart, LineChart

from tests.support import small_centre, write_book, write_csv

Q1 = "2026-27-Q1"
RESULT_KEYS = {
    "kpi",
    "client",
    "quarter",
    "value",
    "target",
    "amber",
    "status",
    "numerator",
    "denominator",
}
KPI_HEADER = ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"]
PAY_5D = [
    "PAY-5D",
    "Payroll queries closed in 5 working days",
    "PAY",
    "percent",
    "higher",
    95,
    90,
    "within",
    5,
]


def pay_event(event_id, client, day, started, completed, quantity=1) -> dict:
    return {
        "event_id": event_id,
        "client": client,
        "service": "PAY",
        "date": day,
        "quantity": quantity,
        "started_at": started,
        "completed_at": completed,
    }


def public_usage(w1_quantity: int = 698) -> list[dict]:
    """The acceptance example's May usage (WYR: 4, 5 and 6 working days; LAN: no timings)."""
    return [
        pay_event(
            "w1", "WYR", "2026-05-01", "2026-05-01T09:00:00", "2026-05-08T16:00:00", w1_quantity
        ),
        pay_event("w2", "WYR", "2026-05-22", "2026-05-22T09:00:00", "2026-06-01T16:00:00"),
        pay_event("w3", "WYR", "2026-05-21", "2026-05-21T09:00:00", "2026-06-01T16:00:00"),
        {
            "event_id": "l1",
            "client": "LAN",
            "service": "PAY",
            "date": "2026-05-12",
            "quantity": 300,
        },
    ]


def load(cli, tmp_path, sheets: dict, name: str = "setup.xlsx", *options: str) -> None:
    cli("setup", "load", write_book(tmp_path / name, sheets), *options)


def import_usage(cli, tmp_path, rows: list[dict], name: str) -> None:
    cli("usage", "import", write_csv(tmp_path / name, rows))


def centre_with(cli, tmp_path, kpis: list[list], usage: list[dict] | None = None, **extra):
    sheets = small_centre()
    sheets["KPIs"] = [[*KPI_HEADER, "calendar"], *kpis]
    sheets.update(extra)
    load(cli, tmp_path, sheets)
    if usage:
        import_usage(cli, tmp_path, usage, "usage.csv")


def assess(cli, quarter: str, *flags: str) -> dict[tuple[str, str | None], dict]:
    rows = cli.json("sla", "assess", quarter, *flags)
    assert isinstance(rows, list)
    found = {(r["kpi"], r["client"]): r for r in rows}
    assert len(found) == len(rows), "one result per KPI and client"
    return found


def statement(cli, number: str) -> dict:
    return cli.json("billing", "show", number)


def lines_of(document: dict, kind: str) -> list[dict]:
    return [line for line in document["lines"] if line["kind"] == kind]


# -- the acceptance example and the shape of results -----------------------------------


def test_payroll_kpi_as_in_the_public_acceptance_example(cli, tmp_path):
    centre_with(cli, tmp_path, [[*PAY_5D, None]], public_usage())
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    cli("billing", "close", "2026-05")
    results = assess(cli, Q1)

    wyr = results[("PAY-5D", "WYR")]
    assert set(wyr) >= RESULT_KEYS
    assert wyr["quarter"] == Q1
    assert abs(float(wyr["value"]) - 200 / 3) < 0.01
    assert wyr["status"] == "red"
    # Events are counted, not quantities: w1 carries 698 payslips but is one event.
    assert float(wyr["numerator"]) == 2
    assert float(wyr["denominator"]) == 3
    assert float(wyr["target"]) == 95 and float(wyr["amber"]) == 90

    centre = results[("PAY-5D", None)]
    assert centre["client"] is None
    assert abs(float(centre["value"]) - 200 / 3) < 0.01
    assert float(centre["numerator"]) == 2 and float(centre["denominator"]) == 3
    assert centre["status"] == "red"

    # LAN is subscribed to payroll but has no timed events: no data, never red.
    lan = results[("PAY-5D", "LAN")]
    assert lan["value"] is None
    assert lan["status"] == "no_data"
    # PRS does not take payroll at all.
    assert ("PAY-5D", "PRS") not in results


def test_a_quarter_without_events_is_no_data_everywhere(cli, tmp_path):
    centre_with(cli, tmp_path, [[*PAY_5D, None]])
    results = assess(cli, "2026-27-Q2")
    assert {r["status"] for r in results.values()} == {"no_data"}
    assert all(r["value"] is None for r in results.values())
    assert ("PAY-5D", None) in results


def test_human_output_of_assess(cli, tmp_path):
    centre_with(cli, tmp_path, [[*PAY_5D, None]], public_usage())
    out = cli("sla", "assess", Q1).stdout
    assert "PAY-5D" in out and "WYR" in out and "red" in out


def test_bad_quarter_is_wrong_usage(cli):
    cli("sla", "assess", "2026-27-Q5", expect=2)
    cli("sla", "assess", "2026-Q1", expect=2)


# -- SLA rows ----------------------------------------------------------------------


def test_sla_rows_override_target_and_amber_for_that_client_only(cli, tmp_path):
    centre_with(
        cli,
        tmp_path,
        [[*PAY_5D, None]],
        public_usage(),
        SLAs=[
            ["client", "kpi", "target", "amber", "service_credit_percent"],
            ["WYR", "PAY-5D", 65, 60, 2],
        ],
    )
    results = assess(cli, Q1)
    wyr = results[("PAY-5D", "WYR")]
    assert (float(wyr["target"]), float(wyr["amber"])) == (65, 60)
    assert wyr["status"] == "green"  # 66.67 against 65 / 60
    lan = results[("PAY-5D", "LAN")]
    assert (float(lan["target"]), float(lan["amber"])) == (95, 90)
    centre = results[("PAY-5D", None)]
    assert (float(centre["target"]), float(centre["amber"])) == (95, 90)
    assert centre["status"] == "red"

    # An SLA row with only an amber keeps the KPI's target.
    load(
        cli,
        tmp_path,
        {
            "SLAs": [
                ["client", "kpi", "target", "amber", "service_credit_percent"],
                ["WYR", "PAY-5D", None, 60, 2],
            ]
        },
        "sla2.xlsx",
    )
    wyr = assess(cli, Q1)[("PAY-5D", "WYR")]
    assert (float(wyr["target"]), float(wyr["amber"])) == (95, 60)
    assert wyr["status"] == "amber"


# -- calendars ---------------------------------------------------------------------

WD_AVG = [
    "PAY-WD",
    "Average working days to close a payroll query",
    "PAY",
    "days",
    "lower",
    1,
    2,
    "average_elapsed",
    None,
    "working_days",
]


def nations_centre(cli, tmp_path, **extra):
    """WYR in England, LAN in Scotland, PRS in Wales; each closes one query from Friday
    27 November to Tuesday 1 December 2026 (St Andrew's Day, Monday 30th, between)."""
    sheets = small_centre()
    sheets["Clients"] = [
        ["code", "name", "nation"],
        ["WYR", "Wyre Council", "england"],
        ["LAN", "Lanark Council", "scotland"],
        ["PRS", "Powys Council", "wales"],
    ]
    sheets["Subscriptions"] = [*sheets["Subscriptions"], ["PRS", "PAY", date(2026, 4, 1)]]
    sheets["KPIs"] = [[*KPI_HEADER, "calendar"], WD_AVG]
    sheets.update(extra)
    load(cli, tmp_path, sheets)
    import_usage(
        cli,
        tmp_path,
        [
            pay_event(f"{c}1", c, "2026-11-27", "2026-11-27T10:00:00", "2026-12-01T10:00:00")
            for c in ("WYR", "LAN", "PRS")
        ],
        "november.csv",
    )


def test_each_clients_nation_gives_its_bank_holidays(cli, tmp_path):
    nations_centre(cli, tmp_path)
    results = assess(cli, "2026-27-Q3")
    assert float(results[("PAY-WD", "WYR")]["value"]) == 2
    assert float(results[("PAY-WD", "PRS")]["value"]) == 2  # Wales: as England
    assert float(results[("PAY-WD", "LAN")]["value"]) == 1  # Scotland: 30 Nov is a holiday
    assert results[("PAY-WD", "LAN")]["status"] == "green"
    assert results[("PAY-WD", "WYR")]["status"] == "amber"
    centre = results[("PAY-WD", None)]
    assert abs(float(centre["value"]) - 5 / 3) < 0.01
    assert float(centre["numerator"]) == 5 and float(centre["denominator"]) == 3


def test_holidays_sheet_adds_and_removes_holidays(cli, tmp_path):
    nations_centre(
        cli,
        tmp_path,
        Holidays=[
            ["nation", "date", "action", "name"],
            ["england", date(2026, 12, 1), "add", "Extra day"],
            ["scotland", date(2026, 11, 30), "remove", "St Andrew's Day worked"],
        ],
    )
    results = assess(cli, "2026-27-Q3")
    assert float(results[("PAY-WD", "WYR")]["value"]) == 1  # 1 December is now a holiday
    assert float(results[("PAY-WD", "LAN")]["value"]) == 2  # 30 November is now worked
    assert float(results[("PAY-WD", "PRS")]["value"]) == 2  # Wales is untouched


# -- average_elapsed in calendar days and London dates ----------------------------------

CAL_AVG = [
    "PAY-CAL",
    "Average calendar days to close a payroll query",
    "PAY",
    "days",
    "lower",
    7,
    10,
    "average_elapsed",
    None,
    "calendar_days",
]


def test_average_elapsed_in_calendar_days_with_london_dates(cli, tmp_path):
    usage = [
        *public_usage(),
        # 00:30 BST to 23:30 BST on 11 June: the same London day, though not in UTC.
        pay_event("l2", "LAN", "2026-06-11", "2026-06-10T23:30:00+00:00", "2026-06-11T22:30:00Z"),
        # Completed 00:30 BST on 1 July: a Q2 event, though 30 June in UTC.
        pay_event("l3", "LAN", "2026-06-20", "2026-06-20T10:00:00", "2026-06-30T23:30:00+00:00"),
        # Completed 23:30 BST on 30 June: still Q1.
        pay_event("w4", "WYR", "2026-06-29", "2026-06-29T12:00:00", "2026-06-30T23:30:00+01:00"),
    ]
    centre_with(cli, tmp_path, [CAL_AVG], usage)
    results = assess(cli, Q1)
    # WYR: 7, 10, 11 and 1 calendar days = 29 / 4.
    wyr = results[("PAY-CAL", "WYR")]
    assert (float(wyr["numerator"]), float(wyr["denominator"])) == (29, 4)
    assert float(wyr["value"]) == 7.25
    assert wyr["status"] == "amber"
    lan = results[("PAY-CAL", "LAN")]
    assert (float(lan["numerator"]), float(lan["denominator"])) == (0, 1)
    assert lan["status"] == "green"
    q2 = assess(cli, "2026-27-Q2")[("PAY-CAL", "LAN")]
    assert (float(q2["numerator"]), float(q2["denominator"])) == (11, 1)  # 20 June to 1 July


def test_within_in_seconds_counts_exactly_the_limit_as_within(cli, tmp_path):
    kpi = ["PAY-1H", "Queries answered in an hour", "PAY", "percent", "higher", 95, 50]
    usage = [
        pay_event("a", "WYR", "2026-06-01", "2026-06-01T09:00:00", "2026-06-01T10:00:00"),
        pay_event("b", "WYR", "2026-06-01", "2026-06-01T09:00:00", "2026-06-01T10:00:01"),
        # 09:00 BST is 08:00 UTC: exactly an hour.
        pay_event("c", "LAN", "2026-06-01", "2026-06-01T09:00:00", "2026-06-01T09:00:00Z"),
    ]
    centre_with(cli, tmp_path, [[*kpi, "within", 3600, "seconds"]], usage)
    results = assess(cli, Q1)
    assert float(results[("PAY-1H", "WYR")]["value"]) == 50
    assert results[("PAY-1H", "WYR")]["status"] == "amber"
    assert float(results[("PAY-1H", "LAN")]["value"]) == 100


# -- the service-hours clock, and pauses ----------------------------------------------

OFFICE_HOURS = [
    ["service", "weekday", "open", "close"],
    *[["PAY", day, "08:00", "18:00"] for day in ("mon", "tue", "wed", "thu", "fri")],
]
HOURS_KPIS = [
    ["PAY-2H", "Queries fixed in 2 open hours", "PAY", "percent", "higher", 90, 50, "within",
     7200, "service_hours"],
    ["PAY-AVGH", "Average open seconds to fix a query", "PAY", "seconds", "lower", 7200, 14400,
     "average_elapsed", None, "service_hours"],
]  # fmt: skip


def paused(event: dict, paused_at: str, resumed_at: str) -> dict:
    return {**event, "paused_at": paused_at, "resumed_at": resumed_at}


def test_service_hours_count_only_open_time_less_pauses(cli, tmp_path):
    usage = [
        # Friday 17:00 to Monday 09:00: an hour each side of the weekend
        pay_event("w1", "WYR", "2026-06-05", "2026-06-05T17:00:00", "2026-06-08T09:00:00"),
        # Wednesday 09:00 to Thursday 12:00 is 13 open hours; paused 16:00 to 10:00 the next
        # day, across closing time: 4 of them, so 9 hours
        paused(
            pay_event("w2", "WYR", "2026-06-03", "2026-06-03T09:00:00", "2026-06-04T12:00:00"),
            "2026-06-03T16:00:00",
            "2026-06-04T10:00:00",
        ),
        # the weekend again, paused from 17:30 Friday to 08:30 Monday: an hour less an hour
        paused(
            pay_event("l1", "LAN", "2026-06-05", "2026-06-05T17:00:00", "2026-06-08T09:00:00"),
            "2026-06-05T17:30:00",
            "2026-06-08T08:30:00",
        ),
    ]
    centre_with(cli, tmp_path, HOURS_KPIS, usage, ServiceHours=OFFICE_HOURS)
    results = assess(cli, Q1)
    assert float(results[("PAY-2H", "WYR")]["value"]) == 50  # 7,200 s is within; 32,400 s not
    assert float(results[("PAY-2H", "LAN")]["value"]) == 100
    wyr = results[("PAY-AVGH", "WYR")]
    assert (wyr["numerator"], wyr["denominator"], wyr["status"]) == (39600, 2, "red")
    lan = results[("PAY-AVGH", "LAN")]
    assert (lan["numerator"], lan["denominator"], lan["status"]) == (3600, 1, "green")
    centre = results[("PAY-AVGH", None)]
    assert (centre["value"], centre["status"]) == (14400, "amber")


def test_service_hours_skip_christmas_and_its_substitute_days(cli, tmp_path):
    usage = [
        # 2026: Christmas Day Friday, Boxing Day Saturday, so Monday 28th is closed too
        pay_event("w1", "WYR", "2026-12-24", "2026-12-24T17:00:00", "2026-12-29T09:00:00"),
        # 2027: both on the weekend, so Monday 27th and Tuesday 28th are closed; paused from
        # 17:30 on Christmas Eve to 08:30 on the 29th, across the holidays: an hour less
        paused(
            pay_event("w2", "WYR", "2027-12-24", "2027-12-24T17:00:00", "2027-12-29T09:00:00"),
            "2027-12-24T17:30:00",
            "2027-12-29T08:30:00",
        ),
        pay_event("l1", "LAN", "2027-12-24", "2027-12-24T17:00:00", "2027-12-29T09:00:00"),
    ]
    centre_with(cli, tmp_path, HOURS_KPIS, usage, ServiceHours=OFFICE_HOURS)
    christmas_2026 = assess(cli, "2026-27-Q3")
    assert christmas_2026[("PAY-AVGH", "WYR")]["value"] == 7200
    christmas_2027 = assess(cli, "2027-28-Q3")
    assert christmas_2027[("PAY-AVGH", "WYR")]["value"] == 3600
    assert christmas_2027[("PAY-AVGH", "LAN")]["value"] == 7200
    assert christmas_2027[("PAY-2H", None)]["value"] == 100


# -- submitted KPIs --------------------------------------------------------------------

SUBMITTED = [
    [
        "INV-30",
        "Invoices paid within 30 days",
        None,
        "percent",
        "higher",
        95,
        90,
        "submitted",
        None,
        None,
    ],
    ["CALLS", "Calls per agent hour", None, "count", "higher", 3, 2, "submitted", None, None],
]


def figures(cli, tmp_path, rows: list[list], name: str = "figures.csv") -> dict:
    path = write_csv(
        tmp_path / name,
        [
            dict(zip(["kpi", "client", "month", "numerator", "denominator"], r, strict=True))
            for r in rows
        ],
    )
    return cli.json("kpi", "import", path)


def test_submitted_kpi_is_a_ratio_of_sums(cli, tmp_path):
    centre_with(cli, tmp_path, SUBMITTED)
    figures(
        cli,
        tmp_path,
        [
            ["INV-30", "WYR", "2026-04", 1, 1],
            ["INV-30", "WYR", "2026-05", 0, 99],
            ["INV-30", "LAN", "2026-04", 97, 100],
            ["CALLS", "PRS", "2026-06", 30, 10],
            ["CALLS", "PRS", "2026-07", 100, 1],  # another quarter
        ],
    )
    results = assess(cli, Q1)
    wyr = results[("INV-30", "WYR")]
    assert float(wyr["value"]) == 1  # 1 / 100, not the mean of 100 % and 0 %
    assert (float(wyr["numerator"]), float(wyr["denominator"])) == (1, 100)
    assert wyr["status"] == "red"
    assert results[("INV-30", "LAN")]["status"] == "green"
    centre = results[("INV-30", None)]
    assert (float(centre["numerator"]), float(centre["denominator"])) == (98, 200)
    assert float(centre["value"]) == 49
    calls = results[("CALLS", "PRS")]
    assert float(calls["value"]) == 3  # a count is not multiplied by 100
    assert calls["status"] == "green"
    assert ("INV-30", "PRS") not in results  # no SLA, service or figures


# -- --final: freezing and service credits -------------------------------------------

AVG_CAL = [
    "PAY-AVG",
    "Average calendar days to close a payroll query",
    "PAY",
    "days",
    "lower",
    5,
    7,
    "average_elapsed",
    None,
    "calendar_days",
]
SLA_HEADER = ["client", "kpi", "target", "amber", "service_credit_percent"]


def credit_centre(cli, tmp_path, cap: int | None = None):
    """WYR: 703 payslips in May (500 x 4.00 + 203 x 3.00 = 2609.00), red on both
    payroll KPIs (PAY-5D 66.67 %, PAY-AVG 28/3 calendar days); Q1 billed and issued."""
    extra = {
        "SLAs": [
            SLA_HEADER,
            ["WYR", "PAY-5D", None, None, 2.5],
            ["WYR", "PAY-AVG", None, None, 1],
            ["LAN", "PAY-5D", None, None, 5],
        ]
    }
    sheets = small_centre()
    if cap is not None:
        sheets["Settings"] = [*sheets["Settings"], ["service_credit_cap_percent", cap]]
    centre_with(cli, tmp_path, [[*PAY_5D, None], AVG_CAL], public_usage(701), **extra)
    if cap is not None:
        load(cli, tmp_path, {"Settings": sheets["Settings"]}, "settings.xlsx")
    for month in ("2026-04", "2026-05", "2026-06"):
        cli("billing", "close", month)
        cli("billing", "issue", month)


def test_final_freezes_results_and_raises_one_credit_per_red_sla_kpi(cli, tmp_path):
    credit_centre(cli, tmp_path)
    provisional = assess(cli, Q1)
    assert provisional[("PAY-5D", "WYR")]["final"] is False
    final = assess(cli, Q1, "--final")
    assert final[("PAY-5D", "WYR")]["status"] == "red"
    assert final[("PAY-AVG", "WYR")]["status"] == "red"
    assert final[("PAY-5D", "LAN")]["status"] == "no_data"
    assert all(r["final"] for r in final.values())

    # Late June usage for Q1 (a query closed the same day) does not move frozen results.
    import_usage(
        cli,
        tmp_path,
        [pay_event("w9", "WYR", "2026-06-10", "2026-06-10T09:00:00", "2026-06-10T11:00:00")],
        "late.csv",
    )
    again = assess(cli, Q1)
    strip = ("previous_quarter", "same_quarter_last_year")
    for key, result in final.items():
        assert {k: v for k, v in again[key].items() if k not in strip} == {
            k: v for k, v in result.items() if k not in strip
        }
    assert float(again[("PAY-5D", "WYR")]["denominator"]) == 3

    cli("billing", "close", "2026-07")
    july = statement(cli, "TSS-202607-WYR")
    credits = lines_of(july, "service_credit")
    assert len(credits) == 2
    by_kpi = {("PAY-5D" if "PAY-5D" in c["description"] else "PAY-AVG"): c for c in credits}
    # 2.5 % of 2609.00 = 65.225 -> 65.23 (half up); 1 % = 26.09.
    assert by_kpi["PAY-5D"]["amount"] == "-65.23"
    assert by_kpi["PAY-AVG"]["amount"] == "-26.09"
    for code, credit in by_kpi.items():
        assert credit["service"] == "PAY"
        text = " ".join(str(credit.get(k) or "") for k in ("description", "basis", "corrects"))
        assert code in text and Q1 in text
    # LAN's SLA KPI had no data: no credit.
    assert lines_of(statement(cli, "TSS-202607-LAN"), "service_credit") == []
    # The late usage reached July as a prior-period line, as usual.
    assert [line["amount"] for line in lines_of(july, "prior_period")] == ["4.00"]

    # Finalising again raises nothing more, on this draft or a later one.
    assess(cli, Q1, "--final")
    cli("billing", "close", "2026-07")
    assert len(lines_of(statement(cli, "TSS-202607-WYR"), "service_credit")) == 2
    cli("billing", "issue", "2026-07")
    cli("billing", "close", "2026-08")
    assert lines_of(statement(cli, "TSS-202608-WYR"), "service_credit") == []


def test_service_credits_of_a_quarter_are_capped(cli, tmp_path):
    credit_centre(cli, tmp_path, cap=3)
    assess(cli, Q1, "--final")
    cli("billing", "close", "2026-07")
    credits = lines_of(statement(cli, "TSS-202607-WYR"), "service_credit")
    assert credits, "a capped credit is still raised"
    # Due 65.23 + 26.09 = 91.32; the cap is 3 % of 2609.00 = 78.27.
    assert sum(Decimal(c["amount"]) for c in credits) == Decimal("-78.27")


def test_a_cap_loaded_after_a_quarter_is_issued_applies_from_the_next_month(cli, tmp_path):
    credit_centre(cli, tmp_path)  # Q1 issued under the default cap of 100 %
    capped = {"Settings": [["key", "value"], ["service_credit_cap_percent", 3]]}
    load(cli, tmp_path, capped, "cap.xlsx")
    assess(cli, Q1, "--final")
    cli("billing", "close", "2026-07")
    credits = lines_of(statement(cli, "TSS-202607-WYR"), "service_credit")
    # Q1's months were issued before the change: its credits are not capped at 3 %
    assert sum(Decimal(c["amount"]) for c in credits) == Decimal("-91.32")


def test_a_cap_loaded_with_rerate_applies_to_issued_quarters_too(cli, tmp_path):
    credit_centre(cli, tmp_path)
    capped = {"Settings": [["key", "value"], ["service_credit_cap_percent", 3]]}
    load(cli, tmp_path, capped, "cap.xlsx", "--rerate")
    assess(cli, Q1, "--final")
    cli("billing", "close", "2026-07")
    credits = lines_of(statement(cli, "TSS-202607-WYR"), "service_credit")
    assert sum(Decimal(c["amount"]) for c in credits) == Decimal("-78.27")


def test_a_green_or_amber_sla_kpi_earns_no_credit(cli, tmp_path):
    centre_with(
        cli,
        tmp_path,
        [[*PAY_5D, None]],
        public_usage(),
        SLAs=[SLA_HEADER, ["WYR", "PAY-5D", 60, 50, 10]],
    )
    for month in ("2026-04", "2026-05", "2026-06"):
        cli("billing", "close", month)
        cli("billing", "issue", month)
    assert assess(cli, Q1, "--final")[("PAY-5D", "WYR")]["status"] == "green"
    cli("billing", "close", "2026-07")
    assert lines_of(statement(cli, "TSS-202607-WYR"), "service_credit") == []


# -- trends ----------------------------------------------------------------------------


def test_previous_quarter_and_same_quarter_last_year(cli, tmp_path):
    centre_with(cli, tmp_path, SUBMITTED)
    figures(
        cli,
        tmp_path,
        [
            ["INV-30", "WYR", "2026-04", 80, 100],  # 2026-27-Q1
            ["INV-30", "WYR", "2027-01", 90, 100],  # 2026-27-Q4
            ["INV-30", "WYR", "2027-04", 96, 100],  # 2027-28-Q1
        ],
    )
    now = assess(cli, "2027-28-Q1")
    assert float(now[("INV-30", "WYR")]["value"]) == 96
    assert float(now[("INV-30", "WYR")]["previous_quarter"]) == 90
    assert float(now[("INV-30", "WYR")]["same_quarter_last_year"]) == 80
    assert float(now[("INV-30", None)]["previous_quarter"]) == 90
    first = assess(cli, Q1)[("INV-30", "WYR")]
    assert first["previous_quarter"] is None
    assert first["same_quarter_last_year"] is None
    # A quarter with no figures between: 2026-27-Q3 has none, so Q4's previous is none.
    assert assess(cli, "2026-27-Q4")[("INV-30", "WYR")]["previous_quarter"] is None


# -- cost per transaction -------------------------------------------------------------


def test_costs_per_unit_per_service_client_and_overall(cli, tmp_path):
    centre_with(cli, tmp_path, [[*PAY_5D, None]], public_usage())
    for month in ("2026-04", "2026-05", "2026-06"):
        cli("billing", "close", month)
    rows = cli.json("sla", "costs", Q1)
    costs = {(r["service"], r["client"]): r for r in rows}
    # WYR: 700 payslips in May, 2600.00; LAN: 300, 1200.00.
    assert costs[("PAY", "WYR")]["charges"] == "2600.00"
    assert float(costs[("PAY", "WYR")]["units"]) == 700
    assert abs(float(costs[("PAY", "WYR")]["cost_per_unit"]) - 2600 / 700) < 0.0001
    assert float(costs[("PAY", "LAN")]["cost_per_unit"]) == 4
    centre = costs[("PAY", None)]
    assert centre["charges"] == "3800.00"
    assert float(centre["units"]) == 1000
    assert float(centre["cost_per_unit"]) == 3.8
    assert ("PAY", "PRS") not in costs
    # Hosting: three clients x 3 months x 3000.00, no units recorded.
    assert costs[("HOST", None)]["charges"] == "27000.00"
    assert costs[("HOST", "PRS")]["charges"] == "9000.00"
    assert costs[("HOST", None)]["cost_per_unit"] is None
    assert all(r["quarter"] == Q1 for r in rows)


# -- commentary and the publication --------------------------------------------------------


def test_commentary_is_refused_for_an_unknown_kpi_or_empty_text(cli, tmp_path):
    centre_with(cli, tmp_path, [[*PAY_5D, None]])
    cli("sla", "comment", Q1, "NOPE", "Some words", expect=1)
    cli("sla", "comment", Q1, "PAY-5D", "   ", expect=1)


def test_publication_workbook(cli, tmp_path):
    centre_with(
        cli,
        tmp_path,
        [[*PAY_5D, None], CAL_AVG],
        public_usage(),
        Baselines=[["kpi", "client", "value", "period"], ["PAY-5D", None, 50, "2023-24"]],
    )
    for month in ("2026-04", "2026-05", "2026-06"):
        cli("billing", "close", month)
    cli("sla", "comment", Q1, "PAY-5D", "Two late queries after the bank holiday.")
    cli("sla", "comment", Q1, "pay-5d", "Two late queries after the spring bank holiday.")
    out = tmp_path / "publication.xlsx"
    cli("sla", "publish", Q1, "-o", out)

    book = load_workbook(out)
    for name in ("Summary", "KPIs", "By client", "Cost per transaction", "Chart data", "Charts"):
        assert name in book.sheetnames
        sheet = book[name]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, name
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0, name
    # the quarter in words
    assert book["Summary"]["A2"].value.startswith("Q1 2026-27, April to June 2026: ")

    kpis = book["KPIs"]
    header = [c.value for c in kpis[1]]
    rows = {
        r[1]: dict(zip(header, r, strict=False))
        for r in kpis.iter_rows(min_row=2, values_only=True)
    }
    pay = rows["PAY-5D"]
    assert pay["KPI"] == "Payroll queries closed in 5 working days"
    assert abs(pay["value"] - 66.67) < 0.01
    assert pay["target"] == 95
    assert isinstance(pay["status"], str) and "red" in pay["status"].lower()
    assert abs(pay["change since baseline"] - 16.67) < 0.01
    assert pay["commentary"] == "Two late queries after the spring bank holiday."
    cal = rows["PAY-CAL"]
    assert "amber" in cal["status"].lower()  # 28 / 3 = 9.33 days against 7 / 10
    # values are shown rounded in their units: 66.7%, 9.3 days
    formats = {
        kpis.cell(r, 2).value: kpis.cell(r, header.index("value") + 1).number_format for r in (2, 3)
    }
    assert formats == {"PAY-5D": '0.0"%"', "PAY-CAL": '0.0" days"'}

    summary = book["Summary"]
    summary_rows = [r for r in summary.iter_rows(values_only=True) if r[0]]
    commented = next(r for r in summary_rows if r[0] == "Payroll queries closed in 5 working days")
    assert commented[-1] == "Two late queries after the spring bank holiday."  # beside its KPI
    summary_text = [c for row in summary_rows for c in row if c]
    assert not any("after the bank holiday." in str(c) for c in summary_text)

    by_client = [r for r in book["By client"].iter_rows(values_only=True)]
    assert [r[0] for r in by_client[1:]] == ["Lancaster City Council", "Wyre Council"]
    assert "Payroll queries closed in 5 working days: value" in by_client[0]

    costs = [r for r in book["Cost per transaction"].iter_rows(values_only=True)]
    assert any(r[0] == "Payroll" and r[2] == "Wyre Council" and r[3] == 2600 for r in costs)
    assert book["Cost per transaction"]["D2"].number_format.startswith('"£"')


def test_publication_charts_are_straight_honest_and_described(cli, tmp_path):
    """Each KPI gets a straight trend line and a bar per council, each with its target as a
    line; percentage axes run from 0 to 100 and others from 0; each chart prints on a page of
    its own and carries alt text naming its figures."""
    centre_with(cli, tmp_path, [[*PAY_5D, None], CAL_AVG], public_usage())
    for month in ("2026-04", "2026-05", "2026-06"):
        cli("billing", "close", month)
    out = tmp_path / "publication.xlsx"
    cli("sla", "publish", Q1, "-o", out)

    charts = load_workbook(out)["Charts"]
    placed = charts._charts
    assert [type(c) for c in placed] == [LineChart, BarChart, LineChart, BarChart]
    for chart in placed:
        assert chart.y_axis.scaling.min == 0
        assert not chart.x_axis.delete and not chart.y_axis.delete
    percent, days = placed[0], placed[2]
    assert percent.y_axis.scaling.max == 100
    assert days.y_axis.scaling.max is None
    for trend in (percent, days):
        assert [s.tx.strRef.f.split("!")[1].strip("$")[0] for s in trend.series] == ["B", "C"]
        assert all(s.smooth is False for s in trend.series)  # straight between quarters
    bar = placed[1]
    assert len(bar.series) == 1  # the councils' results as bars...
    (target,) = [c for c in bar._charts if isinstance(c, LineChart)]
    assert len(target.series) == 1 and target.series[0].smooth is False  # ...the target a line
    assert target.series[0].graphicalProperties.line.prstDash == "dash"
    # each chart starts a printed page of its own
    anchors = [c.anchor._from.row for c in placed]
    breaks = [b.id for b in charts.row_breaks.brk]
    assert all(any(a - 1 <= b < a + 1 for b in [0, *breaks]) for a in anchors)

    with zipfile.ZipFile(out) as book:
        drawing = book.read("xl/drawings/drawing1.xml").decode()
    descriptions = re.findall(r'title="([^"]*)" descr="([^"]*)"', drawing)
    assert len(descriptions) == 4
    title, text = descriptions[1]
    assert (
        title
        == "Payroll queries closed in 5 working days: each council against its target, Q1 2026-27"
    )
    assert "Wyre Council" in text and "Lancaster City Council" in text and "%" in text
    assert "Line chart" in descriptions[0][1] and "Q1 2026-27" in descriptions[0][1]


@pytest.mark.parametrize("flag", [[], ["--final"]])
def test_publication_of_a_quarter_without_data(cli, tmp_path, flag):
    centre_with(cli, tmp_path, [[*PAY_5D, None]])
    if flag:
        assess(cli, "2026-27-Q2", *flag)
    out = tmp_path / "empty.xlsx"
    cli("sla", "publish", "2026-27-Q2", "-o", out)
    book = load_workbook(out)
    kpis = book["KPIs"]
    header = [c.value for c in kpis[1]]
    row = dict(zip(header, next(kpis.iter_rows(min_row=2, values_only=True)), strict=False))
    assert row["value"] is None
    assert "no data" in row["status"].lower()
    subtitle = str(book["Summary"]["A2"].value)
    assert ("final" in subtitle) == bool(flag)
