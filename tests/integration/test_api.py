"""The JSON API under /api/v1 (CONTRACT.md sections 4, 5 and 8), and API tokens."""

from __future__ import annotations

import hashlib
import re
from io import BytesIO

import pytest
from sqlalchemy import func, select

from opsplatform.db import utcnow
from opsplatform.models import ApiToken, UsageEvent

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY = re.compile(r"^-?\d+\.\d{2}$")
STATEMENT_KEYS = {"number", "client", "month", "status", "net", "vat", "total", "lines"}
LINE_KEYS = {"service", "kind", "description", "quantity", "amount", "vat"}
KINDS = {
    "charge",
    "prior_period",
    "adjustment",
    "service_credit",
    "true_up",
    "carried_forward",
    "outturn",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(client, people):
    """`api(method, path, who, **kwargs)`: a request with `who`'s bearer token."""

    def call(method: str, path: str, who: str | None = "finance", **kwargs):
        headers = bearer(people[who]["token"]) if who else {}
        return client.open(path, method=method.upper(), headers=headers, **kwargs)

    return call


def event(n: int, client: str = "WYR", service: str = "PAY", **extra) -> dict:
    return {
        "event_id": f"API-{n}",
        "client": client,
        "service": service,
        "date": "2026-05-20",
        "quantity": "10",
        **extra,
    }


def usage_count(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(UsageEvent))


def pay_line(cli, number: str) -> dict | None:
    lines = cli.json("billing", "show", number)["lines"]
    found = [line for line in lines if line["service"] == "PAY" and line["kind"] == "charge"]
    return found[0] if found else None


def assert_errors(response, status: int) -> list[dict]:
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["errors"]
    assert body["errors"] and all(e["message"] for e in body["errors"])
    return body["errors"]


# -- bearer tokens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/statements", "/api/v1/statements/TSS-202604-WYR", "/api/v1/clients"]
)
@pytest.mark.parametrize(
    "header",
    [None, "Bearer ", "Bearer not-a-real-token", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_api_needs_a_valid_bearer_token(client, people, path, header):
    headers = {"Authorization": header} if header is not None else {}
    assert_errors(client.get(path, headers=headers), 401)


def test_posting_usage_needs_a_token(client, people, database):
    assert_errors(client.post("/api/v1/usage", json=event(1)), 401)
    assert usage_count(database) == 2


def test_a_signed_in_browser_session_is_not_an_api_credential(client, people):
    """The API is for programs with tokens; a session cookie alone gets 401."""
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    person = people["finance"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    assert client.get("/statements").status_code == 200
    assert_errors(client.get("/api/v1/statements"), 401)


def test_tokens_create_prints_the_token_once_and_stores_only_its_sha256(cli, people, database):
    made = cli.json("tokens", "create", people["auditor"]["email"])
    assert "token" in made
    token = made["token"]
    assert len(token) >= 32
    with database.transaction() as session:
        stored = session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).first()
        columns = {c.key: getattr(stored, c.key) for c in ApiToken.__table__.columns}
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in columns.values())


def test_tokens_create_for_an_unknown_user_is_refused(cli, people, database):
    with database.transaction() as session:
        before = session.scalar(select(func.count()).select_from(ApiToken))
    result = cli("tokens", "create", "nobody@nowhere.gov.uk", expect=1)
    assert "nobody@nowhere.gov.uk" in result.stderr
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == before


def token_id(database, token: str) -> int:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with database.transaction() as session:
        return session.scalars(select(ApiToken.id).where(ApiToken.token_hash == digest)).one()


def test_a_new_token_works_and_tokens_revoke_id_makes_it_fail(cli, client, people, database):
    made = cli.json("tokens", "create", people["finance"]["email"])
    assert client.get("/api/v1/statements", headers=bearer(made["token"])).status_code == 200
    number = token_id(database, made["token"])
    assert made.get("id", number) == number
    cli("tokens", "revoke", number)
    assert_errors(client.get("/api/v1/statements", headers=bearer(made["token"])), 401)
    assert_errors(api_post(client, made["token"]), 401)
    with database.transaction() as session:
        assert session.get(ApiToken, number).revoked_at is not None  # kept on record
    # the user's other tokens still work
    other = client.get("/api/v1/statements", headers=bearer(people["finance"]["token"]))
    assert other.status_code == 200


def test_a_revoked_token_gets_401(client, people, database):
    token = people["wyr"]["token"]
    assert client.get("/api/v1/statements", headers=bearer(token)).status_code == 200
    with database.transaction() as session:
        session.get(ApiToken, token_id(database, token)).revoked_at = utcnow()
    assert_errors(client.get("/api/v1/statements", headers=bearer(token)), 401)
    assert_errors(client.get("/api/v1/statements/TSS-202604-WYR", headers=bearer(token)), 401)


def api_post(client, token: str):
    return client.post("/api/v1/usage", json=event(1), headers=bearer(token))


def test_revoking_an_unknown_token_is_refused(cli, people):
    cli("tokens", "revoke", "9999", expect=1)


# -- posting usage -------------------------------------------------------------------------


def test_post_one_usage_object_stores_it(api, cli, database):
    response = api("post", "/api/v1/usage", json=event(1, quantity="7"))
    assert response.status_code == 201, response.text
    body = response.get_json()
    assert body["inserted"] == 1 and body["skipped"] == 0
    assert usage_count(database) == 3
    cli("billing", "close", "2026-05")
    assert pay_line(cli, "TSS-202605-WYR")["quantity"] == "7"
    assert pay_line(cli, "TSS-202605-WYR")["amount"] == "28.00"  # 7 x 4.00


def test_post_a_list_of_usage_then_again_is_idempotent(api, cli, database):
    events = [event(n, client=c) for n, c in enumerate(("WYR", "WYR", "LAN"))]
    first = api("post", "/api/v1/usage", json=events)
    assert first.status_code == 201, first.text
    assert first.get_json()["inserted"] == 3
    assert usage_count(database) == 5
    again = api("post", "/api/v1/usage", json=events)
    assert again.status_code == 200, again.text
    assert again.get_json()["inserted"] == 0
    assert again.get_json()["skipped"] == 3
    assert usage_count(database) == 5
    # one new event among repeats: only it is stored
    more = api("post", "/api/v1/usage", json=[*events, event(9, client="LAN")])
    assert more.status_code == 201
    assert (more.get_json()["inserted"], more.get_json()["skipped"]) == (1, 3)
    closed = {s["number"]: s for s in cli.json("billing", "close", "2026-05")}
    assert set(closed) == {"TSS-202605-WYR", "TSS-202605-LAN", "TSS-202605-PRS"}
    assert pay_line(cli, "TSS-202605-WYR")["quantity"] == "20"
    assert pay_line(cli, "TSS-202605-LAN")["quantity"] == "20"


def test_same_event_id_with_different_content_is_refused(api, database):
    assert api("post", "/api/v1/usage", json=event(1)).status_code == 201
    errors = assert_errors(api("post", "/api/v1/usage", json=event(1, quantity="11")), 422)
    assert len(errors) == 1
    assert usage_count(database) == 3


def test_a_list_with_bad_events_is_refused_whole_with_every_error(api, database):
    events = [
        event(1),  # good
        event(2, client="NOPE"),  # unknown client
        event(3, client="PRS"),  # PRS does not subscribe to PAY
        event(4, date="2026-13-45"),  # not a date
        event(5, quantity="-3"),  # quantity must be > 0
        event(6),  # good
    ]
    errors = assert_errors(api("post", "/api/v1/usage", json=events), 422)
    assert sorted({e["row"] for e in errors}) == [2, 3, 4, 5]
    by_row = {e["row"]: e for e in errors}
    assert by_row[2]["column"] == "client"
    assert "NOPE" in by_row[2]["message"]
    assert by_row[4]["column"] == "date"
    assert by_row[5]["column"] == "quantity"
    assert usage_count(database) == 2


def test_a_missing_event_id_is_refused_with_the_other_errors_too(api, database):
    events = [
        event(1),
        {k: v for k, v in event(2).items() if k != "event_id"},
        event(3, client="NOPE"),
    ]
    errors = assert_errors(api("post", "/api/v1/usage", json=events), 422)
    by_row = {e["row"]: e for e in errors}
    assert by_row[2]["column"] == "event_id"
    assert 3 in by_row, "every bad event is listed, not only the first kind of problem"
    assert len(errors) == len({(e["row"], e["column"], e["message"]) for e in errors})
    assert usage_count(database) == 2


@pytest.mark.parametrize("body", [[], "text", 42, None])
def test_a_body_that_is_not_usage_is_400(api, database, body):
    response = api("post", "/api/v1/usage", json=body)
    assert_errors(response, 400)
    assert usage_count(database) == 2


def test_not_json_is_400(api):
    response = api("post", "/api/v1/usage", data="client=WYR", content_type="text/plain")
    assert_errors(response, 400)


@pytest.mark.parametrize("who", ["wyr", "auditor", "manager"])
def test_only_admin_and_finance_may_post_usage(api, database, who):
    assert_errors(api("post", "/api/v1/usage", who, json=event(1)), 403)
    assert usage_count(database) == 2


def test_admin_may_post_usage(api):
    assert api("post", "/api/v1/usage", "admin", json=event(1)).status_code == 201


def test_more_than_10000_events_is_413(api, database):
    events = [event(n) for n in range(10_001)]
    assert_errors(api("post", "/api/v1/usage", json=events), 413)
    assert usage_count(database) == 2


def test_usage_posted_for_an_issued_month_is_billed_as_prior_period(api, cli):
    response = api("post", "/api/v1/usage", json=event(1, date="2026-04-28", quantity="5"))
    assert response.status_code == 201, response.text
    # the issued April statement never changes
    assert cli.json("billing", "show", "TSS-202604-WYR")["total"] == "6733.33"
    cli("billing", "close", "2026-05")
    lines = cli.json("billing", "show", "TSS-202605-WYR")["lines"]
    prior = [line for line in lines if line["kind"] == "prior_period"]
    assert [(p["service"], p["amount"]) for p in prior] == [("PAY", "20.00")]


def test_usage_dates_are_placed_in_their_europe_london_month(api, database):
    events = [
        event(1, date="2026-05-31T23:30:00+00:00"),  # 00:30 BST on 1 June
        event(2, date="2026-05-31T23:30:00"),  # naive: London local time, still May
        event(3, date="2026-06-01"),
    ]
    response = api("post", "/api/v1/usage", json=events)
    assert response.status_code == 201, response.text
    assert response.get_json()["months"] == {"2026-05": 1, "2026-06": 2}
    with database.transaction() as session:
        months = dict(session.execute(select(UsageEvent.event_id, UsageEvent.month)).all())
    assert (months["API-1"], months["API-2"], months["API-3"]) == ("2026-06", "2026-05", "2026-06")


# -- statements ----------------------------------------------------------------------------


def test_statement_list_for_a_client_user_is_its_own_only(api):
    response = api("get", "/api/v1/statements", "wyr")
    assert response.status_code == 200
    numbers = {s["number"] for s in response.get_json()}
    assert numbers == {"TSS-202604-WYR", "TSS-202605-WYR"}
    assert {s["client"] for s in response.get_json()} == {"WYR"}


def test_statement_list_for_staff_is_everything_and_filters_by_month(api):
    numbers = {s["number"] for s in api("get", "/api/v1/statements", "auditor").get_json()}
    assert numbers == {f"TSS-2026{m}-{c}" for m in ("04", "05") for c in ("WYR", "LAN", "PRS")}
    may = api("get", "/api/v1/statements?month=2026-05", "finance").get_json()
    assert {s["number"] for s in may} == {"TSS-202605-WYR", "TSS-202605-LAN", "TSS-202605-PRS"}
    assert {s["status"] for s in may} == {"draft"}
    mine = api("get", "/api/v1/statements?month=2026-05", "lan").get_json()
    assert [s["number"] for s in mine] == ["TSS-202605-LAN"]


def test_statement_list_bad_month_is_400(api):
    assert_errors(api("get", "/api/v1/statements?month=2026-13"), 400)


def test_one_statement_has_the_contract_shape(api):
    response = api("get", "/api/v1/statements/TSS-202604-WYR", "wyr")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= STATEMENT_KEYS
    assert body["number"] == "TSS-202604-WYR"
    assert body["client"] == "WYR"
    assert body["month"] == "2026-04"
    assert body["status"] == "issued"
    assert (body["net"], body["vat"], body["total"]) == ("6733.33", "0.00", "6733.33")
    for key in ("net", "vat", "total"):
        assert isinstance(body[key], str) and MONEY.match(body[key])
    assert len(body["lines"]) == 3
    for line in body["lines"]:
        assert set(line) >= LINE_KEYS
        assert line["kind"] in KINDS
        assert isinstance(line["quantity"], str)
        assert MONEY.match(line["amount"]) and MONEY.match(line["vat"])
    by_service = {line["service"]: line for line in body["lines"]}
    assert by_service["PAY"]["quantity"] == "100"
    assert by_service["PAY"]["amount"] == "400.00"
    assert by_service["HOST"]["amount"] == "3000.00"
    assert by_service["ICT"]["amount"] == "3333.33"
    total = sum(int(line["amount"].replace(".", "")) for line in body["lines"])
    assert total == 673333


def test_api_statement_matches_billing_show(api, cli):
    body = api("get", "/api/v1/statements/TSS-202604-LAN").get_json()
    shown = cli.json("billing", "show", "TSS-202604-LAN")
    for key in STATEMENT_KEYS - {"lines"}:
        assert body[key] == shown[key]
    assert [{k: line[k] for k in LINE_KEYS} for line in body["lines"]] == [
        {k: line[k] for k in LINE_KEYS} for line in shown["lines"]
    ]


def test_another_councils_statement_is_404_to_a_client_user(api):
    for number in ("TSS-202604-LAN", "TSS-202604-PRS", "TSS-202605-LAN"):
        errors = assert_errors(api("get", f"/api/v1/statements/{number}", "wyr"), 404)
        assert "Lancaster" not in str(errors) and "Preston" not in str(errors)
    assert_errors(api("get", "/api/v1/statements/TSS-209901-ZZZ", "wyr"), 404)
    assert api("get", "/api/v1/statements/TSS-202604-LAN", "lan").status_code == 200
    assert api("get", "/api/v1/statements/TSS-202604-LAN", "auditor").status_code == 200


def test_statement_workbook_download(api):
    pytest.importorskip("billing.export")
    from openpyxl import load_workbook

    response = api("get", "/api/v1/statements/TSS-202604-WYR.xlsx", "wyr")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert load_workbook(BytesIO(response.data)).sheetnames
    assert_errors(api("get", "/api/v1/statements/TSS-202604-LAN.xlsx", "wyr"), 404)


# -- OpenAPI and reference data ------------------------------------------------------------


def test_openapi_document_lists_the_paths(client, people):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    paths = set(document["paths"])
    assert {
        "/api/v1/usage",
        "/api/v1/statements",
        "/api/v1/statements/{number}",
        "/api/v1/clients",
        "/api/v1/services",
        "/api/v1/kpi-results",
    } <= paths
    assert "post" in document["paths"]["/api/v1/usage"]
    assert "UsageEvent" in document["components"]["schemas"]
    assert "event_id" in document["components"]["schemas"]["UsageEvent"]["required"]
    errors = {"$ref": "#/components/schemas/Errors"}
    for path, item in document["paths"].items():
        for method in item.keys() & {"get", "post"}:
            responses = item[method]["responses"]
            assert "default" not in responses, "every answer an operation gives is documented"
            assert responses["200"]["content"]["application/json"]["schema"], (method, path)
            for status in ("401", "429"):  # every operation takes a token
                assert responses[status]["content"]["application/json"]["schema"] == errors
                assert responses[status]["description"]
            assert responses["429"]["headers"]["Retry-After"]["required"]
    usage = document["paths"]["/api/v1/usage"]["post"]["responses"]
    report = {"$ref": "#/components/schemas/UsageReport"}
    assert usage["201"]["content"]["application/json"]["schema"] == report
    assert usage["200"]["content"]["application/json"]["schema"] == report
    for status in ("400", "403", "413", "422"):
        assert usage[status]["content"]["application/json"]["schema"] == errors
    item = document["paths"]["/api/v1/statements/{number}"]["get"]["responses"]
    assert item["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Statement"
    }
    assert XLSX in item["200"]["content"]
    assert item["404"]["content"]["application/json"]["schema"] == errors
    for path in ("/api/v1/statements", "/api/v1/kpi-results"):
        assert document["paths"][path]["get"]["responses"]["400"]["content"]


def test_every_field_of_the_openapi_documents_schemas_is_described(api):
    """A program's author reads what each key holds; money is a text with two decimals."""
    schemas = api("get", "/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name, schema in schemas.items():
        for field, prop in schema["properties"].items():
            assert prop.get("description"), f"{name}.{field}"
    for name in ("Statement", "StatementSummary"):
        assert set(schemas[name]["required"]) >= STATEMENT_KEYS - {"lines"}
        for key in ("net", "vat", "total"):
            assert schemas[name]["properties"][key]["type"] == "string"
            assert schemas[name]["properties"][key]["pattern"] == MONEY.pattern
    assert set(schemas["Statement"]["required"]) >= STATEMENT_KEYS
    assert set(schemas["Line"]["required"]) >= LINE_KEYS
    assert set(schemas["Line"]["properties"]["kind"]["enum"]) == KINDS


def test_clients_for_staff_and_for_a_client_user(api):
    everyone = api("get", "/api/v1/clients", "auditor")
    assert everyone.status_code == 200
    assert [c["code"] for c in everyone.get_json()] == ["LAN", "PRS", "WYR"]
    assert {c["name"] for c in everyone.get_json()} >= {"Wyre Council"}
    mine = api("get", "/api/v1/clients", "wyr").get_json()
    assert [c["code"] for c in mine] == ["WYR"]


def test_services(api):
    response = api("get", "/api/v1/services", "wyr")
    assert response.status_code == 200
    services = {s["code"]: s for s in response.get_json()}
    assert set(services) == {"PAY", "HOST", "ICT"}
    assert services["PAY"]["unit"] == "payslip"
    assert services["PAY"]["name"] == "Payroll"


def test_kpi_results_for_a_quarter(api):
    response = api("get", "/api/v1/kpi-results?quarter=2026-27-Q1", "finance")
    assert response.status_code == 200
    results = response.get_json()
    assert {(r["kpi"], r["client"]) for r in results} == {
        ("PAY-5D", None),
        ("PAY-5D", "WYR"),
        ("PAY-5D", "LAN"),
    }
    for r in results:
        assert r["quarter"] == "2026-27-Q1"
        assert r["status"] == "green"
        assert {"value", "target", "amber", "numerator", "denominator"} <= set(r)


def test_kpi_results_for_a_client_user_are_its_own_and_the_centres(api):
    results = api("get", "/api/v1/kpi-results?quarter=2026-27-Q1", "lan").get_json()
    assert {r["client"] for r in results} == {None, "LAN"}


@pytest.mark.parametrize("quarter", ["", "2026-Q1", "2026-27-Q5", "2026-28-Q1", "nonsense"])
def test_kpi_results_bad_quarter_is_400(api, quarter):
    assert_errors(api("get", f"/api/v1/kpi-results?quarter={quarter}"), 400)


def test_unknown_api_path_is_json_404(api):
    assert_errors(api("get", "/api/v1/nothing-here"), 404)


# -- bad input that got a 500: now a 4xx naming what is wrong ------------------------------


@pytest.mark.parametrize("column", ["event_id", "reference"])
@pytest.mark.parametrize("text", ["API\x00-1", "API-\ud800"])
def test_usage_text_the_database_cannot_store_is_422(api, database, column, text):
    errors = assert_errors(api("post", "/api/v1/usage", json=event(1, **{column: text})), 422)
    assert [(e["row"], e["column"]) for e in errors] == [(1, column)]
    assert "NUL character or a lone surrogate" in errors[0]["message"]
    assert usage_count(database) == 2


@pytest.mark.parametrize("column", ["date", "started_at", "completed_at"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_usage_times_too_near_year_1_or_9999_are_422(api, database, column, moment):
    errors = assert_errors(api("post", "/api/v1/usage", json=event(1, **{column: moment})), 422)
    assert [(e["row"], e["column"]) for e in errors] == [(1, column)]
    assert moment in errors[0]["message"] and "out of range" in errors[0]["message"]
    assert usage_count(database) == 2


def test_json_nested_too_deeply_is_400(api, database):
    body = "[" * 100_000 + "]" * 100_000
    response = api("post", "/api/v1/usage", data=body, content_type="application/json")
    assert "nested too deeply" in assert_errors(response, 400)[0]["message"]
    assert usage_count(database) == 2


@pytest.mark.parametrize("path", ["TSS-202604-WYR%00", "TSS-202604-WYR%00.xlsx"])
def test_a_statement_number_with_a_nul_is_404(api, path):
    assert_errors(api("get", f"/api/v1/statements/{path}"), 404)


@pytest.mark.parametrize("quarter", ["0000-01-Q1", "1900-01-Q1", "9998-99-Q1", "9999-00-Q4"])
def test_kpi_results_for_a_quarter_out_of_range_is_400(api, quarter):
    errors = assert_errors(api("get", f"/api/v1/kpi-results?quarter={quarter}"), 400)
    assert f"quarter {quarter} is out of range" in errors[0]["message"]


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"client": ["WYR"]}, "client", "client must be a text"),
        ({"date": 20260504}, "date", "date must be a text"),
        ({"quantity": True}, "quantity", "quantity must be a number"),
        ({"quantity": {"value": 3}}, "quantity", "quantity must be a number"),
        ({"service": None}, "service", "service is required"),
        ({"colour": "red"}, "colour", "unknown field 'colour'; expected event_id, client"),
    ],
)
def test_an_event_of_the_wrong_shape_is_named_with_the_others_problems(
    api, database, change, column, message
):
    """marshmallow checks each event's shape; the rest are checked as a file's rows are."""
    events = [event(1, **change), event(2, client="NOPE"), event(3)]
    errors = assert_errors(api("post", "/api/v1/usage", json=events), 422)
    assert [(e["row"], e["column"]) for e in errors] == [(1, column), (2, "client")]
    assert errors[0]["message"].startswith(message)
    assert usage_count(database) == 2


def test_the_openapi_document_describes_a_usage_events_fields(api):
    schema = api("get", "/api/v1/openapi.json").get_json()["components"]["schemas"]["UsageEvent"]
    assert schema["required"] == ["client", "date", "event_id", "service"]
    assert "unique key" in schema["properties"]["event_id"]["description"]


def test_the_documentation_page_shows_every_operation_and_schema_without_scripts(client):
    """Browsable docs rendered from the OpenAPI document on the server (no Swagger UI)."""
    spec = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "<script" not in page.text and "style=" not in page.text
    for path, item in spec["paths"].items():
        for method in item.keys() & {"get", "post"}:
            assert f"{method.upper()}</strong> <code>{path}</code>" in page.text
    for name in spec["components"]["schemas"].keys() - {"PaginationMetadata"}:  # flask-smorest's
        assert f'id="schema-{name}"' in page.text
    assert 'href="#schema-Errors"' in page.text  # the error responses link to their shape
    assert "header <code>Retry-After</code>" in page.text
    assert "one of draft, issued" in page.text  # a field's values, from its schema
    assert spec["security"] == [{"bearer": []}]
