"""The web pages (CONTRACT.md section 8): sign-in, CSRF, throttling, roles, headers, users."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from io import BytesIO

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from opsplatform.entrypoints.app import close_app, create_app
from opsplatform.models import User

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WYR_APRIL, LAN_APRIL, PRS_APRIL = "TSS-202604-WYR", "TSS-202604-LAN", "TSS-202604-PRS"
ALL_NUMBERS = [f"TSS-2026{m}-{c}" for m in ("04", "05") for c in ("WYR", "LAN", "PRS")]


# -- helpers -------------------------------------------------------------------------------


class Forms(HTMLParser):
    """The forms of a page: each a dict of its attributes plus its `inputs` by name."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({**attrs, "inputs": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["inputs"][attrs["name"]] = attrs


def csrf_token(html: str) -> str:
    for form in Forms(html).forms:
        field = form["inputs"].get("csrf_token")
        if field is not None:
            assert field.get("type") == "hidden"
            assert field.get("value")
            return field["value"]
    raise AssertionError("the page has no csrf_token field")


def login(client, email: str, password: str, remote: str = "127.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": remote})
    data = {"email": email, "password": password, "csrf_token": csrf_token(page.text)}
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": remote})


def signed_in(app, person: dict):
    client = app.test_client()
    response = login(client, person["email"], person["password"])
    assert response.status_code == 302, response.text
    return client


def numbers_on(html: str) -> set[str]:
    return {n for n in ALL_NUMBERS if n in html}


# -- the sign-in form ----------------------------------------------------------------------


def test_login_page_has_email_password_and_hidden_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    forms = [f for f in Forms(response.text).forms if f.get("action") == "/login"]
    assert len(forms) == 1
    form = forms[0]
    assert form["method"].lower() == "post"
    assert form["inputs"]["email"]["type"] == "email"
    assert form["inputs"]["password"]["type"] == "password"
    assert form["inputs"]["csrf_token"]["type"] == "hidden"
    assert len(form["inputs"]["csrf_token"]["value"]) > 20


