"""How sessions end (issue 12, finding 3): signing out, a password reset, a role change or
disabling ends every copy of a user's session cookie; so do the idle timeout and the absolute
lifetime; a deleted user's cookie never signs in whoever gets its id next. Pages, downloads and
API answers are never kept by a cache."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from opsplatform.config import load_config
from opsplatform.entrypoints.app import close_app, create_app
from opsplatform.models import User
from tests.integration.test_web import WYR_APRIL, Forms, csrf_token, login, signed_in

PAGES = ["/", "/statements", f"/statements/{WYR_APRIL}", f"/statements/{WYR_APRIL}.xlsx"]


def sign_out(client):
    home = client.get("/")
    form = next(f for f in Forms(home.text).forms if f.get("action") == "/logout")
    return client.post("/logout", data={"csrf_token": form["inputs"]["csrf_token"]["value"]})


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def replayed(app, cookie: str):
    """A new browser holding a copy of a session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client


def changes(cli) -> list[str]:
    """The audit log's actions, newest first, leaving out sign-ins and sign-outs."""
    return [
        e["action"]
        for e in cli.json("audit", "list")
        if e["action"] not in ("sign in", "sign in failed", "sign out")
    ]


def assert_signed_out(client) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, (path, response.status_code)
        assert response.headers["Location"].startswith("/login")


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, people):
    client = signed_in(app, people["finance"])
    copy = cookie_of(client)
    assert replayed(app, copy).get("/").status_code == 200
    assert sign_out(client).status_code == 302
    assert_signed_out(client)
    assert_signed_out(replayed(app, copy))


def test_signing_out_ends_the_users_sessions_in_other_browsers_too(app, people):
    """One session version per user: signing out anywhere signs out everywhere."""
    here = signed_in(app, people["finance"])
    there = signed_in(app, people["finance"])
    sign_out(here)
    assert_signed_out(there)
    assert signed_in(app, people["finance"]).get("/").status_code == 200


def test_signing_in_and_out_start_a_new_session_with_a_new_csrf_token(app, people):
    client = app.test_client()
    before = csrf_token(client.get("/login").text)
    login(client, people["finance"]["email"], people["finance"]["password"])
    home = client.get("/")
    signout = next(f for f in Forms(home.text).forms if f.get("action") == "/logout")
    during = signout["inputs"]["csrf_token"]["value"]
    # the anonymous session's token does not carry over into the signed-in one
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert client.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": during})
    after = client.get("/login")
    assert csrf_token(after.text)
    data = {"email": "x@y.gov.uk", "password": "p", "csrf_token": during}
    assert client.post("/login", data=data).status_code == 400


def test_no_remember_me_cookie_is_set(client, people):
    login(client, people["finance"]["email"], people["finance"]["password"])
    assert client.get_cookie("remember_token") is None


def test_users_reset_ends_sessions_and_replaces_the_password(app, cli, people):
    person = people["finance"]
    client = signed_in(app, person)
    made = cli.json("users", "reset", person["email"].upper())
    assert made["email"] == person["email"]
    assert made["password"] != person["password"]
    assert_signed_out(client)
    assert login(app.test_client(), person["email"], person["password"]).status_code == 401
    assert login(app.test_client(), person["email"], made["password"]).status_code == 302
    assert changes(cli)[0] == "user reset"


def test_a_role_change_ends_sessions(app, cli, people, database):
    person = people["wyr"]
    client = signed_in(app, person)
    cli("users", "role", person["email"], "--role", "auditor")
    assert_signed_out(client)
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == person["email"])).one()
        assert (user.role, user.client_id) == ("auditor", None)
    again = signed_in(app, person)
    assert again.get("/statements/TSS-202604-LAN").status_code == 200
    assert changes(cli)[0] == "user role"


def test_a_role_change_is_checked_like_a_new_user(cli, people):
    email = people["finance"]["email"]
    assert "--client" in cli("users", "role", email, "--role", "client", expect=1).stderr
    cli("users", "role", email, "--role", "client", "--client", "NOPE", expect=1)
    cli("users", "role", email, "--role", "manager", "--client", "WYR", expect=1)
    cli("users", "role", "nobody@centre.gov.uk", "--role", "manager", expect=1)
    cli("users", "role", email, "--role", "client", "--client", "wyr")


def test_disabling_ends_sessions_and_enabling_does_not_revive_them(app, cli, people):
    person = people["manager"]
    client = signed_in(app, person)
    copy = cookie_of(client)
    cli("users", "disable", person["email"])
    assert_signed_out(client)
    assert login(app.test_client(), person["email"], person["password"]).status_code == 401
    cli("users", "enable", person["email"])
    assert_signed_out(replayed(app, copy))
    assert signed_in(app, person).get("/").status_code == 200
    assert changes(cli)[:2] == ["user enable", "user disable"]


