"""The finance staff's import pages: usage and setup imports checked then confirmed, history,
reverts, roles and CSRF (see opsplatform/entrypoints/web/finance.py; the uploads and their
jobs are importers/uploads.py, tested without pages in test_uploads.py)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

import importers.uploads
import importers.usage
from opsplatform.entrypoints.formats import date_text
from opsplatform.models import (
    AuditEvent,
    Client,
    CostLine,
    ImportBatch,
    Service,
    Tariff,
    UsageEvent,
)
from tests import crafted
from tests.conftest import Cli
from tests.pages import Page
from tests.support import FY, write_book

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GOOD_ROWS = [
    {
        "event_id": "MAY-WYR",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-10",
        "quantity": 50,
    },
    {"event_id": "MAY-LAN", "client": "LAN", "service": "PAY", "date": "2026-05-11", "quantity": 7},
    {
        "event_id": "APR-LATE",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-04-20",
        "quantity": 3,
    },
]
BAD_ROWS = [
    {"event_id": "B1", "client": "XXX", "service": "PAY", "date": "2026-05-10", "quantity": 1},
    {"event_id": "B2", "client": "WYR", "service": "PAY", "date": "2026-05-10", "quantity": -5},
    {"event_id": "B3", "client": "PRS", "service": "PAY", "date": "2026-05-10", "quantity": 1},
    {"event_id": "B4", "client": "WYR", "service": "PAY", "date": "2026-05-10", "quantity": 1},
    {"event_id": "B5", "client": "LAN", "service": "PAY", "date": "not a date", "quantity": 1},
]
FROZEN_TARIFF = {
    "Tariffs": [
        ["service", "financial_year", "rule", "bands"],
        ["PAY", FY, "graduated", "500@4.50; *@3.00"],
    ]
}


# -- helpers -------------------------------------------------------------------------------


def token_of(client) -> str:
    """The CSRF token of the client's session (every signed-in page has the sign-out form)."""
    page = Page(client.get("/").text)
    return next(f for f in page.forms if "csrf_token" in f["inputs"])["inputs"]["csrf_token"][
        "value"
    ]