def test_login_without_csrf_token_is_refused_and_does_not_sign_in(client, people):
    client.get("/login")
    person = people["finance"]
    response = client.post(
        "/login", data={"email": person["email"], "password": person["password"]}
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    after = client.get("/statements")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login")


def test_login_with_a_forged_csrf_token_is_refused(client, people):
    client.get("/login")
    person = people["finance"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": "forged"}
    assert client.post("/login", data=data).status_code == 400
    assert client.get("/").status_code == 302


def test_login_csrf_token_from_another_session_is_refused(app, people):
    token = csrf_token(app.test_client().get("/login").text)
    other = app.test_client()
    other.get("/login")
    person = people["finance"]
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    assert other.post("/login", data=data).status_code == 400
    assert other.get("/").status_code == 302


def test_wrong_password_is_401_with_an_error_summary(client, people):
    response = login(client, people["finance"]["email"], "not-the-password")
    assert response.status_code == 401
    assert 'class="govuk-error-summary"' in response.text
    assert "Enter a correct email address and password" in response.text
    # the form comes back, with a fresh token, ready for another go
    assert csrf_token(response.text)
    assert client.get("/").status_code == 302


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, people):
    unknown = login(client, "nobody@nowhere.gov.uk", people["finance"]["password"])
    wrong = login(client, people["finance"]["email"], "not-the-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "Enter a correct email address and password" in unknown.text


def test_empty_form_is_401_with_an_error_summary(client):
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 401
    assert 'class="govuk-error-summary"' in response.text


def test_right_password_redirects_and_the_session_works(client, people):
    response = login(client, people["finance"]["email"], people["finance"]["password"])
    assert response.status_code == 302
    # the printed one-time password is to be changed first (tests/integration/test_accounts.py)
    assert response.headers["Location"] == "/account/password"
    home = client.get("/")
    assert home.status_code == 200
    assert "Sign out" in home.text
    assert client.get("/statements").status_code == 200


def test_email_is_matched_without_regard_to_case(client, people):
    response = login(client, people["finance"]["email"].upper(), people["finance"]["password"])
    assert response.status_code == 302


# -- throttling ----------------------------------------------------------------------------


def test_repeated_failed_logins_of_one_account_get_429(app, people):
    client = app.test_client()
    person = people["finance"]
    for _ in range(10):
        assert login(client, person["email"], "wrong").status_code == 401
    locked = login(client, person["email"], "wrong")
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert_security_headers(locked)
    # even the right password is refused while the account is locked, from any address
    assert login(client, person["email"], person["password"]).status_code == 429
    assert client.get("/").status_code == 302
    other = app.test_client()
    assert login(other, person["email"], person["password"], remote="10.0.0.7").status_code == 429
    # another account is not affected, even from the same address (say, behind one proxy)
    colleague = people["manager"]
    assert login(client, colleague["email"], colleague["password"]).status_code == 302


def test_only_failed_logins_count_and_signing_in_resets_the_count(app, people):
    person = people["finance"]
    client = app.test_client()
    for _ in range(9):
        assert login(client, person["email"], "wrong").status_code == 401
    for _ in range(5):
        assert login(app.test_client(), person["email"], person["password"]).status_code == 302
    for _ in range(10):
        assert login(client, person["email"], "wrong").status_code == 401
    assert login(client, person["email"], "wrong").status_code == 429


def test_viewing_the_login_page_does_not_count(app, people):
    client = app.test_client()
    for _ in range(15):
        assert client.get("/login").status_code == 200
    assert login(client, people["finance"]["email"], "wrong").status_code == 401


# -- pages need sign-in, and a client sees only its own --------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/statements", f"/statements/{WYR_APRIL}", f"/statements/{WYR_APRIL}.xlsx"]
)
def test_pages_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_client_user_sees_only_its_own_councils_statements(app, people):
    client = signed_in(app, people["wyr"])
    listing = client.get("/statements")
    assert listing.status_code == 200
    assert numbers_on(listing.text) == {"TSS-202604-WYR", "TSS-202605-WYR"}
    home = client.get("/")
    assert home.status_code == 200
    assert numbers_on(home.text) <= {"TSS-202604-WYR", "TSS-202605-WYR"}


def test_the_home_page_lists_the_latest_few_and_links_to_the_rest(app, people, monkeypatch):
    import opsplatform.entrypoints.web as pages

    monkeypatch.setattr(pages, "HOME_STATEMENTS", 2)
    home = signed_in(app, people["finance"]).get("/").text
    # May's three drafts and April's three issued: two of each listed, by client name
    assert numbers_on(home) == {"TSS-202605-LAN", "TSS-202605-PRS", LAN_APRIL, PRS_APRIL}
    assert "See all 3 draft statements" in home and "/statements?status=draft" in home
    assert "/statements?status=issued" in home


def test_client_user_gets_its_own_statement_and_404_for_another_councils(app, people):
    client = signed_in(app, people["wyr"])
    own = client.get(f"/statements/{WYR_APRIL}")
    assert own.status_code == 200
    assert WYR_APRIL in own.text
    assert "£6,733.33" in own.text  # HOST 3000 + ICT 3333.33 + PAY 100 x 4.00
    for other in (LAN_APRIL, PRS_APRIL, "TSS-202605-LAN"):
        response = client.get(f"/statements/{other}")
        assert response.status_code == 404
        assert other not in response.text
    # indistinguishable from a statement that does not exist
    assert client.get("/statements/TSS-209901-ZZZ").status_code == 404


def test_client_user_month_filter_still_confined(app, people):
    client = signed_in(app, people["lan"])
    response = client.get("/statements?month=2026-05")
    assert response.status_code == 200
    assert numbers_on(response.text) == {"TSS-202605-LAN"}


def test_bad_month_filter_is_400(app, people):
    client = signed_in(app, people["finance"])
    assert client.get("/statements?month=May").status_code == 400


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_staff_see_every_councils_statements(app, people, role):
    client = signed_in(app, people[role])
    listing = client.get("/statements")
    assert listing.status_code == 200
    assert numbers_on(listing.text) == set(ALL_NUMBERS)
    for number in (WYR_APRIL, LAN_APRIL, PRS_APRIL):
        assert client.get(f"/statements/{number}").status_code == 200


def test_client_user_downloads_its_own_workbook_but_not_anothers(app, people):
    pytest.importorskip("billing.export")
    from openpyxl import load_workbook

    client = signed_in(app, people["wyr"])
    response = client.get(f"/statements/{WYR_APRIL}.xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert f"{WYR_APRIL}.xlsx" in response.headers["Content-Disposition"]
    assert load_workbook(BytesIO(response.data)).sheetnames
    assert client.get(f"/statements/{LAN_APRIL}.xlsx").status_code == 404


# -- security headers and cookies ----------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts is not None, "no script-src nor default-src: any script may run"
    assert "'unsafe-inline'" not in scripts
    assert "'unsafe-eval'" not in scripts
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )


def test_security_headers_on_every_kind_of_response(app, people):
    anonymous = app.test_client()
    responses = [
        anonymous.get("/login"),
        anonymous.get("/"),  # redirect
        anonymous.get("/no-such-page"),  # 404
        anonymous.post("/login", data={}),  # 400 (no CSRF token)
        anonymous.get("/static/app.css"),
        anonymous.get("/healthz"),
        anonymous.get("/api/v1/statements"),  # 401 JSON
        anonymous.get("/api/v1/openapi.json"),
    ]
    finance = signed_in(app, people["finance"])
    responses += [
        finance.get("/"),
        finance.get("/statements"),
        finance.get(f"/statements/{WYR_APRIL}"),
    ]
    wyr = signed_in(app, people["wyr"])
    responses.append(wyr.get(f"/statements/{LAN_APRIL}"))  # 404 when signed in
    statuses = {r.status_code for r in responses}
    assert {200, 302, 400, 401, 404} <= statuses
    for response in responses:
        assert_security_headers(response)


def test_session_cookie_is_httponly_and_samesite_lax(client, people):
    page = client.get("/login")
    response = login(client, people["finance"]["email"], people["finance"]["password"])
    cookies = [
        c
        for r in (page, response)
        for c in r.headers.getlist("Set-Cookie")
        if c.startswith("session=")
    ]
    assert cookies, "signing in set no session cookie"
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "httponly" in attributes
        assert "samesite=lax" in attributes


# -- signing out ---------------------------------------------------------------------------


def test_logout_needs_post_with_the_csrf_token(app, people):
    client = signed_in(app, people["finance"])
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    home = client.get("/")
    assert home.status_code == 200, "a refused sign-out must leave the user signed in"
    signout = [f for f in Forms(home.text).forms if f.get("action") == "/logout"]
    assert len(signout) == 1 and signout[0]["method"].lower() == "post"
    token = signout[0]["inputs"]["csrf_token"]["value"]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302
    assert client.get("/statements").status_code == 302


# -- users, through the command line -------------------------------------------------------


def test_users_create_prints_a_one_time_password_that_signs_in(cli, people):
    made = cli.json("users", "create", "Clerk@Wyre.gov.uk", "--role", "client", "--client", "WYR")
    assert set(made) == {"email", "password"}
    assert made["email"] == "clerk@wyre.gov.uk"
    assert len(made["password"]) >= 12
    app = create_app()
    try:
        client = app.test_client()
        assert login(client, made["email"], made["password"]).status_code == 302
        assert numbers_on(client.get("/statements").text) == {"TSS-202604-WYR", "TSS-202605-WYR"}
    finally:
        close_app(app)


def test_users_create_without_json_prints_the_password(cli, people, database):
    result = cli("users", "create", "boss@centre.gov.uk", "--role", "manager")
    assert "boss@centre.gov.uk" in result.stdout
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == "boss@centre.gov.uk")).one()
        assert user.role == "manager"
        assert user.client_id is None


