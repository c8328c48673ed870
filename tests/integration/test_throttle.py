"""The throttle on failed sign-ins and bad API tokens (issue 12, finding 4): counted in the
database per account and per client address, shared by every worker, with lock-outs that
lengthen; behind a proxy the client's address is taken from X-Forwarded-For only when
OPSPLATFORM_TRUSTED_PROXIES says how many proxies to trust."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from opsplatform.entrypoints.app import close_app, create_app
from opsplatform.throttle import ACCOUNT, ADDRESS, TOKEN
from tests.integration.test_web import csrf_token, login

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fail(client, email: str, times: int, remote: str = "127.0.0.1") -> None:
    for _ in range(times):
        assert login(client, email, "wrong", remote=remote).status_code == 401


def retry_after(response) -> int:
    seconds = int(response.headers["Retry-After"])
    assert seconds > 0
    return seconds


def throttle_of(app):
    return app.extensions["opsplatform.throttle"]


def lock_address(app, address: str, policy=ADDRESS) -> None:
    """Count an address's failures up to its policy's limit, as that many attempts would."""
    throttle = throttle_of(app)
    with app.extensions["opsplatform.db"].transaction() as session:
        for _ in range(policy.limit):
            throttle.failed(session, policy, address)


# -- per account ----------------------------------------------------------------------------


def test_one_accounts_failures_do_not_lock_out_another_from_the_same_address(app, people):
    client = app.test_client()
    fail(client, people["finance"]["email"], 10)
    assert login(client, people["finance"]["email"], "wrong").status_code == 429
    for name in ("manager", "wyr"):
        person = people[name]
        assert login(client, person["email"], person["password"]).status_code == 302


def test_a_locked_account_gets_429_with_retry_after_from_any_address(app, people):
    person = people["finance"]
    fail(app.test_client(), person["email"], 10)
    for remote in ("127.0.0.1", "10.0.0.7"):
        locked = login(app.test_client(), person["email"], person["password"], remote=remote)
        assert locked.status_code == 429
        assert 0 < retry_after(locked) <= 15 * 60
        assert "Too many failed sign-ins" in locked.text
        assert 'class="govuk-error-summary"' in locked.text


def test_users_reset_lifts_a_lock_out(app, cli, people):
    person = people["finance"]
    fail(app.test_client(), person["email"], 10)
    assert login(app.test_client(), person["email"], person["password"]).status_code == 429
    made = cli.json("users", "reset", person["email"])
    assert login(app.test_client(), person["email"], made["password"]).status_code == 302


def test_an_unknown_email_is_counted_like_a_real_one(app, people):
    client = app.test_client()
    fail(client, "Nobody@Nowhere.gov.uk", 10)
    assert login(client, " nobody@nowhere.gov.uk", "wrong").status_code == 429


def test_counts_are_shared_by_workers(app, people):
    """Two apps on one database stand for two gunicorn workers (or hosts)."""
    other = create_app()
    try:
        person = people["finance"]
        fail(app.test_client(), person["email"], 5)
        fail(other.test_client(), person["email"], 5)
        assert login(app.test_client(), person["email"], "wrong").status_code == 429
        assert login(other.test_client(), person["email"], "wrong").status_code == 429
    finally:
        close_app(other)


def test_forms_that_check_no_password_are_not_counted(app, people):
    """A refused CSRF token or an empty password checks no password: nothing to count."""
    person = people["finance"]
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    for _ in range(6):
        assert client.post("/login", data={"email": person["email"]}).status_code == 400
        empty = {"email": person["email"], "csrf_token": token}
        assert client.post("/login", data=empty).status_code == 401
    assert login(client, person["email"], person["password"]).status_code == 302


# -- per address ----------------------------------------------------------------------------


def test_an_address_with_many_failures_is_locked_for_every_account(app, people):
    lock_address(app, "192.0.2.1")
    person = people["finance"]
    locked = login(app.test_client(), person["email"], person["password"], remote="192.0.2.1")
    assert locked.status_code == 429
    assert retry_after(locked) <= 15 * 60
    assert login(app.test_client(), person["email"], person["password"]).status_code == 302


def test_failed_sign_ins_count_against_the_address(app, people):
    throttle = throttle_of(app)
    with app.extensions["opsplatform.db"].transaction() as session:
        for _ in range(ADDRESS.limit - 1):
            throttle.failed(session, ADDRESS, "192.0.2.2")
    client = app.test_client()
    fail(client, "someone@centre.gov.uk", 1, remote="192.0.2.2")
    person = people["manager"]
    assert login(client, person["email"], person["password"], remote="192.0.2.2").status_code == 429


# -- behind a proxy -------------------------------------------------------------------------


def through_proxy(client, person: dict, forwarded: str):
    token = csrf_token(client.get("/login").text)
    data = {"email": person["email"], "password": person["password"], "csrf_token": token}
    return client.post("/login", data=data, headers={"X-Forwarded-For": forwarded})


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(app, people):
    lock_address(app, "203.0.113.9")
    assert through_proxy(app.test_client(), people["finance"], "203.0.113.9").status_code == 302


def test_x_forwarded_for_names_the_client_behind_trusted_proxies(people, monkeypatch):
    monkeypatch.setenv("OPSPLATFORM_TRUSTED_PROXIES", "1")
    app = create_app()
    try:
        lock_address(app, "203.0.113.9")
        person = people["finance"]
        assert through_proxy(app.test_client(), person, "203.0.113.9").status_code == 429
        # nginx appends the address it saw; what the client wrote before it is not trusted
        spoofed = through_proxy(app.test_client(), person, "203.0.113.9, 198.51.100.4")
        assert spoofed.status_code == 302
        # the proxy's own address is not the client's: others behind it are not locked out
        assert login(app.test_client(), person["email"], person["password"]).status_code == 302
    finally:
        close_app(app)


@pytest.mark.parametrize("value", ["-1", "one"])
def test_a_bad_trusted_proxies_setting_stops_the_app_starting(instance, monkeypatch, value):
    monkeypatch.setenv("OPSPLATFORM_TRUSTED_PROXIES", value)
    with pytest.raises(ValueError, match="OPSPLATFORM_TRUSTED_PROXIES"):
        create_app()


# -- API tokens ----------------------------------------------------------------------------


def test_bad_api_tokens_are_throttled_per_address(app, people):
    client = app.test_client()
    bad = {"Authorization": "Bearer not-a-real-token"}
    for _ in range(TOKEN.limit):
        assert client.get("/api/v1/statements", headers=bad).status_code == 401
    locked = client.get("/api/v1/statements", headers=bad)
    assert locked.status_code == 429
    assert retry_after(locked) <= 15 * 60
    assert locked.mimetype == "application/json"
    assert [list(e) for e in locked.get_json()["errors"]] == [["message"]]
    good = {"Authorization": f"Bearer {people['finance']['token']}"}
    # while the address is locked out, no token is looked at from it
    assert client.get("/api/v1/statements", headers=good).status_code == 429
    other = client.get("/api/v1/statements", headers=good, environ_base={"REMOTE_ADDR": "10.0.0.8"})
    assert other.status_code == 200


def test_missing_tokens_and_good_tokens_are_not_counted(app, people):
    client = app.test_client()
    good = {"Authorization": f"Bearer {people['finance']['token']}"}
    for _ in range(TOKEN.limit + 5):
        assert client.get("/api/v1/statements").status_code == 401
        assert client.get("/api/v1/statements", headers=good).status_code == 200


# -- the counts themselves ------------------------------------------------------------------


def counted(throttle, database, policy, value: str, at: datetime, times: int = 1):
    with database.transaction() as session:
        for _ in range(times):
            throttle.failed(session, policy, value, now=at)


def locked_for(throttle, database, policy, value: str, at: datetime) -> int | None:
    with database.transaction() as session:
        return throttle.locked(session, policy, value, now=at)


def test_lock_outs_lengthen_and_are_forgotten_after_a_quiet_day(app, database):
    throttle = throttle_of(app)
    at = T0
    assert ACCOUNT.limit == 10 and ACCOUNT.window == ACCOUNT.lock == timedelta(minutes=15)
    for minutes in (15, 30, 60, 120, 240, 240):
        counted(throttle, database, ACCOUNT, "a@b.gov.uk", at, ACCOUNT.limit - 1)
        assert locked_for(throttle, database, ACCOUNT, "a@b.gov.uk", at) is None
        counted(throttle, database, ACCOUNT, "a@b.gov.uk", at)
        assert locked_for(throttle, database, ACCOUNT, "a@b.gov.uk", at) == minutes * 60
        at += timedelta(minutes=minutes)
        assert locked_for(throttle, database, ACCOUNT, "a@b.gov.uk", at) is None
    # a day with no failures: the next lock-out is the first again
    at += timedelta(hours=24)
    counted(throttle, database, ACCOUNT, "a@b.gov.uk", at, ACCOUNT.limit)
    assert locked_for(throttle, database, ACCOUNT, "a@b.gov.uk", at) == 15 * 60


def test_failures_outside_the_window_do_not_add_up(app, database):
    throttle = throttle_of(app)
    counted(throttle, database, ACCOUNT, "a@b.gov.uk", T0, ACCOUNT.limit - 1)
    later = T0 + ACCOUNT.window
    counted(throttle, database, ACCOUNT, "a@b.gov.uk", later, ACCOUNT.limit - 1)
    assert locked_for(throttle, database, ACCOUNT, "a@b.gov.uk", later) is None


def test_the_table_holds_no_email_or_address(app, database):
    throttle = throttle_of(app)
    counted(throttle, database, ACCOUNT, "secret@centre.gov.uk", T0)
    counted(throttle, database, ADDRESS, "192.0.2.77", T0)
    with database.transaction() as session:
        rows = session.execute(text("SELECT * FROM failure_counts")).all()
    assert len(rows) == 2
    assert not any("secret" in str(row) or "192.0.2.77" in str(row) for row in rows)