def sign_in(app, person: dict):
    client = app.test_client()
    page = Page(client.get("/login").text)
    token = page.form("/login")["inputs"]["csrf_token"]["value"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.text
    return client


@pytest.fixture
def finance(app, people):
    return sign_in(app, people["finance"])


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def book_bytes(tmp_path: Path, sheets: dict[str, list[list]], name: str = "setup.xlsx") -> bytes:
    return write_book(tmp_path / name, sheets).read_bytes()


def upload(client, url: str, content: bytes, name: str, csrf: bool = True):
    data = {"file": (io.BytesIO(content), name)}
    if csrf:
        data["csrf_token"] = token_of(client)
    response = client.post(url, data=data, content_type="multipart/form-data")
    # the test client spools a body over 500 KB to a temporary file and leaves it open
    response.request.environ["wsgi.input"].close()
    return response


def download(client, url: str):
    """A download, read and closed: a file sent from disk stays open until its response closes."""
    with client.get(url) as response:
        response.get_data()
    return response


def checked(client, url: str, content: bytes, name: str):
    """Upload a file, follow to its check page; the page and the token in its address."""
    response = upload(client, url, content, name)
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    token = location.rstrip("/").rsplit("/", 1)[1]
    return client.get(location), token


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": token_of(client), **data})


def counts(app) -> dict:
    with app.extensions["opsplatform.db"].transaction() as session:
        return {
            "events": session.scalar(select(func.count()).select_from(UsageEvent)),
            "batches": session.scalar(select(func.count()).select_from(ImportBatch)),
            "clients": session.scalar(select(func.count()).select_from(Client)),
            "audit": session.scalar(select(func.count()).select_from(AuditEvent)),
        }


def uploads(app) -> list[Path]:
    root = Path(app.instance_path) / "uploads"
    return sorted(root.iterdir()) if root.is_dir() else []


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- usage: check, then import -------------------------------------------------------------


def test_upload_form_has_a_file_input_csrf_token_and_the_template_link(finance):
    response = finance.get("/imports/usage")
    assert response.status_code == 200
    page = Page(response.text)
    form = page.form("/imports/usage")
    assert form["method"] == "post"
    assert form["enctype"] == "multipart/form-data"
    assert form["inputs"]["file"]["type"] == "file"
    assert form["inputs"]["file"]["accept"] == ".csv,.xlsx"
    assert form["inputs"]["csrf_token"]["type"] == "hidden"
    assert "/imports/usage/template.xlsx" in page.links
    assert 'class="govuk-file-upload"' in response.text
    assert "<script" not in response.text and "style=" not in response.text


def test_blank_usage_template_downloads(finance):
    response = finance.get("/imports/usage/template.xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    header = [c.value for c in book.worksheets[0][1]]
    assert header[:4] == ["event_id", "client", "service", "date"]


def test_good_csv_is_checked_then_imported_on_confirmation(app, finance, people):
    before = counts(app)
    page, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "May usage.csv")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Check the usage before you import it" in text
    assert "May_usage.csv" in text  # the name made safe
    rows = Page(page.text).rows
    assert ["Rows in the file", "3"] in rows
    assert ["Rows to import", "3"] in rows
    assert ["Rows already stored (skipped)", "0"] in rows
    assert ["Total quantity to import", "60"] in rows
    assert ["April 2026", "1", "Issued"] in rows
    assert ["May 2026", "2", "Not issued yet"] in rows
    assert "prior-period line" in text
    assert "Nothing has been imported yet" in text
    # the check wrote nothing
    assert counts(app) == before
    assert [p.name for p in uploads(app)] == [token]
    assert (uploads(app)[0] / "May_usage.csv").is_file()

    form = Page(page.text).form(f"/imports/usage/{token}/commit")
    assert form["inputs"]["csrf_token"]["value"]
    assert "Import 3 rows" in page.text

    response = post(finance, f"/imports/usage/{token}/commit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/imports"
    after = counts(app)
    assert after["events"] == before["events"] + 3
    assert after["batches"] == before["batches"] + 1
    assert uploads(app) == []
    with app.extensions["opsplatform.db"].transaction() as session:
        batch = session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
        assert (batch.filename, batch.rows, batch.inserted, batch.status) == (
            "May_usage.csv",
            3,
            3,
            "imported",
        )
        stored = set(
            session.scalars(select(UsageEvent.event_id).where(UsageEvent.batch_id == batch.id))
        )
        assert stored == {"MAY-WYR", "MAY-LAN", "APR-LATE"}
        entry = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (entry.actor, entry.action, entry.subject) == (
            people["finance"]["email"],
            "usage import",
            "May_usage.csv",
        )
        assert json.loads(entry.detail)["batch"] == batch.id

    history = finance.get("/imports")
    assert history.status_code == 200
    assert "govuk-notification-banner--success" in history.text
    assert f"Batch {batch.id} imported: 3 of 3 rows from May_usage.csv" in history.text
    row = next(r for r in Page(history.text).rows if r and r[0] == str(batch.id))
    assert row[1] == "May_usage.csv"
    assert row[3:7] == ["3", "3", "0", "Imported"]
    # the banner is shown once
    assert "govuk-notification-banner--success" not in finance.get("/imports").text


def test_xlsx_usage_file_is_accepted(app, finance, tmp_path):
    sheet = [list(GOOD_ROWS[0])] + [list(r.values()) for r in GOOD_ROWS[:2]]
    content = book_bytes(tmp_path, {"Usage": sheet}, "usage.xlsx")
    page, token = checked(finance, "/imports/usage", content, "usage.xlsx")
    assert ["Rows to import", "2"] in Page(page.text).rows
    before = counts(app)["events"]
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 302
    assert counts(app)["events"] == before + 2


def test_rows_already_stored_are_counted_as_skipped(app, finance):
    first = [GOOD_ROWS[0]]
    _, token = checked(finance, "/imports/usage", csv_bytes(first), "one.csv")
    post(finance, f"/imports/usage/{token}/commit")
    both = [GOOD_ROWS[0], GOOD_ROWS[1]]
    page, token = checked(finance, "/imports/usage", csv_bytes(both), "two.csv")
    rows = Page(page.text).rows
    assert ["Rows to import", "1"] in rows
    skipped = next(r for r in rows if r[0] == "Rows already stored (skipped)")
    assert re.match(r"1\s*Their event_id is already in the ledger", skipped[1])
    assert "Import 1 row<" in page.text
    post(finance, f"/imports/usage/{token}/commit")
    assert "(1 already stored, skipped)" in finance.get("/imports").text


def test_a_file_whose_rows_are_all_stored_offers_nothing_to_import(finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "a.csv")
    post(finance, f"/imports/usage/{token}/commit")
    reordered = list(reversed(GOOD_ROWS))  # other content, same events
    page, token = checked(finance, "/imports/usage", csv_bytes(reordered), "b.csv")
    assert "there is nothing new to import" in page.text
    assert not [f for f in Page(page.text).forms if f.get("action", "").endswith("/commit")]


# -- usage: refusals ----------------------------------------------------------------------


def test_bad_csv_lists_every_bad_row_stores_nothing_and_offers_the_error_workbook(app, finance):
    before = counts(app)
    page, token = checked(finance, "/imports/usage", csv_bytes(BAD_ROWS), "bad.csv")
    assert page.status_code == 200
    assert page.text.count('class="govuk-error-summary"') == 1
    text = text_of(page.text)
    assert "Error: The usage file cannot be imported" in page.text
    assert "Nothing has been imported" in text
    assert "bad.csv has 4 problems: correct them and upload the file again" in text
    problems = [r for r in Page(page.text).rows if r and r[0].isdigit()]
    assert [(r[0], r[1]) for r in problems] == [
        ("2", "client"),
        ("3", "quantity"),
        ("4", "client"),
        ("6", "date"),
    ]
    assert "unknown client 'XXX'" in problems[0][2]
    assert "PRS is not subscribed to PAY" in problems[2][2]
    assert not [f for f in Page(page.text).forms if f.get("action", "").endswith("/commit")]
    assert counts(app) == before

    link = f"/imports/usage/{token}/errors.xlsx"
    assert link in Page(page.text).links
    response = download(finance, link)
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert "bad-problems.xlsx" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    listed = [row for row in ws.iter_rows(min_row=2, values_only=True)]
    assert [(r[1], r[2]) for r in listed] == [
        (2, "client"),
        (3, "quantity"),
        (4, "client"),
        (6, "date"),
    ]

    # a refused upload cannot be imported
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 404
    assert counts(app) == before


def test_content_already_imported_is_refused_at_the_check_naming_the_batch(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    post(finance, f"/imports/usage/{token}/commit")
    with app.extensions["opsplatform.db"].transaction() as session:
        batch = session.scalar(select(func.max(ImportBatch.id)))
    page, _ = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "again.csv")
    assert "The usage file cannot be imported" in page.text
    assert f"already imported as batch {batch}" in page.text


def test_a_refusal_when_importing_writes_nothing_and_shows_the_problems(app, finance):
    """The same file checked twice; the first import makes the second one a repeat."""
    _, first = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    _, second = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    assert post(finance, f"/imports/usage/{first}/commit").status_code == 302
    before = counts(app)
    response = post(finance, f"/imports/usage/{second}/commit")
    assert response.status_code == 303
    page = finance.get(response.headers["Location"])
    assert "The usage file cannot be imported" in page.text
    assert "already imported as batch" in page.text
    assert counts(app) == before
    assert post(finance, f"/imports/usage/{second}/commit").status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (None, b"", "Select a usage file"),
        ("usage.txt", b"client,service,date\n", "The selected file must be a CSV or XLSX"),
        ("usage.xls", b"not really", "The selected file must be a CSV or XLSX"),
        ("usage.csv", b"", "The selected file is empty"),
    ],
)
def test_upload_form_errors(app, finance, name, content, message):
    data = {"csrf_token": token_of(finance)}
    if name is not None:
        data["file"] = (io.BytesIO(content), name)
    response = finance.post("/imports/usage", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Error: Import usage" in response.text
    assert 'class="govuk-error-summary"' in response.text
    assert 'href="#file"' in response.text
    assert f"</span> {message}</p>" in response.text
    assert "govuk-file-upload--error" in response.text
    assert uploads(app) == []


def test_a_file_too_large_is_refused_with_the_form(app, finance):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    response = upload(finance, "/imports/usage", b"x" * 10_000, "usage.csv")
    assert response.status_code == 413
    assert "The selected file must be smaller than" in response.text
    assert uploads(app) == []


def test_a_file_name_is_made_safe(app, finance):
    page, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "../../etc/passwd.csv")
    assert "etc_passwd.csv" in page.text
    assert (Path(app.instance_path) / "uploads" / token / "etc_passwd.csv").is_file()