def user_count(database) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(User))


def test_users_create_refusals(cli, people, database):
    cli("users", "create", "taken@centre.gov.uk", "--role", "finance")
    before = user_count(database)
    # a role that does not exist is wrong usage (a click Choice)
    cli("users", "create", "x@centre.gov.uk", "--role", "superuser", expect=2)
    cli("users", "create", "x@centre.gov.uk", expect=2)  # --role is required
    # business refusals
    no_client = cli("users", "create", "x@wyre.gov.uk", "--role", "client", expect=1)
    assert "--client" in no_client.stderr
    unknown = cli(
        "users", "create", "x@wyre.gov.uk", "--role", "client", "--client", "NOPE", expect=1
    )
    assert "NOPE" in unknown.stderr
    duplicate = cli("users", "create", "Taken@Centre.gov.uk", "--role", "auditor", expect=1)
    assert "taken@centre.gov.uk" in duplicate.stderr
    cli("users", "create", "not-an-email", "--role", "finance", expect=1)
    cli("users", "create", "y@centre.gov.uk", "--role", "finance", "--client", "WYR", expect=1)
    assert user_count(database) == before


def test_users_create_refusal_with_json_prints_errors(cli, people):
    result = cli("users", "create", "x@wyre.gov.uk", "--role", "client", "--json", expect=1)
    document = json.loads(result.stdout)
    assert document["errors"] and all("message" in e for e in document["errors"])


