"""Manual adjustments and statement queries, via the CLI (CONTRACT.md sections 2 and 5)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from tests.support import small_centre, write_book, write_csv

APRIL_WYR = "TSS-202604-WYR"
APRIL_LAN = "TSS-202604-LAN"


@pytest.fixture
def centre(cli, tmp_path):
    """The small centre with May usage; April closed and issued (WYR: HOST, ICT, PAY lines)."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli(
        "usage",
        "import",
        write_csv(
            tmp_path / "may.csv",
            [
                {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 700},
                {"client": "LAN", "service": "PAY", "date": "2026-05-12", "quantity": 300},
            ],
        ),
    )
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    return cli


def show(cli, number: str) -> dict:
    return cli.json("billing", "show", number)


def adjustments(cli, number: str) -> list[dict]:
    return [line for line in show(cli, number)["lines"] if line["kind"] == "adjustment"]


def all_adjustments(cli) -> list[tuple[str, dict]]:
    found = []
    for summary in cli.json("billing", "list"):
        found += [(summary["number"], line) for line in adjustments(cli, summary["number"])]
    return found


# -- adjustments -------------------------------------------------------------------------


def test_adjustment_lands_once_on_the_clients_next_statement(centre):
    cli = centre
    before = Decimal(show(cli, APRIL_WYR)["total"])
    document = cli.json(
        "billing",
        "adjust",
        "WYR",
        "PAY",
        "-50.00",
        "--reason",
        "Payslips for leavers were charged twice in April",
        "--statement",
        APRIL_WYR,
    )
    assert document["amount"] == "-50.00"
    assert APRIL_WYR in document["corrects"]

    cli("billing", "close", "2026-05")
    may = show(cli, "TSS-202605-WYR")
    lines = [line for line in may["lines"] if line["kind"] == "adjustment"]
    assert len(lines) == 1
    line = lines[0]
    assert line["amount"] == "-50.00"
    assert line["service"] == "PAY"
    assert line["basis"] == "Payslips for leavers were charged twice in April"
    assert APRIL_WYR in line["corrects"]
    assert APRIL_WYR in line["description"]
    charges = sum(Decimal(x["amount"]) for x in may["lines"] if x["kind"] != "adjustment")
    assert Decimal(may["net"]) == charges - Decimal("50.00")
    # Only WYR's statement carries it; the issued statement it corrects is untouched.
    assert adjustments(cli, "TSS-202605-LAN") == []
    assert adjustments(cli, "TSS-202605-PRS") == []
    assert Decimal(show(cli, APRIL_WYR)["total"]) == before
    assert adjustments(cli, APRIL_WYR) == []

    # Re-closing May, or closing June while May is a draft, does not duplicate it.
    cli("billing", "close", "2026-05")
    cli("billing", "close", "2026-06")
    assert len(adjustments(cli, "TSS-202605-WYR")) == 1
    assert adjustments(cli, "TSS-202606-WYR") == []

    # Issued, it stays on May and never reaches a later statement.
    cli("billing", "issue", "2026-05")
    cli("billing", "close", "2026-06")
    cli("billing", "issue", "2026-06")
    cli("billing", "close", "2026-07")
    assert [line["amount"] for line in adjustments(cli, "TSS-202605-WYR")] == ["-50.00"]
    assert adjustments(cli, "TSS-202606-WYR") == []
    assert adjustments(cli, "TSS-202607-WYR") == []
    assert len(all_adjustments(cli)) == 1


def test_adjustment_naming_a_line_and_a_debit_without_statement(centre):
    cli = centre
    cli(
        "billing",
        "adjust",
        "wyr",
        "pay",
        "-12.34",
        "--reason",
        "Wrong band",
        "--statement",
        APRIL_WYR,
        "--line",
        "3",
    )
    cli("billing", "adjust", "LAN", "HOST", "25.00", "--reason", "Extra disk space in April")
    cli("billing", "close", "2026-05")
    (wyr,) = adjustments(cli, "TSS-202605-WYR")
    assert wyr["amount"] == "-12.34"
    assert wyr["corrects"] == f"{APRIL_WYR} line 3"
    (lan,) = adjustments(cli, "TSS-202605-LAN")
    assert (lan["amount"], lan["service"]) == ("25.00", "HOST")
    assert lan["basis"] == "Extra disk space in April"