# -- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["unknown-token-that-is-32-chars-x", "short", "..", "%2e%2e%2f%2e%2e"]
)
def test_commit_with_an_unknown_token_is_404(app, finance, token):
    before = counts(app)
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 404
    assert post(finance, f"/imports/setup/{token}/commit").status_code == 404
    assert finance.get(f"/imports/usage/{token}").status_code == 404
    assert finance.get(f"/imports/usage/{token}/errors.xlsx").status_code == 404
    assert counts(app) == before


def test_a_used_token_is_404(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 302
    before = counts(app)
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 404
    assert finance.get(f"/imports/usage/{token}").status_code == 404
    assert counts(app) == before


def test_a_token_belongs_to_the_person_and_the_kind_of_upload(app, finance, people):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    admin = sign_in(app, people["admin"])
    before = counts(app)
    assert post(admin, f"/imports/usage/{token}/commit").status_code == 404
    assert admin.get(f"/imports/usage/{token}").status_code == 404
    assert post(finance, f"/imports/setup/{token}/commit").status_code == 404
    assert counts(app) == before
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 302


def test_an_import_already_under_way_is_not_started_twice(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    (Path(app.instance_path) / "uploads" / token / ".commit.lock").touch()
    before = counts(app)
    response = post(finance, f"/imports/usage/{token}/commit")
    assert response.status_code == 409
    assert "already being imported" in response.text
    assert counts(app) == before


# -- imports as background jobs -----------------------------------------------------------


@pytest.fixture
def held(app, monkeypatch):
    """Usage checks and imports that report 2 rows done, then wait until released."""
    release, reported = threading.Event(), threading.Event()
    real = importers.usage._read_and_import  # a check's, and an import's before its audit entry

    def slow(session, path, dry_run, progress):
        progress(2)
        reported.set()
        assert release.wait(30)
        return real(session, path, dry_run, progress)

    monkeypatch.setattr(importers.usage, "_read_and_import", slow)
    app.config["IMPORT_WAIT_SECONDS"] = 0
    yield release, reported
    release.set()


def settle(app, token: str) -> dict:
    """The upload's state once its job is no longer under way."""
    meta = uploads(app)[0] / ".meta.json"
    for _ in range(300):
        state = json.loads(meta.read_text())
        if state["state"] not in ("checking", "importing"):
            return state
        time.sleep(0.05)
    raise AssertionError(f"upload {token} still under way")


def test_a_long_check_shows_its_progress_which_survives_a_reload(app, finance, people, held):
    release, reported = held
    response = upload(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "big.csv")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert reported.wait(10)
    page = finance.get(location)
    assert page.status_code == 200
    assert page.headers["Refresh"] == "5"
    assert "Checking the usage file" in page.text
    progress = re.search(r'<progress id="progress"[^>]*max="(\d+)" value="(\d+)"', page.text)
    assert progress.groups() == ("3", "2")  # 2 of about 3 rows
    assert "2 of about 3 rows checked" in text_of(page.text)
    # the same progress from a new session (another worker, a reload): it is kept on disk
    again = sign_in(app, people["finance"]).get(location)
    assert "2 of about 3 rows checked" in text_of(again.text)
    # the officer may stop the page updating itself
    quiet = finance.get(location + "?updates=off")
    assert "Refresh" not in quiet.headers
    assert "Check progress" in quiet.text

    release.set()
    settle(app, location.rsplit("/", 1)[1])
    page = finance.get(location)
    assert "Refresh" not in page.headers
    assert "Check the usage before you import it" in page.text


def test_a_long_import_shows_progress_then_the_history_announces_it(app, finance, held):
    release, reported = held
    release.set()  # the check runs straight through
    response = upload(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "big.csv")
    token = response.headers["Location"].rsplit("/", 1)[1]
    assert settle(app, token)["state"] == "checked"
    release.clear()
    reported.clear()
    before = counts(app)

    response = post(finance, f"/imports/usage/{token}/commit")
    assert response.status_code == 303
    assert reported.wait(10)
    page = finance.get(response.headers["Location"])
    assert "Importing the usage file" in page.text
    assert "nothing of it is stored" in page.text
    assert counts(app) == before
    # confirming again while it runs does not start a second import
    assert post(finance, f"/imports/usage/{token}/commit").status_code in (404, 409)

    release.set()
    settle(app, token)
    page = finance.get(response.headers["Location"])
    assert page.status_code == 302
    assert page.headers["Location"] == "/imports"
    history = finance.get("/imports")
    assert "imported: 3 of 3 rows from big.csv" in history.text
    assert counts(app)["events"] == before["events"] + 3
    assert uploads(app) == []


def test_an_import_whose_process_died_can_be_made_again(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    folder = uploads(app)[0]
    meta = json.loads((folder / ".meta.json").read_text())
    # as a worker killed mid-import leaves it: under way, locked, silent for ten minutes
    meta.update(state="importing", started=True, done=5000, heartbeat=time.time() - 600)
    (folder / ".meta.json").write_text(json.dumps(meta))
    (folder / ".commit.lock").touch()
    before = counts(app)

    page = finance.get(f"/imports/usage/{token}")
    assert "The import did not finish, so nothing was imported" in page.text
    assert "Import 3 rows" in page.text
    assert counts(app) == before
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 302
    assert counts(app)["events"] == before["events"] + 3


def test_an_import_that_fails_unexpectedly_writes_nothing_and_says_so(app, finance, monkeypatch):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    before = counts(app)

    def broken(session, path, dry_run=False, progress=None):
        session.add(ImportBatch(kind="usage", filename="x.csv", sha256="0" * 64))
        session.flush()
        raise OSError("disk full")

    monkeypatch.setattr(importers.uploads, "import_file", broken)
    response = post(finance, f"/imports/usage/{token}/commit")
    page = finance.get(response.headers["Location"])
    assert "The import did not finish, so nothing was imported" in page.text
    assert counts(app) == before


# -- CSRF ---------------------------------------------------------------------------------


def test_upload_without_csrf_token_is_400_and_saves_nothing(app, finance):
    response = upload(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv", csrf=False)
    assert response.status_code == 400
    assert uploads(app) == []
    response = upload(finance, "/imports/setup", b"PK", "setup.xlsx", csrf=False)
    assert response.status_code == 400
    assert uploads(app) == []


def test_commit_without_csrf_token_is_400_and_imports_nothing(app, finance, tmp_path):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    before = counts(app)
    assert finance.post(f"/imports/usage/{token}/commit").status_code == 400
    forged = {"csrf_token": "forged"}
    assert finance.post(f"/imports/usage/{token}/commit", data=forged).status_code == 400
    assert counts(app) == before
    setup = book_bytes(tmp_path, {"Clients": [["code", "name"], ["BLA", "Blackpool Council"]]})
    _, setup_token = checked(finance, "/imports/setup", setup, "setup.xlsx")
    assert finance.post(f"/imports/setup/{setup_token}/commit").status_code == 400
    assert counts(app) == before
    # the upload is still there to be imported properly
    assert post(finance, f"/imports/usage/{token}/commit").status_code == 302


def test_revert_without_csrf_token_is_400_and_reverts_nothing(app, finance):
    before = counts(app)
    assert finance.post("/imports/1/revert").status_code == 400
    assert counts(app) == before
    with app.extensions["opsplatform.db"].transaction() as session:
        assert session.get(ImportBatch, 1).status == "imported"


# -- roles --------------------------------------------------------------------------------

WRITE_PAGES = [
    ("get", "/imports/usage"),
    ("get", "/imports/setup"),
    ("get", "/imports/usage/template.xlsx"),
    ("get", "/imports/setup/template.xlsx"),
    ("get", "/imports/1/revert"),
    ("post", "/imports/usage"),
    ("post", "/imports/setup"),
    ("post", "/imports/usage/unknown-token-that-is-32-chars-x/commit"),
    ("post", "/imports/setup/unknown-token-that-is-32-chars-x/commit"),
    ("post", "/imports/1/revert"),
]


@pytest.mark.parametrize("role", ["manager", "auditor"])
def test_managers_and_auditors_see_the_history_but_change_nothing(app, people, role):
    client = sign_in(app, people[role])
    history = client.get("/imports")
    assert history.status_code == 200
    assert "usage.csv" in history.text
    links = Page(history.text).links
    assert not [link for link in links if link.endswith("/revert")]
    assert "/imports/usage" not in links and "/imports/setup" not in links
    before = counts(app)
    for method, url in WRITE_PAGES:
        if method == "get":
            response = client.get(url)
        else:
            response = post(client, url, file=(io.BytesIO(csv_bytes(GOOD_ROWS)), "u.csv"))
        assert response.status_code == 403, (method, url)
    assert counts(app) == before
    assert uploads(app) == []


@pytest.mark.parametrize("role", ["wyr", "lan"])
def test_client_users_find_no_finance_pages(app, people, role):
    client = sign_in(app, people[role])
    before = counts(app)
    assert client.get("/imports").status_code == 404
    for method, url in WRITE_PAGES:
        if method == "get":
            response = client.get(url)
        else:
            response = post(client, url, file=(io.BytesIO(csv_bytes(GOOD_ROWS)), "u.csv"))
        assert response.status_code == 404, (method, url)
    assert counts(app) == before
    assert uploads(app) == []


def test_signed_out_people_are_sent_to_sign_in(client):
    for url in ("/imports", "/imports/usage", "/imports/setup", "/imports/1/revert"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_admin_and_finance_may_import_and_revert(app, people, role):
    client = sign_in(app, people[role])
    history = client.get("/imports")
    assert "/imports/usage" in Page(history.text).links
    assert "/imports/1/revert" in Page(history.text).links
    _, token = checked(client, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    assert post(client, f"/imports/usage/{token}/commit").status_code == 302
    assert client.get("/imports/1/revert").status_code == 200


# -- the history --------------------------------------------------------------------------


def test_history_is_newest_first_with_london_times_and_status_tags(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage-may.csv")
    post(finance, f"/imports/usage/{token}/commit")
    with app.extensions["opsplatform.db"].transaction() as session:
        # ids come from a sequence, which on PostgreSQL a rolled-back dry run also moves on
        older, newer = session.scalars(select(ImportBatch.id).order_by(ImportBatch.id)).all()
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == older)
            .values(created_at=datetime(2026, 1, 15, 11, 30, tzinfo=UTC))
        )
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == newer)
            .values(created_at=datetime(2026, 7, 1, 11, 30, tzinfo=UTC))
        )
    page = finance.get("/imports")
    html = page.text
    assert (
        '<caption class="govuk-table__caption govuk-table__caption--m" id="imports-caption">Usage import history'
        in html
    )
    assert '<th scope="col" class="govuk-table__header">Batch</th>' in html
    rows = [r for r in Page(html).rows if r and r[0].isdigit()]
    assert [r[0] for r in rows] == [str(newer), str(older)]
    assert rows[0][2] == "1 Jul 2026 12:30"  # British Summer Time
    assert rows[1][2] == "15 Jan 2026 11:30"  # Greenwich Mean Time
    assert 'class="govuk-tag govuk-tag--green">Imported' in html


def test_history_pages(app, finance):
    with app.extensions["opsplatform.db"].transaction() as session:
        session.add_all(
            ImportBatch(filename=f"f{n}.csv", sha256=f"{n:064d}", rows=1, inserted=1)
            for n in range(60)
        )
    first = finance.get("/imports")
    assert 'class="govuk-pagination"' in first.text
    assert "/imports?page=2" in Page(first.text).links
    second = finance.get("/imports?page=2")
    assert second.status_code == 200
    assert "/imports?page=1" in Page(second.text).links
    assert finance.get("/imports?page=9").status_code == 404


# -- reverting ----------------------------------------------------------------------------


def test_revert_asks_first_then_removes_the_batch_usage(app, finance, people):
    page = finance.get("/imports/1/revert")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Are you sure you want to revert batch 1?" in text
    rows = Page(page.text).rows
    assert ["File or source", "usage.csv"] in rows
    assert ["Usage to be removed", "2 rows"] in rows
    assert "April 2026: 2 rows (statements issued)" in text
    assert "prior-period line" in text
    form = Page(page.text).form("/imports/1/revert")
    assert form["inputs"]["csrf_token"]["value"]
    # looking is not reverting
    assert counts(app)["events"] == 2

    response = post(finance, "/imports/1/revert")
    assert response.status_code == 302
    assert response.headers["Location"] == "/imports"
    with app.extensions["opsplatform.db"].transaction() as session:
        assert session.scalar(select(func.count()).where(UsageEvent.batch_id == 1)) == 0
        batch = session.get(ImportBatch, 1)
        assert batch.status == "reverted"
        entry = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (entry.actor, entry.action, entry.subject) == (
            people["finance"]["email"],
            "usage revert",
            "batch 1",
        )
    history = finance.get("/imports")
    assert "Batch 1 reverted: 2 usage events from usage.csv removed" in history.text
    assert 'class="govuk-tag govuk-tag--grey">Reverted' in history.text
    assert "/imports/1/revert" not in Page(history.text).links

    again = post(finance, "/imports/1/revert")
    assert again.status_code == 409
    assert "Batch 1 has already been reverted" in again.text
    assert finance.get("/imports/1/revert").status_code == 409


def test_revert_of_an_unknown_batch_is_404(finance):
    assert finance.get("/imports/999/revert").status_code == 404
    assert post(finance, "/imports/999/revert").status_code == 404


def test_a_reverted_file_can_be_imported_again(app, finance):
    _, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    post(finance, f"/imports/usage/{token}/commit")
    with app.extensions["opsplatform.db"].transaction() as session:
        batch = session.scalar(select(func.max(ImportBatch.id)))
    post(finance, f"/imports/{batch}/revert")
    page, token = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "usage.csv")
    assert ["Rows to import", "3"] in Page(page.text).rows


# -- the setup workbook -------------------------------------------------------------------


def test_setup_workbook_is_checked_then_loaded_on_confirmation(app, finance, people, tmp_path):
    book = {
        "Clients": [["code", "name"], ["WYR", "Wyre Council"], ["BLA", "Blackpool Council"]],
        "Services": [["code", "name", "unit"], ["PAY", "Payroll and pensions", "payslip"]],
    }
    form = Page(finance.get("/imports/setup").text).form("/imports/setup")
    assert form["inputs"]["file"]["accept"] == ".xlsx"
    before = counts(app)
    page, token = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "setup.xlsx")
    assert page.status_code == 200
    assert "Check the setup workbook before you load it" in page.text
    rows = Page(page.text).rows
    assert ["Clients", "1", "0", "1"] in rows
    assert ["Services", "0", "1", "0"] in rows
    assert "re-rate" not in page.text
    assert counts(app) == before

    response = post(finance, f"/imports/setup/{token}/commit")
    assert response.status_code == 302
    assert response.headers["Location"] == "/imports"
    with app.extensions["opsplatform.db"].transaction() as session:
        assert session.scalars(select(Client.name).where(Client.code == "BLA")).one() == (
            "Blackpool Council"
        )
        assert session.scalars(select(Service.name).where(Service.code == "PAY")).one() == (
            "Payroll and pensions"
        )
        entry = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (entry.actor, entry.action, entry.subject) == (
            people["finance"]["email"],
            "setup load",
            "setup.xlsx",
        )
    assert uploads(app) == []
    history = finance.get("/imports")
    assert "Setup workbook setup.xlsx loaded: 1 new, 1 changed, 1 unchanged" in history.text
    assert post(finance, f"/imports/setup/{token}/commit").status_code == 404


def test_a_leavers_check_shows_what_every_remaining_partner_will_pay(app, finance, tmp_path):
    book = {
        "Subscriptions": [
            ["client", "service", "start", "end"],
            ["PRS", "HOST", date(2026, 4, 1), date(2026, 9, 30)],
            ["PRS", "ICT", date(2026, 4, 1), date(2026, 9, 30)],
        ]
    }
    page, _ = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "leaver.xlsx")
    assert "What it changes in each client's charges for 2026-27" in page.text
    rows = Page(page.text).rows
    # the ICT pool of 120,000 a year: from October two ways instead of three
    assert ["WYR", "ICT", "£39,999.96", "£49,999.98", "+£10,000.02"] in rows
    assert ["LAN", "ICT", "£40,000.08", "£50,000.04", "+£9,999.96"] in rows
    assert ["PRS", "HOST", "£36,000.00", "£18,000.00", "-£18,000.00"] in rows