def test_password_is_stored_as_an_argon2_hash(cli, people, database):
    made = cli.json("users", "create", "hash@centre.gov.uk", "--role", "finance")
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == "hash@centre.gov.uk")).one()
        stored = user.password_hash
    assert made["password"] not in stored
    assert stored.startswith("$argon2")
    assert PasswordHasher().verify(stored, made["password"])
    # each user gets a different password (and salt)
    other = cli.json("users", "create", "hash2@centre.gov.uk", "--role", "finance")
    assert other["password"] != made["password"]


def test_users_list_shows_every_user_and_whether_it_may_sign_in(cli, people):
    cli("users", "disable", people["lan"]["email"])
    listed = cli.json("users", "list")
    assert [u["email"] for u in listed] == sorted(p["email"] for p in people.values())
    by_email = {u["email"]: u for u in listed}
    assert by_email["pay@wyre.gov.uk"] == {
        "email": "pay@wyre.gov.uk",
        "role": "client",
        "client": "WYR",
        "active": True,
    }
    assert by_email["finance@centre.gov.uk"]["client"] is None
    assert by_email["pay@lancaster.gov.uk"]["active"] is False
    text = cli("users", "list").stdout
    assert "6 user(s)" in text and "(disabled)" in text


def test_the_accessibility_statement_is_open_to_all_and_linked_from_every_page(client):
    """The 2018 regulations' statement: found before signing in, in the footer of every page,
    with each section the regulations' model statement has."""
    login = client.get("/login").get_data(as_text=True)
    assert 'href="/accessibility"' in login
    page = client.get("/accessibility")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for section in (
        "Compliance status",
        "Non-accessible content",
        "Reporting accessibility problems with this website",
        "Enforcement procedure",
        "How we tested this website",
        "WCAG",
        "axe-core",
        "Public Sector Bodies (Websites and Mobile Applications)",
    ):
        assert section in text, section


def test_the_header_names_the_centre_beside_the_product(client):
    text = client.get("/login").get_data(as_text=True)
    assert '<span class="app-header__centre">Test Shared Services</span>' in text