def test_an_adjustment_never_lands_on_a_statement_before_the_one_it_corrects(centre):
    """CONTRACT.md section 5: adjustments appear on a *later* statement than the one they
    correct. Closing an earlier month (here March 2026, before any subscription) must not
    carry an adjustment that corrects April's issued statement."""
    cli = centre
    cli("billing", "adjust", "WYR", "PAY", "-5.00", "--reason", "x", "--statement", APRIL_WYR)
    cli("billing", "close", "2026-03")
    cli("billing", "close", "2026-05")
    placed = [(number, line["amount"]) for number, line in all_adjustments(cli)]
    assert placed == [("TSS-202605-WYR", "-5.00")]


BAD_ADJUSTMENTS = [
    ["NOPE", "PAY", "-50.00", "--reason", "x"],
    ["WYR", "NOPE", "-50.00", "--reason", "x"],
    ["WYR", "PAY", "-50.005", "--reason", "x"],
    ["WYR", "PAY", "fifty", "--reason", "x"],
    ["WYR", "PAY", "0.00", "--reason", "x"],
    ["WYR", "PAY", "-50.00", "--reason", ""],
    ["WYR", "PAY", "-50.00", "--reason", "   "],
    ["WYR", "PAY", "-50.00", "--reason", "x", "--statement", APRIL_LAN],
    ["WYR", "PAY", "-50.00", "--reason", "x", "--statement", "TSS-209901-WYR"],
    ["WYR", "PAY", "-50.00", "--reason", "x", "--statement", APRIL_WYR, "--line", "4"],
    ["WYR", "PAY", "-50.00", "--reason", "x", "--statement", APRIL_WYR, "--line", "0"],
    ["WYR", "PAY", "-50.00", "--reason", "x", "--line", "1"],
]


def test_bad_adjustments_are_refused_and_write_nothing(centre):
    cli = centre
    for args in BAD_ADJUSTMENTS:
        result = cli("billing", "adjust", *args, expect=1)
        assert "error" in result.stderr.lower(), args
    refused = cli("billing", "adjust", "NOPE", "NOPE", "-1.00", "--reason", " ", "--json", expect=1)
    errors = json.loads(refused.stdout)["errors"]
    assert len(errors) == 3  # client, service and reason, each listed
    cli("billing", "close", "2026-05")
    assert all_adjustments(cli) == []


def test_adjust_without_a_reason_is_wrong_usage(centre):
    centre("billing", "adjust", "WYR", "PAY", "-50.00", expect=2)
    centre("billing", "close", "2026-05")
    assert all_adjustments(centre) == []


# -- queries --------------------------------------------------------------------------


def raise_query(cli, number=APRIL_WYR, line="3", reason="Why 0.00 payslips?") -> dict:
    args = ["queries", "raise", number, "--reason", reason]
    if line is not None:
        args += ["--line", line]
    return cli.json(*args)


def test_accepting_a_query_with_an_amount_raises_an_adjustment(centre):
    cli = centre
    queried = show(cli, APRIL_WYR)["lines"][0]
    query = raise_query(cli, line="1", reason="Hosting was down for a week")
    assert query["status"] == "open"
    assert (query["statement"], query["client"], query["line"]) == (APRIL_WYR, "WYR", 1)
    assert query["raised_at"] and query["answered_at"] is None
    assert [q["id"] for q in cli.json("queries", "list", "--status", "open")] == [query["id"]]

    answered = cli.json(
        "queries",
        "answer",
        query["id"],
        "--accept",
        "--explanation",
        "Agreed: a week's credit",
        "--amount",
        "-10.00",
    )
    assert answered["status"] == "accepted"
    assert answered["adjustment"] is not None
    raised = datetime.fromisoformat(answered["raised_at"])
    done = datetime.fromisoformat(answered["answered_at"])
    assert raised <= done
    assert cli.json("queries", "list", "--status", "open") == []
    assert [q["id"] for q in cli.json("queries", "list", "--status", "accepted")] == [query["id"]]

    cli("billing", "close", "2026-05")
    (line,) = adjustments(cli, "TSS-202605-WYR")
    assert line["amount"] == "-10.00"
    assert line["service"] == queried["service"]
    assert line["corrects"] == f"{APRIL_WYR} line 1"

    # Answering twice is refused, and raises nothing more.
    cli("queries", "answer", query["id"], "--reject", "--explanation", "Changed my mind", expect=1)
    cli(
        "queries",
        "answer",
        query["id"],
        "--accept",
        "--explanation",
        "x",
        "--amount",
        "-5.00",
        expect=1,
    )
    cli("billing", "close", "2026-05")
    assert len(all_adjustments(cli)) == 1
    assert cli.json("queries", "list")[0]["status"] == "accepted"