def test_setup_workbook_problems_are_listed_with_their_sheet(app, finance, tmp_path):
    book = {
        "Clients": [["code", "name"], ["x", "Bad code"], ["BLA", None]],
        "Subscriptions": [["client", "service", "start"], ["NOPE", "PAY", "2026-04-01"]],
    }
    before = counts(app)
    page, token = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "setup.xlsx")
    assert "The setup workbook cannot be loaded" in page.text
    assert 'class="govuk-error-summary"' in page.text
    problems = [r for r in Page(page.text).rows if r and r[0] in ("Clients", "Subscriptions")]
    assert [(r[0], r[1], r[2]) for r in problems] == [
        ("Clients", "2", "code"),
        ("Clients", "3", "name"),
        ("Subscriptions", "2", "client"),
    ]
    assert "rerate" not in page.text
    assert counts(app) == before
    response = download(finance, f"/imports/setup/{token}/errors.xlsx")
    assert response.status_code == 200
    ws = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in ws[1]] == ["sheet", "row", "column", "problem"]
    assert ws.max_row == 4
    assert post(finance, f"/imports/setup/{token}/commit").status_code == 404


def test_setup_checks_report_their_progress(app, finance, tmp_path):
    rows = [[f"C{n:03d}", f"Council {n}"] for n in range(250)]
    book = {"Clients": [["code", "name"], *rows]}
    page, _ = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "setup.xlsx")
    assert page.status_code == 200
    meta = json.loads((uploads(app)[0] / ".meta.json").read_text())
    assert meta["state"] == "checked"
    assert (meta["about"], meta["done"]) == (250, 200)  # reported every 100 rows


