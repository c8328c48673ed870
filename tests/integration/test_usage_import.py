"""`usage import`, `usage revert` and `usage template` on a real SQLite file (CONTRACT.md s. 4)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from opsplatform.models import Client, ImportBatch, Service, UsageEvent
from tests.support import small_centre, write_book, write_csv

USAGE_COLUMNS = [
    "event_id",
    "client",
    "service",
    "date",
    "quantity",
    "reference",
    "started_at",
    "completed_at",
    "paused_at",
    "resumed_at",
]


@pytest.fixture
def centre(cli, tmp_path):
    """The small centre: WYR and LAN use PAY, HOST and ICT; PRS only HOST and ICT."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    return cli


def events(database) -> list[dict]:
    """The usage ledger as plain values, oldest first."""
    with database.transaction() as session:
        rows = session.execute(
            select(
                UsageEvent.event_id,
                Client.code,
                Service.code,
                UsageEvent.month,
                UsageEvent.local_date,
                UsageEvent.occurred_at,
                UsageEvent.quantity,
                UsageEvent.batch_id,
            )
            .join(Client, UsageEvent.client_id == Client.id)
            .join(Service, UsageEvent.service_id == Service.id)
            .order_by(UsageEvent.id)
        ).all()
    keys = ("event_id", "client", "service", "month", "local_date", "at", "quantity", "batch")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def batches(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(ImportBatch))


def show(cli, number: str) -> dict:
    return cli.json("billing", "show", number)


def pay_lines(document: dict, kind: str = "charge") -> list[dict]:
    return [x for x in document["lines"] if x["service"] == "PAY" and x["kind"] == kind]


# -- files ---------------------------------------------------------------------------------


def test_csv_import_stores_each_row(centre, database, tmp_path):
    rows = [
        {
            "event_id": "a1",
            "client": "WYR",
            "service": "PAY",
            "date": "2026-05-01",
            "quantity": 698,
        },
        {"event_id": "a2", "client": "wyr", "service": "pay", "date": "2026-05-22", "quantity": 2},
        {
            "event_id": "a3",
            "client": "LAN",
            "service": "PAY",
            "date": "12/05/2026",
            "quantity": "1.5",
        },
    ]
    report = centre.json("usage", "import", write_csv(tmp_path / "may.csv", rows))
    assert report["rows"] == 3
    assert report["inserted"] == 3
    assert report["skipped"] == 0
    assert isinstance(report["batch"], int)

    stored = events(database)
    assert [(e["event_id"], e["client"], e["month"], e["quantity"]) for e in stored] == [
        ("a1", "WYR", "2026-05", Decimal(698)),
        ("a2", "WYR", "2026-05", Decimal(2)),
        ("a3", "LAN", "2026-05", Decimal("1.5")),
    ]
    assert {e["batch"] for e in stored} == {report["batch"]}


def test_xlsx_import_reads_the_first_sheet_only(centre, database, tmp_path):
    book = write_book(
        tmp_path / "may.xlsx",
        {
            "Usage": [
                ["client", "service", "date", "quantity"],
                ["WYR", "PAY", datetime(2026, 5, 3), 10],
                ["LAN", "PAY", "2026-05-04", 20],
            ],
            "Scratch": [["this sheet is", "not usage"], ["NOPE", "NOPE"]],
        },
    )
    report = centre.json("usage", "import", book)
    assert report["inserted"] == 2
    stored = events(database)
    assert [(e["client"], str(e["local_date"]), e["quantity"]) for e in stored] == [
        ("WYR", "2026-05-03", Decimal(10)),
        ("LAN", "2026-05-04", Decimal(20)),
    ]


def test_a_workbooks_repeated_cells_read_alike_but_true_is_not_a_quantity(
    centre, database, tmp_path
):
    """Distinct cell values are parsed once and remembered: 1 and 1.0 are the same
    quantity, a TRUE cell is refused wherever it comes, and dates repeat safely."""
    rows = [["client", "service", "date", "quantity"]]
    rows += [["WYR", "PAY", datetime(2026, 5, 3), q] for q in (1, 1.0, True, 1, True)]
    book = write_book(tmp_path / "cells.xlsx", {"Usage": rows})
    refused = centre.json("usage", "import", book, expect=1)
    assert [(e["row"], e["column"]) for e in refused["errors"]] == [
        (4, "quantity"),
        (6, "quantity"),
    ]
    del rows[3], rows[4]  # the TRUE rows
    report = centre.json("usage", "import", write_book(tmp_path / "ok.xlsx", {"Usage": rows}))
    assert report["inserted"] == 3 and report["quantity"] == "3"


