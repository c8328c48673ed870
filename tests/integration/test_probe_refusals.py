"""What a security probe found answered with errors or quietly accepted, now refused
clearly or made harmless: far-off periods, year-9999 dates, loose API quantities,
replays that wrote empty batches, and statements whose existence could be timed.

The centre is tests/integration/conftest.py's (April 2026 issued, May drafted; WYR and LAN).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from opsplatform.entrypoints.access import statement_for
from opsplatform.models import AuditEvent, ImportBatch, User
from tests.integration.test_portal_pages import sign_in
from tests.support import write_csv

FAR_QUARTERS = ["0001-02-Q1", "1899-00-Q4", "2099-00-Q1", "9998-99-Q4"]


def bearer(people, who: str = "finance") -> dict:
    return {"Authorization": f"Bearer {people[who]['token']}"}


def usage(**extra) -> dict:
    return {
        "event_id": "P-1",
        "client": "WYR",
        "service": "PAY",
        "date": "2026-05-20",
        "quantity": 3,
        **extra,
    }


def count(app, model, *where) -> int:
    with app.extensions["opsplatform.db"].transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


# -- periods far in the past or the future ----------------------------------------------------


@pytest.mark.parametrize("quarter", FAR_QUARTERS)
def test_far_off_quarters_are_refused_on_every_page(app, people, quarter):
    manager = sign_in(app, people["manager"])
    page = manager.get(f"/performance?quarter={quarter}")
    assert page.status_code == 400
    assert f"quarter {quarter} is out of range" in page.text
    assert manager.get(f"/performance/{quarter}.xlsx").status_code == 404
    commentary = manager.get(f"/performance/{quarter}/commentary")
    assert commentary.status_code == 400 and "out of range" in commentary.text
    api = app.test_client().get(f"/api/v1/kpi-results?quarter={quarter}", headers=bearer(people))
    assert api.status_code == 400


@pytest.mark.parametrize("quarter", [*FAR_QUARTERS[:1], "2000-01-Q1", "2098-99-Q4"])
def test_the_publication_of_the_first_and_last_quarters_is_written(app, people, quarter):
    """The edges of the range still have a quarter before and a year before to compare."""
    response = sign_in(app, people["manager"]).get(f"/performance/{quarter}.xlsx")
    assert response.status_code == (404 if quarter in FAR_QUARTERS else 200)


def test_far_off_quarters_are_refused_by_the_command_line(installed_cli, tmp_path):
    for command in (
        ["sla", "publish", "0001-02-Q1", "-o", tmp_path / "p.xlsx"],
        ["sla", "assess", "9998-99-Q4"],
    ):
        result = installed_cli(*command, expect=2)
        assert "is out of range: use one from 2000-01-Q1 to 2098-99-Q4" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "p.xlsx").exists()


@pytest.mark.parametrize("moment", ["9999-01-01", "2100-01-01T09:00:00", "1999-12-31"])
def test_usage_dated_outside_the_years_people_may_name_is_refused(app, people, moment):
    response = app.test_client().post(
        "/api/v1/usage", json=usage(date=moment), headers=bearer(people)
    )
    assert response.status_code == 422
    [problem] = response.get_json()["errors"]
    assert problem["column"] == "date"
    assert (
        f"'{moment}' is out of range: use a date from 2000-01-01 to 2099-12-31"
        in problem["message"]
    )


def test_a_usage_file_dated_9999_is_refused_naming_the_row(cli, people, tmp_path):
    rows = [usage(event_id="F-1"), usage(event_id="F-2", completed_at="9999-05-20T10:00:00")]
    result = cli("usage", "import", write_csv(tmp_path / "far.csv", rows), expect=1)
    assert "row 3, column completed_at: '9999-05-20T10:00:00' is out of range" in result.stderr


# -- the API's quantities and replays -------------------------------------------------------


@pytest.mark.parametrize("quantity", ["1,000", "£5", "１２", "5 units", "1e3", "0x10"])
def test_api_quantities_must_be_plain_numbers(app, people, quantity):
    response = app.test_client().post(
        "/api/v1/usage", json=usage(quantity=quantity), headers=bearer(people)
    )
    assert response.status_code == 422
    [problem] = response.get_json()["errors"]
    assert problem["column"] == "quantity"
    assert "must be a number, e.g. 12 or 12.5" in problem["message"]


@pytest.mark.parametrize(("quantity", "stored"), [(12, 201), ("12.5", 201), (" 7 ", 201)])
def test_api_quantities_as_numbers_or_plain_text_are_taken(app, people, quantity, stored):
    response = app.test_client().post(
        "/api/v1/usage", json=usage(quantity=quantity), headers=bearer(people)
    )
    assert response.status_code == stored, response.text


def test_a_negative_quantity_is_told_it_must_be_more_than_zero(app, people):
    response = app.test_client().post(
        "/api/v1/usage", json=usage(quantity="-5"), headers=bearer(people)
    )
    assert "quantity must be more than 0" in response.get_json()["errors"][0]["message"]


def test_a_replay_writes_no_empty_batch_and_no_audit_entry(app, people):
    api = app.test_client()
    batches, posts = count(app, ImportBatch), count(app, AuditEvent)
    assert api.post("/api/v1/usage", json=[usage()], headers=bearer(people)).status_code == 201
    assert (count(app, ImportBatch), count(app, AuditEvent)) == (batches + 1, posts + 1)
    for _ in range(3):
        again = api.post("/api/v1/usage", json=[usage()], headers=bearer(people))
        assert again.status_code == 200
        body = again.get_json()
        assert (body["inserted"], body["skipped"], body["batch"]) == (0, 1, None)
    assert (count(app, ImportBatch), count(app, AuditEvent)) == (batches + 1, posts + 1)


# -- a statement's existence cannot be timed ------------------------------------------------


def test_another_councils_statement_costs_the_same_queries_as_none_at_all(app, people):
    """A client's look-up is one query by number and council: another council's statement
    is missed exactly as a number that does not exist is, with nothing more loaded."""
    db = app.extensions["opsplatform.db"]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with db.transaction() as session:
        wyre = session.scalars(select(User).where(User.email == people["wyr"]["email"])).one()
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            assert statement_for(session, wyre, "TSS-202604-LAN") is None
            theirs = list(statements)
            statements.clear()
            assert statement_for(session, wyre, "TSS-209912-XXX") is None
            missing = list(statements)
            statements.clear()
            assert statement_for(session, wyre, "TSS-202604-WYR") is not None
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert len(theirs) == len(missing) == 1
    assert theirs == missing


# -- text no database can store -----------------------------------------------------------


def csrf(client, url: str) -> str:
    from tests.pages import Page

    forms = Page(client.get(url).text).forms
    return next(f for f in forms if "csrf_token" in f["inputs"])["inputs"]["csrf_token"]["value"]


def test_a_nul_in_any_form_or_query_is_refused(app, people):
    bad = "a\x00b"  # (a lone surrogate cannot come over HTTP: werkzeug decodes bytes)
    anonymous = app.test_client()
    response = anonymous.post(
        "/login",
        data={"email": bad, "password": "x", "csrf_token": csrf(anonymous, "/login")},
    )
    assert response.status_code == 400
    assert "cannot be stored" in response.text
    manager = sign_in(app, people["manager"])
    token = csrf(manager, "/")
    for url, data in [
        ("/kpis/PAY-5D", {"name": bad, "target": "95", "amber": "90", "limit": "5"}),
        ("/performance/2026-27-Q1/commentary", {"commentary-0": bad}),
    ]:
        response = manager.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 400, url
        assert "cannot be stored" in response.text
    assert manager.get(f"/performance?quarter=2026-27-Q1{bad}").status_code == 400
    wyre = sign_in(app, people["wyr"])
    line = "/statements/TSS-202604-WYR/lines/3/query"
    response = wyre.post(line, data={"reason": bad, "csrf_token": csrf(wyre, "/")})
    assert response.status_code == 400


def test_the_api_lists_the_first_thousand_problems_then_says_how_many_more(app, people):
    events = [usage(event_id=f"BAD-{n}", client="NOPE") for n in range(1500)]
    response = app.test_client().post("/api/v1/usage", json=events, headers=bearer(people))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert len(errors) == 1001
    assert [e["row"] for e in errors[:3]] == [1, 2, 3]
    assert errors[-1]["message"] == (
        "500 more problems are not listed: these are the first 1,000 of 1,500"
    )