@pytest.mark.parametrize(
    ("url", "name", "sheets", "message"),
    [
        (
            "/imports/usage",
            "usage.xlsx",
            {"Usage": crafted.sheet([(crafted.USAGE_HEADER, 1), (crafted.varied("WYR"), 1100)])},
            "sheet Usage has more than 1,048,576 rows",
        ),
        (
            "/imports/setup",
            "setup.xlsx",
            {
                "Clients": crafted.sheet(
                    [(crafted.cells("code", "name", row=1), 1), (crafted.varied("A council"), 100)]
                )
            },
            "sheet Clients has more than 20,001 rows",
        ),
    ],
)
def test_an_upload_expanding_beyond_the_limits_is_refused_with_a_message(
    app, finance, tmp_path, url, name, sheets, message
):
    content = crafted.workbook(tmp_path / name, sheets).read_bytes()
    before = counts(app)
    page, _ = checked(finance, url, content, name)
    assert f"{name}: {message}" in text_of(page.text)
    assert json.loads((uploads(app)[0] / ".meta.json").read_text())["state"] == "refused"
    assert counts(app) == before


def test_a_file_of_thousands_of_bad_rows_lists_the_first_thousand_problems(app, finance):
    rows = [{"client": "XXX", "service": "PAY", "date": "2026-05-10"}] * 2500
    page, token = checked(finance, "/imports/usage", csv_bytes(rows), "bad.csv")
    text = text_of(page.text)
    assert "bad.csv has 2,500 problems" in text
    assert "The first 1,000 of 2,500 problems are listed here" in text
    assert len([r for r in Page(page.text).rows if r and r[0].isdigit()]) == 1000
    ws = load_workbook(
        io.BytesIO(download(finance, f"/imports/usage/{token}/errors.xlsx").data)
    ).active
    assert ws.max_row == 1 + 1000 + 1
    assert ws.cell(ws.max_row, 4).value == (
        "1,500 more problems are not listed: these are the first 1,000 of 2,500"
    )