def test_rejecting_a_query_needs_an_explanation_and_raises_nothing(centre):
    cli = centre
    query = raise_query(cli)
    cli("queries", "answer", query["id"], "--reject", expect=2)
    cli("queries", "answer", query["id"], "--reject", "--explanation", "  ", expect=1)
    cli(
        "queries",
        "answer",
        query["id"],
        "--reject",
        "--explanation",
        "No",
        "--amount",
        "-5.00",
        expect=1,
    )
    assert cli.json("queries", "list", "--status", "open")[0]["id"] == query["id"]

    rejected = cli.json(
        "queries", "answer", query["id"], "--reject", "--explanation", "No payslips were run"
    )
    assert rejected["status"] == "rejected"
    assert rejected["adjustment"] is None
    assert rejected["answer"] == "No payslips were run"
    assert rejected["answered_at"] is not None
    cli("billing", "close", "2026-05")
    assert all_adjustments(cli) == []


def test_accepting_without_an_amount_raises_no_adjustment(centre):
    cli = centre
    query = raise_query(cli, line=None, reason="Please send a copy to our AP team")
    answered = cli.json("queries", "answer", query["id"], "--accept", "--explanation", "Sent")
    assert answered["status"] == "accepted"
    assert answered["adjustment"] is None
    cli("billing", "close", "2026-05")
    assert all_adjustments(cli) == []


def test_bad_queries_are_refused(centre):
    cli = centre
    cli("queries", "raise", APRIL_WYR, "--line", "4", "--reason", "x", expect=1)
    cli("queries", "raise", APRIL_WYR, "--line", "0", "--reason", "x", expect=1)
    cli("queries", "raise", "TSS-209901-WYR", "--reason", "x", expect=1)
    cli("queries", "raise", APRIL_WYR, "--reason", "  ", expect=1)
    cli("queries", "answer", "999", "--accept", "--explanation", "x", expect=1)
    assert cli.json("queries", "list") == []
    query = raise_query(cli)
    cli(
        "queries",
        "answer",
        query["id"],
        "--accept",
        "--explanation",
        "x",
        "--amount",
        "-1.001",
        expect=1,
    )
    assert cli.json("queries", "list", "--status", "open")[0]["id"] == query["id"]


def test_queries_list_by_client(centre):
    cli = centre
    mine = raise_query(cli)
    theirs = raise_query(cli, number=APRIL_LAN, line="1", reason="Hosting fee")
    assert [q["id"] for q in cli.json("queries", "list", "--client", "WYR")] == [mine["id"]]
    assert [q["id"] for q in cli.json("queries", "list", "--client", "LAN")] == [theirs["id"]]
    listed = cli.json("queries", "list", "--status", "open")
    assert {q["id"] for q in listed} == {mine["id"], theirs["id"]}
    for q in listed:
        assert q["raised_at"] and q["answered_at"] is None and q["status"] == "open"


def test_a_month_is_not_issued_while_a_query_on_its_draft_is_open(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli("billing", "close", "2026-05")
    query = cli.json("queries", "raise", "TSS-202605-WYR", "--line", "1", "--reason", "Why?")

    refused = cli("billing", "issue", "2026-05", expect=1)
    assert f"query {query['id']} on TSS-202605-WYR is still open" in refused.stderr
    assert {s["status"] for s in cli.json("billing", "list", "--month", "2026-05")} == {"draft"}

    cli("queries", "answer", str(query["id"]), "--reject", "--explanation", "As agreed")
    cli("billing", "issue", "2026-05")
    assert {s["status"] for s in cli.json("billing", "list", "--month", "2026-05")} == {"issued"}