def test_users_commands_refuse_an_unknown_user(cli, people):
    for command in ("reset", "disable", "enable"):
        result = cli("users", command, "nobody@centre.gov.uk", expect=1)
        assert "nobody@centre.gov.uk" in result.stderr


def test_a_deleted_users_cookie_does_not_sign_in_the_next_user_with_its_id(
    app, cli, people, database
):
    leaver = cli.json("users", "create", "leaver@centre.gov.uk", "--role", "finance")
    client = app.test_client()
    assert login(client, leaver["email"], leaver["password"]).status_code == 302
    copy = cookie_of(client)
    with database.transaction() as session:
        old_id = session.scalar(select(User.id).where(User.email == leaver["email"]))
        session.execute(delete(User).where(User.id == old_id))
    cli("users", "create", "joiner@centre.gov.uk", "--role", "admin")
    with database.transaction() as session:  # SQLite reuses the id; make PostgreSQL do so too
        session.execute(update(User).where(User.email == "joiner@centre.gov.uk").values(id=old_id))
    assert_signed_out(replayed(app, copy))


# -- idle timeout and absolute lifetime -----------------------------------------------------


def age(client, key: str, by: timedelta) -> None:
    """Move one of the session's clocks (`signed_in_at`, `seen_at`: Unix seconds) back."""
    with client.session_transaction() as session:
        session[key] -= by.total_seconds()


def test_a_session_idle_for_30_minutes_ends(app, people):
    client = signed_in(app, people["finance"])
    age(client, "seen_at", timedelta(minutes=29))
    assert client.get("/").status_code == 200  # activity restarts the idle clock
    age(client, "seen_at", timedelta(minutes=29))
    assert client.get("/").status_code == 200
    age(client, "seen_at", timedelta(minutes=30, seconds=1))
    assert_signed_out(client)


def test_a_session_ends_12_hours_after_sign_in_however_active(app, people):
    client = signed_in(app, people["finance"])
    age(client, "signed_in_at", timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    age(client, "signed_in_at", timedelta(minutes=1, seconds=1))
    assert_signed_out(client)
    assert app.permanent_session_lifetime == timedelta(hours=12)


def test_the_timeouts_are_configurable(people, instance, monkeypatch):
    monkeypatch.setenv("OPSPLATFORM_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("OPSPLATFORM_SESSION_HOURS", "2")
    read = load_config(instance)
    assert (read.session_idle, read.session_lifetime) == (timedelta(minutes=5), timedelta(hours=2))
    monkeypatch.delenv("OPSPLATFORM_SESSION_IDLE_MINUTES")
    monkeypatch.delenv("OPSPLATFORM_SESSION_HOURS")
    app = create_app(read)  # a configuration handed in, not read from the environment
    try:
        assert app.permanent_session_lifetime == timedelta(hours=2)
        client = signed_in(app, people["finance"])
        age(client, "seen_at", timedelta(minutes=5, seconds=1))
        assert_signed_out(client)
        client = signed_in(app, people["finance"])
        age(client, "signed_in_at", timedelta(hours=2, seconds=1))
        assert_signed_out(client)
    finally:
        close_app(app)


@pytest.mark.parametrize(
    "name, value",
    [
        ("OPSPLATFORM_SESSION_IDLE_MINUTES", "0"),
        ("OPSPLATFORM_SESSION_IDLE_MINUTES", "ten"),
        ("OPSPLATFORM_SESSION_HOURS", "-1"),
    ],
)
def test_a_bad_timeout_setting_stops_the_app_starting(instance, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        create_app()


# -- caches ---------------------------------------------------------------------------------


def test_signed_in_pages_downloads_and_api_answers_are_not_stored(app, people):
    finance = signed_in(app, people["finance"])
    bearer = {"Authorization": f"Bearer {people['finance']['token']}"}
    anonymous = app.test_client()
    responses = [finance.get(path) for path in PAGES] + [
        finance.get("/statements/NOPE"),
        anonymous.get("/login"),
        anonymous.get("/"),
        anonymous.get("/api/v1/statements", headers=bearer),
        anonymous.get(f"/api/v1/statements/{WYR_APRIL}.xlsx", headers=bearer),
        anonymous.get("/api/v1/statements"),
    ]
    for response in responses:
        assert response.headers.get("Cache-Control") == "no-store", response.request.path
    # static files may be kept (the stylesheet is built by make: a checkout may lack it)
    with anonymous.get("/static/govuk.css") as stylesheet:  # (a file: closed after)
        assert "no-store" not in stylesheet.headers.get("Cache-Control", "")