def test_setup_only_takes_xlsx(app, finance):
    response = upload(finance, "/imports/setup", b"code,name\n", "setup.csv")
    assert response.status_code == 400
    assert "The selected file must be an XLSX workbook" in response.text
    assert uploads(app) == []


def test_a_file_that_is_not_a_workbook_is_refused_clearly(finance):
    page, _ = checked(finance, "/imports/setup", b"this is not a workbook", "setup.xlsx")
    assert "cannot open it as an .xlsx workbook" in page.text
    assert "Sheet None" not in page.text


def test_frozen_tariffs_are_refused_and_re_rating_is_offered(app, finance, tmp_path):
    before = counts(app)
    content = book_bytes(tmp_path, FROZEN_TARIFF)
    page, token = checked(finance, "/imports/setup", content, "tariffs.xlsx")
    assert "The setup workbook changes frozen tariffs" in page.text
    assert "2026-04 are issued" in page.text
    assert "--rerate" not in page.text  # the page offers its own choice, by the problem's code
    assert "re-rate the issued months to change them and bill the difference" in page.text
    form = Page(page.text).form(f"/imports/setup/{token}/check")
    assert form["inputs"]["rerate"]["type"] == "checkbox"
    assert form["inputs"]["csrf_token"]["value"]
    assert counts(app) == before

    # the box must be ticked
    response = post(finance, f"/imports/setup/{token}/check")
    assert response.status_code == 400
    assert "Select re-rate issued months, or upload a corrected workbook" in response.text
    assert "govuk-form-group--error" in response.text

    response = post(finance, f"/imports/setup/{token}/check", rerate="yes")
    assert response.status_code == 303
    page = finance.get(response.headers["Location"])
    assert "Check the setup workbook before you load it" in page.text
    assert "You chose to re-rate issued months" in page.text
    assert ["Tariffs", "0", "1", "0"] in Page(page.text).rows
    assert counts(app) == before

    assert post(finance, f"/imports/setup/{token}/commit").status_code == 302
    with app.extensions["opsplatform.db"].transaction() as session:
        tariff = session.scalars(
            select(Tariff).join(Service).where(Service.code == "PAY", Tariff.financial_year == FY)
        ).one()
        assert tariff.bands.startswith("500@4.5")
        assert tariff.version == 2
        entry = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert entry.action == "setup load"
        assert json.loads(entry.detail)["rerate"] is True
    assert "(issued months re-rated)" in finance.get("/imports").text