def test_headers_ignore_case_and_spaces_and_a_bom_and_quantity_defaults_to_1(
    centre, database, tmp_path
):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeff Client ,SERVICE,Date , Reference\r\n"
        "WYR,PAY,2026-05-05,first\r\n"
        "LAN,PAY,2026-05-06,second\r\n".encode()
    )
    report = centre.json("usage", "import", path)
    assert report["inserted"] == 2
    stored = events(database)
    assert [(e["client"], e["quantity"]) for e in stored] == [
        ("WYR", Decimal(1)),
        ("LAN", Decimal(1)),
    ]


def test_dry_run_reports_but_writes_nothing(centre, database, tmp_path):
    path = write_csv(
        tmp_path / "may.csv",
        [{"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5}],
    )
    report = centre.json("usage", "import", path, "--dry-run")
    assert report["dry_run"] is True
    assert report["rows"] == 1
    assert report["batch"] is None
    assert events(database) == []
    assert batches(database) == 0

    # the dry run did not use the file up: it imports for real afterwards
    assert centre.json("usage", "import", path)["inserted"] == 1
    assert len(events(database)) == 1


# -- all or nothing ------------------------------------------------------------------------


BAD_ROWS = [
    # (row, column) of each problem; row 2 is a good row
    {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5},
    {"client": "ZZZ", "service": "PAY", "date": "2026-05-01", "quantity": 5},  # 3 client
    {"client": "WYR", "service": "NOPE", "date": "2026-05-01", "quantity": 5},  # 4 service
    {"client": "WYR", "service": "PAY", "date": "2026-02-30", "quantity": 5},  # 5 date
    {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 0},  # 6 quantity
    {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": -3},  # 7 quantity
    {"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": "lots"},  # 8 quantity
    {
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-01",
        "started_at": "2026-05-02T09:00:00",
        "completed_at": "2026-05-01T09:00:00",
    },  # 9 completed_at
    {"client": "PRS", "service": "PAY", "date": "2026-05-01", "quantity": 5},  # 10 not subscribed
    {"client": "WYR", "service": "PAY", "date": "2026-03-31", "quantity": 5},  # 11 before start
]
BAD = [
    (3, "client"),
    (4, "service"),
    (5, "date"),
    (6, "quantity"),
    (7, "quantity"),
    (8, "quantity"),
    (9, "completed_at"),
    (10, "client"),
    (11, "client"),
]


def test_every_bad_row_is_reported_and_nothing_is_written(centre, database, tmp_path):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    out = tmp_path / "errors.xlsx"

    result = centre("usage", "import", path, "--errors", out, expect=1)
    for row, column in BAD:
        assert f"row {row}, column {column}" in result.stderr, (row, column)
    assert "row 2," not in result.stderr
    assert "nothing was imported" in result.stderr

    book = load_workbook(out, read_only=True)
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    header = [str(c).lower() for c in rows[0]]
    assert header == ["sheet", "row", "column", "problem"]
    assert {r[0] for r in rows[1:]} == {"bad.csv"}, "each problem names the file"
    listed = [(r[1], r[2]) for r in rows[1:]]
    assert sorted(listed) == sorted(BAD)
    assert all(r[3] for r in rows[1:]), "every bad row has a message"

    document = centre.json("usage", "import", path, expect=1)
    assert sorted((e["row"], e["column"]) for e in document["errors"]) == sorted(BAD)

    assert events(database) == []
    assert batches(database) == 0
    # the refused file was not registered: once fixed, its good row imports
    fixed = write_csv(tmp_path / "bad.csv", BAD_ROWS[:1])
    assert centre.json("usage", "import", fixed)["inserted"] == 1


def test_a_value_beyond_the_header_is_refused_naming_its_row(centre, database, tmp_path):
    spilled = tmp_path / "spilled.csv"
    spilled.write_text("client,service,date\nWYR,PAY,2026-05-01\nWYR,PAY,2026-05-02,lost\n")
    result = centre("usage", "import", spilled, expect=1)
    assert "error: sheet spilled.csv, row 3: a value stands in a column with no header" in (
        result.stderr
    )
    book = write_book(
        tmp_path / "spilled.xlsx",
        {"Usage": [["client", "service", "date"], ["WYR", "PAY", "2026-05-01", None, "lost"]]},
    )
    result = centre("usage", "import", book, expect=1)
    assert "row 2: a value stands in a column with no header" in result.stderr
    assert events(database) == []


def test_a_csv_line_over_a_megabyte_is_refused_before_it_is_split_into_cells(centre, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("client,service,date\n" + "," * 2_000_000 + "\n")
    result = centre("usage", "import", path, expect=1)
    assert "wide.csv: line 2 is longer than 1,048,576 characters; no usage row is" in result.stderr


def test_a_table_may_start_in_column_b_of_a_workbook(centre, database, tmp_path):
    book = write_book(
        tmp_path / "indented.xlsx",
        {"Usage": [[None, "client", "service", "date"], [None, "WYR", "PAY", "2026-05-01"]]},
    )
    assert centre.json("usage", "import", book)["inserted"] == 1
    assert [e["client"] for e in events(database)] == ["WYR"]


def test_only_the_first_thousand_problems_are_listed_and_all_are_counted(centre, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("client,service,date\n" + "XXX,PAY,2026-05-01\n" * 2500)
    document = centre.json("usage", "import", path, expect=1)
    assert document["error_count"] == 2500
    assert [e["row"] for e in document["errors"]] == list(range(2, 1002))
    lines = centre("usage", "import", path, expect=1).stderr.splitlines()
    assert lines[0] == "error: bad.csv: 2,500 problem(s); nothing was imported"
    assert len(lines) == 1 + 1000 + 1
    assert lines[-1] == (
        "error: 1,500 more problems are not listed: these are the first 1,000 of 2,500"
    )


def test_the_errors_workbook_is_written_for_header_problems_too(centre, tmp_path):
    # `--errors` is where a script looks for what is wrong: a stale report from an
    # earlier run must not stand in for this run's problems.
    out = tmp_path / "errors.xlsx"
    centre("usage", "import", write_csv(tmp_path / "bad.csv", BAD_ROWS), "--errors", out, expect=1)
    path = tmp_path / "wrong-header.csv"
    path.write_text("client,service,when\nWYR,PAY,2026-05-01\n", encoding="utf-8")

    result = centre("usage", "import", path, "--errors", out, expect=1)
    assert "row 1, column when" in result.stderr
    book = load_workbook(out, read_only=True)
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))[1:]
    finally:
        book.close()
    assert {(r[1], r[2]) for r in rows} == {(1, "when"), (1, "date")}


def test_the_messages_say_what_is_wrong(centre, tmp_path):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    errors = {
        (e["row"], e["column"]): e["message"]
        for e in centre.json("usage", "import", path, expect=1)["errors"]
    }
    assert "ZZZ" in errors[(3, "client")]
    assert "NOPE" in errors[(4, "service")]
    assert "not subscribed" in errors[(10, "client")]
    assert "not subscribed" in errors[(11, "client")]


def test_a_row_with_several_problems_has_each_reported_in_its_column(centre, tmp_path):
    rows = [
        # not subscribed, a bad quantity and an over-long reference
        {"client": "PRS", "service": "PAY", "date": "2026-05-01", "quantity": "lots",
         "reference": "r" * 201},
        # blank cells: the required ones are missing, the others default
        {"client": "  ", "service": "PAY", "date": "", "quantity": " ", "reference": " "},
    ]  # fmt: skip
    errors = {
        (e["row"], e["column"]): e["message"]
        for e in centre.json("usage", "import", write_csv(tmp_path / "bad.csv", rows), expect=1)[
            "errors"
        ]
    }
    assert errors == {
        (2, "client"): "PRS is not subscribed to PAY on 2026-05-01",
        (2, "quantity"): "'lots' is not a number",
        (2, "reference"): "reference is longer than 200 characters",
        (3, "client"): "client is required",
        (3, "date"): "date is required",
    }


def test_a_pause_is_both_columns_within_the_event_each_problem_in_its_column(centre, tmp_path):
    timed = {
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-01",
        "started_at": "2026-05-01T09:00:00",
        "completed_at": "2026-05-01T17:00:00",
    }
    rows = [
        {**timed, "paused_at": "2026-05-01T10:00:00"},  # no resumed_at
        {**timed, "resumed_at": "2026-05-01T10:00:00"},  # no paused_at
        {**timed, "paused_at": "2026-05-01T12:00:00", "resumed_at": "2026-05-01T11:00:00"},
        {**timed, "paused_at": "2026-05-01T08:00:00", "resumed_at": "2026-05-01T10:00:00"},
        {**timed, "paused_at": "2026-05-01T16:00:00", "resumed_at": "2026-05-01T18:00:00"},
        {**timed, "completed_at": "", "paused_at": "2026-05-01T10:00:00",
         "resumed_at": "2026-05-01T11:00:00"},
        {**timed, "paused_at": "soon", "resumed_at": "2026-05-01T11:00:00"},
    ]  # fmt: skip
    document = centre.json("usage", "import", write_csv(tmp_path / "p.csv", rows), expect=1)
    assert {(e["row"], e["column"]): e["message"] for e in document["errors"]} == {
        (2, "resumed_at"): "resumed_at is required when paused_at is given",
        (3, "paused_at"): "paused_at is required when resumed_at is given",
        (4, "resumed_at"): "resumed_at is before paused_at",
        (5, "paused_at"): "paused_at is before started_at",
        (6, "resumed_at"): "resumed_at is after completed_at",
        (7, "paused_at"): "a pause needs started_at and completed_at",
        (8, "paused_at"): "'soon' is not a date or datetime: write e.g. 2026-05-01 or "
        "2026-05-01T09:30:00",
    }


def test_a_pause_is_stored_and_part_of_the_events_content(centre, database, tmp_path):
    timed = {
        "event_id": "T1",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-01",
        "started_at": "2026-05-01T09:00:00",
        "completed_at": "2026-05-01T17:00:00",
    }
    paused = {**timed, "event_id": "T2", "paused_at": "2026-05-01T10:00:00",
              "resumed_at": "2026-05-01T11:30:00"}  # fmt: skip
    centre("usage", "import", write_csv(tmp_path / "one.csv", [timed, paused]))
    with database.transaction() as session:
        stored = session.execute(
            select(UsageEvent.event_id, UsageEvent.paused_at, UsageEvent.resumed_at).order_by(
                UsageEvent.event_id
            )
        ).all()
    assert [(e, p and p.isoformat(), r and r.isoformat()) for e, p, r in stored] == [
        ("T1", None, None),
        ("T2", "2026-05-01T09:00:00+00:00", "2026-05-01T10:30:00+00:00"),  # BST
    ]
    # an event without a pause has the fingerprint it had before pauses existed
    with database.transaction() as session:
        client_id, service_id, fingerprint = session.execute(
            select(UsageEvent.client_id, UsageEvent.service_id, UsageEvent.fingerprint).where(
                UsageEvent.event_id == "T1"
            )
        ).one()
    moments = [datetime(2026, 4, 30, 23, tzinfo=UTC), datetime(2026, 5, 1, 8, tzinfo=UTC),
               datetime(2026, 5, 1, 16, tzinfo=UTC)]  # fmt: skip
    occurred, started, completed = (str(m.timestamp()) for m in moments)
    before = f"{client_id}\x1f{service_id}\x1f{occurred}\x1f1\x1f\x1f{started}\x1f{completed}"
    assert fingerprint == hashlib.sha1(before.encode()).hexdigest()
    # the same event with a different pause is different content
    moved = {**paused, "resumed_at": "2026-05-01T12:00:00"}
    document = centre.json("usage", "import", write_csv(tmp_path / "two.csv", [moved]), expect=1)
    assert [(e["row"], e["column"]) for e in document["errors"]] == [(2, "event_id")]


# -- repeats -------------------------------------------------------------------------------


def test_the_same_content_twice_is_refused_naming_the_first_batch(centre, database, tmp_path):
    rows = [{"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5}]
    first = centre.json("usage", "import", write_csv(tmp_path / "may.csv", rows))

    again = centre("usage", "import", tmp_path / "may.csv", expect=1)
    assert f"batch {first['batch']}" in again.stderr

    renamed = tmp_path / "may-copy.csv"
    shutil.copy(tmp_path / "may.csv", renamed)
    again = centre("usage", "import", renamed, expect=1)
    assert f"batch {first['batch']}" in again.stderr
    assert "may.csv" in again.stderr

    assert len(events(database)) == 1
    assert batches(database) == 1


def test_an_event_id_stored_with_the_same_content_is_skipped_and_counted(
    centre, database, tmp_path
):
    e1 = {"event_id": "E1", "client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5}
    e2 = {"event_id": "E2", "client": "LAN", "service": "PAY", "date": "2026-05-02", "quantity": 7}
    e3 = {"event_id": "E3", "client": "LAN", "service": "PAY", "date": "2026-05-03", "quantity": 9}
    centre("usage", "import", write_csv(tmp_path / "one.csv", [e1, e2]))

    report = centre.json("usage", "import", write_csv(tmp_path / "two.csv", [e1, e3]))
    assert report["skipped"] == 1
    assert report["inserted"] == 1
    text = centre("usage", "import", write_csv(tmp_path / "three.csv", [e2, e3, e1])).stdout
    assert "imported 0 of 3 rows" in text
    assert "3 already stored" in text
    assert [e["event_id"] for e in events(database)] == ["E1", "E2", "E3"]


def test_an_event_id_stored_with_different_content_is_a_bad_row(centre, database, tmp_path):
    e1 = {"event_id": "E1", "client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5}
    centre("usage", "import", write_csv(tmp_path / "one.csv", [e1]))

    changed = {**e1, "quantity": 6}
    new = {"event_id": "E9", "client": "LAN", "service": "PAY", "date": "2026-05-02"}
    document = centre.json(
        "usage", "import", write_csv(tmp_path / "two.csv", [new, changed]), expect=1
    )
    assert [(e["row"], e["column"]) for e in document["errors"]] == [(3, "event_id")]
    assert "E1" in document["errors"][0]["message"]
    stored = events(database)
    assert [(e["event_id"], e["quantity"]) for e in stored] == [("E1", Decimal(5))]
    assert batches(database) == 1


def test_an_event_id_repeated_inside_one_file(centre, database, tmp_path):
    row = {"event_id": "D1", "client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 5}
    other = {"event_id": "D2", "client": "LAN", "service": "PAY", "date": "2026-05-01"}

    clash = write_csv(tmp_path / "clash.csv", [row, other, {**row, "quantity": 50}])
    document = centre.json("usage", "import", clash, expect=1)
    assert [(e["row"], e["column"]) for e in document["errors"]] == [(4, "event_id")]
    assert events(database) == []

    # an identical repeat is stored once (and counted as skipped), never twice
    repeat = write_csv(tmp_path / "repeat.csv", [row, other, row])
    report = centre.json("usage", "import", repeat)
    assert (report["inserted"], report["skipped"]) == (2, 1)
    assert [e["event_id"] for e in events(database)] == ["D1", "D2"]


def test_text_is_stored_exactly_whatever_characters_it_holds(centre, database, tmp_path):
    """A backslash, tab or line break means something to COPY and to CSV: each must
    arrive as itself, on both databases."""
    odd = ["back\\slash \\N", "tab\there", "line\nbreak\r\nand more", "£ and ü", "\\N"]
    rows = [
        {
            "event_id": f"id {text}",
            "client": "WYR",
            "service": "PAY",
            "date": "2026-05-01",
            "reference": text,
        }
        for text in odd
    ]
    centre("usage", "import", write_csv(tmp_path / "odd.csv", rows))
    with database.transaction() as session:
        stored = session.execute(select(UsageEvent.event_id, UsageEvent.reference)).all()
    assert sorted(stored) == sorted((f"id {text}", text) for text in odd)


@pytest.mark.parametrize("chunk", [1, 2])
def test_repeats_and_clashes_are_found_across_the_writers_chunks(
    centre, database, tmp_path, monkeypatch, chunk
):
    """The ledger is written chunk by chunk (on PostgreSQL by a worker thread, while the
    next chunk is validated): a repeat in a later chunk, the very next one (remembered
    while it is written) or one further on (looked up), must still be seen, and never
    stored twice."""
    monkeypatch.setattr("importers.ledger.CHUNK", chunk)
    rows = [
        {"event_id": f"C{i}", "client": "WYR", "service": "PAY", "date": "2026-05-01"}
        for i in range(5)
    ]
    centre("usage", "import", write_csv(tmp_path / "first.csv", rows[:2]))
    # C4 twice in a row, C0 stored already, C2 again chunks later
    again = [*rows, rows[4], rows[0], rows[0], rows[2]]
    report = centre.json("usage", "import", write_csv(tmp_path / "again.csv", again))
    assert (report["rows"], report["inserted"], report["skipped"]) == (9, 3, 6)
    assert [e["event_id"] for e in events(database)] == [f"C{i}" for i in range(5)]
    new = {**rows[0], "event_id": "N1"}
    clash = [
        *rows,
        {**rows[4], "quantity": 2},  # row 7: C4 is stored with quantity 1
        {**rows[0], "event_id": "C9"},
        new,
        rows[1],
        {**new, "quantity": 4},  # row 11: N1 came two rows before, with quantity 1
    ]
    document = centre.json("usage", "import", write_csv(tmp_path / "clash.csv", clash), expect=1)
    assert [(e["row"], e["column"]) for e in document["errors"]] == [
        (7, "event_id"),
        (11, "event_id"),
    ]
    assert len(events(database)) == 5


# -- time zones ----------------------------------------------------------------------------


def test_usage_belongs_to_its_europe_london_month(centre, database, tmp_path):
    rows = [
        # 23:30 UTC on 30 April is 00:30 BST on 1 May
        {"event_id": "utc-offset", "date": "2026-04-30T23:30:00+00:00"},
        {"event_id": "zulu", "date": "2026-04-30T23:30:00Z"},
        # a naive datetime is London time: still 30 April
        {"event_id": "naive", "date": "2026-04-30T23:30:00"},
        # 23:30 UTC on 31 March 2026 (BST since 29 March) is 1 April in London: subscribed
        {"event_id": "spring", "date": "2026-03-31T23:30:00+00:00"},
        # 00:30 BST on 1 June is still 31 May in UTC
        {"event_id": "bst", "date": "2026-06-01T00:30:00+01:00"},
        # winter: GMT, so 23:30 UTC on 31 December stays in December
        {"event_id": "winter", "date": "2026-12-31T23:30:00+00:00"},
        # a date alone is a local date
        {"event_id": "day", "date": "2026-05-31"},
    ]
    rows = [{**r, "client": "WYR", "service": "PAY"} for r in rows]
    report = centre.json("usage", "import", write_csv(tmp_path / "tz.csv", rows))
    assert report["inserted"] == len(rows)

    stored = {e["event_id"]: e for e in events(database)}
    assert {k: e["month"] for k, e in stored.items()} == {
        "utc-offset": "2026-05",
        "zulu": "2026-05",
        "naive": "2026-04",
        "spring": "2026-04",
        "bst": "2026-06",
        "winter": "2026-12",
        "day": "2026-05",
    }
    assert str(stored["utc-offset"]["local_date"]) == "2026-05-01"
    assert str(stored["bst"]["local_date"]) == "2026-06-01"
    # stored in UTC
    assert stored["naive"]["at"] == datetime(2026, 4, 30, 22, 30, tzinfo=UTC)
    assert stored["bst"]["at"] == datetime(2026, 5, 31, 23, 30, tzinfo=UTC)


def test_a_moment_before_the_subscription_in_london_time_is_refused(centre, database, tmp_path):
    # 23:30 on 31 March in London (BST) is 22:30 UTC: before WYR's subscription starts
    rows = [{"client": "WYR", "service": "PAY", "date": "2026-03-31T22:30:00+00:00"}]
    document = centre.json("usage", "import", write_csv(tmp_path / "early.csv", rows), expect=1)
    assert [(e["row"], e["column"]) for e in document["errors"]] == [(2, "client")]
    assert events(database) == []


# -- revert --------------------------------------------------------------------------------


def test_revert_removes_the_usage_once_and_frees_the_file(centre, database, tmp_path):
    rows = [{"client": "WYR", "service": "PAY", "date": "2026-05-01", "quantity": 700}]
    path = write_csv(tmp_path / "may.csv", rows)
    batch = centre.json("usage", "import", path)["batch"]
    centre("billing", "close", "2026-05")
    assert pay_lines(show(centre, "TSS-202605-WYR"))[0]["amount"] == "2600.00"

    result = centre("usage", "revert", batch)
    assert "1" in result.stdout
    assert events(database) == []
    centre("billing", "close", "2026-05")
    (line,) = pay_lines(show(centre, "TSS-202605-WYR"))
    assert line["amount"] == "0.00"

    again = centre("usage", "revert", batch, expect=1)
    assert "already reverted" in again.stderr
    centre("usage", "revert", 999, expect=1)

    second = centre.json("usage", "import", path)
    assert second["inserted"] == 1
    assert second["batch"] != batch
    centre("billing", "close", "2026-05")
    assert pay_lines(show(centre, "TSS-202605-WYR"))[0]["amount"] == "2600.00"


def test_reverting_usage_of_an_issued_month_is_billed_back_as_prior_period(centre, tmp_path):
    rows = [{"client": "WYR", "service": "PAY", "date": "2026-04-10", "quantity": 100}]
    batch = centre.json("usage", "import", write_csv(tmp_path / "april.csv", rows))["batch"]
    centre("billing", "close", "2026-04")
    centre("billing", "issue", "2026-04")
    assert pay_lines(show(centre, "TSS-202604-WYR"))[0]["amount"] == "400.00"

    centre("usage", "revert", batch)
    centre("billing", "close", "2026-05")
    (prior,) = pay_lines(show(centre, "TSS-202605-WYR"), "prior_period")
    assert prior["amount"] == "-400.00"
    assert pay_lines(show(centre, "TSS-202604-WYR"))[0]["amount"] == "400.00"


# -- late usage ----------------------------------------------------------------------------


def test_usage_for_an_issued_month_is_billed_once_as_prior_period(centre, tmp_path):
    centre("billing", "close", "2026-04")
    centre("billing", "issue", "2026-04")
    april = show(centre, "TSS-202604-WYR")

    late = [{"client": "WYR", "service": "PAY", "date": "2026-04-15", "quantity": 100}]
    report = centre.json("usage", "import", write_csv(tmp_path / "late.csv", late))
    assert report["inserted"] == 1
    assert show(centre, "TSS-202604-WYR") == april

    centre("billing", "close", "2026-05")
    centre("billing", "close", "2026-05")
    may = show(centre, "TSS-202605-WYR")
    (prior,) = [x for x in may["lines"] if x["kind"] == "prior_period"]
    assert prior["service"] == "PAY"
    assert prior["amount"] == "400.00"  # 100 payslips at 4.00
    assert "TSS-202604-WYR" in (prior.get("corrects") or prior["description"])
    assert [x for x in show(centre, "TSS-202605-LAN")["lines"] if x["kind"] == "prior_period"] == []

    centre("billing", "issue", "2026-05")
    centre("billing", "close", "2026-06")
    june = show(centre, "TSS-202606-WYR")
    assert [x for x in june["lines"] if x["kind"] == "prior_period"] == []


# -- template ------------------------------------------------------------------------------


def test_usage_template_has_the_usage_columns_and_imports_once_filled(centre, database, tmp_path):
    out = tmp_path / "usage-template.xlsx"
    centre("usage", "template", out)
    book = load_workbook(out)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1] if c.value is not None]
    assert [str(h).strip().lower() for h in header] == USAGE_COLUMNS

    sheet.append(["T1", "WYR", "PAY", "2026-05-07", 3])
    book.save(out)
    assert centre.json("usage", "import", out)["inserted"] == 1
    assert [(e["event_id"], e["quantity"]) for e in events(database)] == [("T1", Decimal(3))]