def test_re_rating_is_not_offered_when_other_problems_remain(app, finance, tmp_path):
    book = {**FROZEN_TARIFF, "Clients": [["code", "name"], ["x", "Bad code"]]}
    page, token = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "setup.xlsx")
    assert "The setup workbook cannot be loaded" in page.text
    assert 'name="rerate"' not in page.text
    assert "you will be able to choose to re-rate" in page.text
    assert post(finance, f"/imports/setup/{token}/check", rerate="yes").status_code == 404


def test_an_unchanged_tariff_of_an_issued_year_is_not_frozen(app, finance, tmp_path):
    book = {
        "Tariffs": [
            ["service", "financial_year", "rule", "bands"],
            ["PAY", FY, "graduated", "500@4.00; *@3.00"],
        ]
    }
    page, _ = checked(finance, "/imports/setup", book_bytes(tmp_path, book), "setup.xlsx")
    assert ["Tariffs", "0", "0", "1"] in Page(page.text).rows


def test_blank_setup_workbook_downloads(finance):
    response = finance.get("/imports/setup/template.xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    names = load_workbook(io.BytesIO(response.data)).sheetnames
    assert "Tariffs" in names


# -- markup -------------------------------------------------------------------------------


def test_pages_use_no_inline_script_or_style(app, finance, tmp_path):
    _, good = checked(finance, "/imports/usage", csv_bytes(GOOD_ROWS), "good.csv")
    _, bad = checked(finance, "/imports/usage", csv_bytes(BAD_ROWS), "bad.csv")
    _, frozen = checked(finance, "/imports/setup", book_bytes(tmp_path, FROZEN_TARIFF), "t.xlsx")
    for url in (
        "/imports",
        "/imports/usage",
        "/imports/setup",
        f"/imports/usage/{good}",
        f"/imports/usage/{bad}",
        f"/imports/setup/{frozen}",
        "/imports/1/revert",
    ):
        html = finance.get(url).text
        assert "<script" not in html, url
        assert "style=" not in html and "<style" not in html, url
        assert "<caption" in html or "<table" not in html, url
        assert re.search(r"<th(?=[\s>])(?![^>]*scope=)", html) is None, url
        assert '<h1 class="govuk-heading-l">' in html, url


# -- the statement page: a VAT invoice, and every line's ledger codes ------------------------


def line_row(page: Page, description: str) -> list[str]:
    return next(row for row in page.rows if len(row) > 1 and row[1].startswith(description))


def test_a_statement_that_charges_vat_is_a_vat_invoice_with_what_one_must_show(coded):
    finance = sign_in(coded.app, coded.people["finance"])
    draft = Page(finance.get("/statements/PX-202606-BFC").text)
    assert "VAT invoice PX-202606-BFC" in draft.text
    assert draft.value("Supplier") == "Fylde Coast Shared Services Civic Centre, Poulton FY6 7PU"
    assert draft.value("Supplier's VAT number") == "GB987654321"
    assert draft.value("Customer") == "Blackpool and The Fylde College Ashfield Road, Bispham"
    assert draft.value("Customer's VAT number") == "GB123456789"
    assert draft.value("Date of issue") == "Not yet issued"
    assert draft.value("Tax point (time of supply)") == "The date of issue, once issued"

    coded.cli("billing", "issue", "2026-06")
    shown = coded.cli.json("billing", "show", "PX-202606-BFC")
    issued_on = date_text(date.fromisoformat(shown["issued_on"]))
    page = Page(finance.get("/statements/PX-202606-BFC").text)
    assert page.value("Date of issue") == issued_on
    assert page.value("Tax point (time of supply)") == f"{issued_on}, the date of issue"
    # each line: its quantity, net, VAT and rate; then VAT by rate under the totals
    mail = line_row(page, "Post room, June 2026")
    assert "Quantity: 100 items" in mail[1]
    assert mail[3:5] == ["£75.00", "£15.00 20% (S)"]
    assert ["S: Standard or reduced rate", "20%", "£75.00", "£15.00"] in page.rows
    assert page.value("Total") == "£90.00"


def test_a_statement_without_vat_stays_a_statement(coded):
    coded.cli("billing", "issue", "2026-06")
    finance = sign_in(coded.app, coded.people["finance"])
    page = Page(finance.get("/statements/PX-202606-WYR").text)
    assert "Statement PX-202606-WYR" in page.text and "VAT invoice" not in page.text
    assert "Supplier's VAT number" not in page.text and "Tax point" not in page.text
    assert page.value("Date of issue") != "Not yet issued"
    assert line_row(page, "Post room, June 2026")[4] == "£0.00 No VAT (O)"
    assert ["O: Outside the scope of VAT", "No VAT", "£300.00", "£0.00"] in page.rows


def test_every_line_shows_both_sides_codes_and_the_purchase_order(coded):
    staff = sign_in(coded.app, coded.people["finance"])
    wyre = line_row(Page(staff.get("/statements/PX-202606-WYR").text), "Post room")
    assert wyre[5] == (
        "Centre cost centre and subjective: R410 / 9400 "
        "Client cost centre and subjective: F220 / 4410 "
        "PO (purchase order): PO-77"
    )
    college = line_row(Page(staff.get("/statements/PX-202606-BFC").text), "Post room")
    assert college[5] == (  # its own codes, and no purchase order
        "Centre cost centre and subjective: R410 / 9400 "
        "Client cost centre and subjective: B100 / 7200"
    )


def test_lines_coded_with_nothing_say_so(finance):
    small = Page(finance.get("/statements/TSS-202605-WYR").text)
    assert "VAT invoice" not in small.text
    assert line_row(small, "Payroll, May 2026")[5] == "None"


def test_the_statement_page_wraps_its_lines_table_and_scopes_its_headers(coded):
    finance = sign_in(coded.app, coded.people["finance"])
    for number in ("PX-202606-BFC", "PX-202606-WYR"):
        html = finance.get(f"/statements/{number}").text
        assert 'class="app-table-wrap" role="region" aria-labelledby="lines" tabindex="0"' in html
        assert re.search(r"<th(?=[\s>])(?![^>]*scope=)", html) is None, number
        assert "<script" not in html and "style=" not in html, number
        headings = re.findall(r'<h([1-6]) class="govuk-heading', html)
        assert headings[0] == "1" and set(headings[1:]) == {"2"}, headings


# -- the cost ledger: check, then import ----------------------------------------------------


def cost_rows(month: str, amount: str, cost_centre: str = "CC100") -> list[dict]:
    return [
        {"cost_centre": cost_centre, "subjective": "E1000", "month": month, "kind": "actual",
         "amount": amount},
        {"cost_centre": cost_centre, "subjective": "E1000", "month": month, "kind": "budget",
         "amount": "900.00"},
    ]  # fmt: skip


def test_a_cost_ledger_is_checked_then_imported_and_a_month_again_replaces_it(
    app, finance, people, tmp_path
):
    book = {"CostCentres": [["cost_centre", "service"], ["CC100", "PAY"]]}
    Cli()("setup", "load", write_book(tmp_path / "centres.xlsx", book))
    page, token = checked(
        finance, "/imports/costs", csv_bytes(cost_rows("2026-04", "1000.50")), "ledger.csv"
    )
    text = text_of(page.text)
    assert "Check the cost ledger before you import it" in text
    rows = Page(page.text).rows
    assert ["Lines to import", "2"] in rows and ["Stored lines they replace", "0"] in rows
    assert ["Actual", "April 2026 (1 month)", "£1,000.50"] in rows
    assert "Import 2 lines" in page.text
    response = post(finance, f"/imports/costs/{token}/commit")
    assert response.status_code == 302 and response.headers["Location"] == "/imports"
    assert "Cost ledger imported: 2 lines from ledger.csv" in finance.get("/imports").text

    again, token = checked(
        finance, "/imports/costs", csv_bytes(cost_rows("2026-04", "1200.00")), "ledger.csv"
    )
    replaced = dict(r for r in Page(again.text).rows if len(r) == 2)["Stored lines they replace"]
    assert replaced.startswith("2The lines already stored")
    post(finance, f"/imports/costs/{token}/commit")
    with app.extensions["opsplatform.db"].transaction() as session:
        stored = session.scalars(select(CostLine.amount).where(CostLine.kind == "actual")).all()
        assert stored == [Decimal("1200.00")]  # replaced, never counted twice
        entry = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (entry.actor, entry.action) == (people["finance"]["email"], "costs import")


def test_a_bad_cost_ledger_is_refused_naming_every_row_and_nothing_is_written(app, finance):
    rows = cost_rows("2026-04", "12.345", cost_centre="CC999")
    page, token = checked(finance, "/imports/costs", csv_bytes(rows), "ledger.csv")
    text = html.unescape(text_of(page.text))
    assert "The cost ledger file cannot be imported" in text
    assert "cost centre 'CC999' is not on the CostCentres sheet" in text
    assert "'12.345' has more than 2 decimal places" in text
    assert download(finance, f"/imports/costs/{token}/errors.xlsx").status_code == 200
    with app.extensions["opsplatform.db"].transaction() as session:
        assert session.scalar(select(func.count()).select_from(CostLine)) == 0
