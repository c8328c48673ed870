"""Users and sign-in (issue 15): the administrators' users pages, invitations and reset links,
changing one's own password, the one-time password's first sign-in, `?next=` and the
audit entries of sign-ins."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from opsplatform.accounts import set_password
from opsplatform.db import utcnow
from opsplatform.models import AuditEvent, Notification, PasswordLink, User
from tests.integration.test_web import WYR_APRIL, Forms, csrf_token, login, signed_in

NEW_PASSWORD = "correct horse battery staple"
LINK = re.compile(r"/password/([A-Za-z0-9_-]{20,})")
BANNER = "You signed in with a one-time password"


# -- helpers -------------------------------------------------------------------------------


def post_form(browser, path: str, **fields):
    """GET the form at `path`, then POST `fields` to it with the page's CSRF token."""
    page = browser.get(path)
    assert page.status_code == 200, page.text
    return browser.post(path, data={"csrf_token": csrf_token(page.text), **fields})


def confirm(client, check_page) -> object:
    """Press the button of a check page: its one form, with its hidden fields as they are."""
    form = Forms(check_page.text).forms[-1]
    data = {name: field.get("value", "") for name, field in form["inputs"].items()}
    return client.post(form["action"], data=data)


def mails(database, to: str) -> list[Notification]:
    with database.transaction() as session:
        found = session.scalars(
            select(Notification).where(Notification.recipient == to).order_by(Notification.id)
        ).all()
        session.expunge_all()
        return list(found)


def link_token(database, to: str) -> str:
    """The token of the newest link e-mailed to `to`, read from the outbox."""
    found = LINK.search(mails(database, to)[-1].body)
    assert found, "the message holds no link"
    return found.group(1)


def audit(database) -> list[AuditEvent]:
    """The audit log, newest first."""
    with database.transaction() as session:
        found = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).all()
        session.expunge_all()
        return list(found)


def choose_password(database, person: dict) -> dict:
    """`person` with a password of its own, no longer a one-time one."""
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == person["email"])).one()
        set_password(user, NEW_PASSWORD)
    return {**person, "password": NEW_PASSWORD}


def user_row(database, email: str) -> User:
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == email)).one()
        session.expunge(user)
        return user


def count(database, model) -> int:
    with database.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def set_link_password(client, token: str, password: str, again: str | None = None):
    """Send the form of a link's page (with a CSRF token from the sign-in page, as the
    link's own page may be gone)."""
    token_field = csrf_token(client.get("/login").text)
    again = password if again is None else again
    return client.post(
        f"/password/{token}", data={"password": password, "again": again, "csrf_token": token_field}
    )


# -- administrators only -------------------------------------------------------------------

ADMIN_PAGES = ["/users", "/users/invite", "/users/1", "/users/1/role", "/users/1/disable"]


@pytest.mark.parametrize(
    "who,status", [("finance", 403), ("manager", 403), ("auditor", 403), ("wyr", 404)]
)
def test_only_administrators_reach_the_users_pages(app, people, who, status):
    client = signed_in(app, people[who])
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == status, path
    token = csrf_token(client.get("/").text)
    for path in ("/users/invite", "/users/1/disable", "/users/1/send-link"):
        assert client.post(path, data={"csrf_token": token}).status_code == status, path
    assert client.get("/users/1/disable").status_code == status


def test_the_users_page_lists_everyone_with_role_client_status_and_last_sign_in(app, people, cli):
    cli("users", "disable", people["manager"]["email"])
    admin = signed_in(app, people["admin"])
    page = admin.get("/users")
    assert page.status_code == 200
    for person in people.values():
        assert person["email"] in page.text
    rows = {
        cells[0]: cells[1:]
        for cells in re.findall(
            r'<tr class="govuk-table__row">\s*<th scope="row"[^>]*><a[^>]*>([^<]+)</a></th>\s*'
            r"<td[^>]*>([^<]+)</td>\s*<td[^>]*>([^<]+)</td>\s*<td[^>]*>(.+?)</td>\s*<td[^>]*>([^<]+)</td>",
            page.text,
        )
    }
    assert rows["pay@wyre.gov.uk"][:2] == ("Client council", "WYR")
    assert "Invited" in rows["pay@wyre.gov.uk"][2] and rows["pay@wyre.gov.uk"][3] == "Never"
    assert "Disabled" in rows[people["manager"]["email"]][2]
    assert "One-time password" in rows["admin@centre.gov.uk"][2]  # signed in, not yet changed
    assert rows["admin@centre.gov.uk"][3] != "Never"


# -- inviting ------------------------------------------------------------------------------


def test_an_invitation_is_checked_then_sent_and_its_link_sets_the_password_once(
    app, people, database
):
    admin = signed_in(app, people["admin"])
    radios = Forms(admin.get("/users/invite").text).forms[-1]["inputs"]
    assert (
        radios["role"]["type"] == "radio" and 'value="auditor"' in admin.get("/users/invite").text
    )
    users_before = count(database, User)
    check = post_form(
        admin, "/users/invite", email="New.Clerk@Wyre.gov.uk", role="client", client="WYR"
    )
    assert check.status_code == 200
    assert "Check the invitation" in check.text and "Wyre" in check.text
    # the check page writes nothing
    assert count(database, User) == users_before
    assert mails(database, "new.clerk@wyre.gov.uk") == []
    done = confirm(admin, check)
    assert done.status_code == 302 and done.headers["Location"].startswith("/users/")
    assert (
        "An invitation was sent to new.clerk@wyre.gov.uk"
        in admin.get(done.headers["Location"]).text
    )
    invited = user_row(database, "new.clerk@wyre.gov.uk")
    assert (invited.role, invited.client_id is not None) == ("client", True)
    [mail] = mails(database, "new.clerk@wyre.gov.uk")
    assert "within 7 days" in mail.body
    token = link_token(database, "new.clerk@wyre.gov.uk")
    with database.transaction() as session:
        stored = session.scalars(select(PasswordLink)).one()
        assert token not in stored.token_hash and len(stored.token_hash) == 64
        assert timedelta(days=6, hours=23) < stored.expires_at - utcnow() <= timedelta(days=7)
    actions = [(e.actor, e.action, e.subject) for e in audit(database)[:2]]
    assert actions == [
        ("admin@centre.gov.uk", "user invite", "new.clerk@wyre.gov.uk"),
        ("admin@centre.gov.uk", "user create", "new.clerk@wyre.gov.uk"),
    ]

    newcomer = app.test_client()
    form = newcomer.get(f"/password/{token}")
    assert form.status_code == 200 and "Choose your password" in form.text
    short = set_link_password(newcomer, token, "too short")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    differs = set_link_password(newcomer, token, NEW_PASSWORD, "something else entirely")
    assert differs.status_code == 400 and "The passwords do not match" in differs.text
    assert user_row(database, "new.clerk@wyre.gov.uk").password_hash == invited.password_hash
    done = set_link_password(newcomer, token, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert "Your password is set" in newcomer.get("/login").text
    assert audit(database)[0].action == "password set"
    # used once: the link is gone, and the password it set signs in straight to Home
    assert newcomer.get(f"/password/{token}").status_code == 410
    assert set_link_password(app.test_client(), token, "another long password").status_code == 410
    response = login(app.test_client(), "new.clerk@wyre.gov.uk", NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"email": "", "role": "finance"}, "Enter the new user&#39;s email address"),
        ({"email": "not-an-email", "role": "finance"}, "is not an e-mail address"),
        ({"email": "FINANCE@centre.gov.uk", "role": "auditor"}, "There is already a user"),
        ({"email": "x@wyre.gov.uk", "role": "client"}, "Select the client council"),
        ({"email": "x@wyre.gov.uk"}, "Select a role"),
    ],
)
def test_a_bad_invitation_names_the_problem_and_writes_nothing(
    app, people, database, fields, message
):
    admin = signed_in(app, people["admin"])
    before = (count(database, User), count(database, Notification))
    page = post_form(admin, "/users/invite", **fields)
    assert page.status_code == 400
    assert 'class="govuk-error-summary"' in page.text and message in page.text
    # even a forged confirmation is checked again
    forged = admin.post(
        "/users/invite", data={**fields, "confirmed": "yes", "csrf_token": csrf_token(page.text)}
    )
    assert forged.status_code == 400
    assert (count(database, User), count(database, Notification)) == before


def test_an_expired_invitation_is_refused(app, people, cli, database):
    cli("users", "invite", "late@centre.gov.uk", "--role", "finance")
    token = link_token(database, "late@centre.gov.uk")
    with database.transaction() as session:
        session.execute(update(PasswordLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    client = app.test_client()
    assert client.get(f"/password/{token}").status_code == 410
    page = client.get("/login")
    refused = client.post(
        f"/password/{token}",
        data={"password": NEW_PASSWORD, "again": NEW_PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert refused.status_code == 410 and "expired or has already been used" in refused.text
    assert login(app.test_client(), "late@centre.gov.uk", NEW_PASSWORD).status_code == 401


def test_a_new_link_replaces_the_old_one(app, people, database):
    admin = signed_in(app, people["admin"])
    with database.transaction() as session:
        auditor_id = session.scalars(
            select(User.id).where(User.email == people["auditor"]["email"])
        ).one()
    first_check = admin.get(f"/users/{auditor_id}/send-link")
    assert "Send the invitation again?" in first_check.text  # never signed in
    assert confirm(admin, first_check).status_code == 302
    first = link_token(database, people["auditor"]["email"])
    assert confirm(admin, admin.get(f"/users/{auditor_id}/send-link")).status_code == 302
    second = link_token(database, people["auditor"]["email"])
    assert first != second
    assert app.test_client().get(f"/password/{first}").status_code == 410
    assert app.test_client().get(f"/password/{second}").status_code == 200
    assert audit(database)[0].action == "user invitation sent"


# -- disabling, enabling, roles ------------------------------------------------------------


def user_id(database, email: str) -> int:
    return user_row(database, email).id


def test_disabling_through_the_page_is_checked_then_ends_sessions_and_tokens(
    app, people, database, client
):
    manager = people["manager"]
    theirs = signed_in(app, manager)
    admin = signed_in(app, people["admin"])
    target = user_id(database, manager["email"])
    check = admin.get(f"/users/{target}/disable")
    assert check.status_code == 200 and "will not be able to sign in" in check.text
    assert user_row(database, manager["email"]).active  # the check page changes nothing
    assert confirm(admin, check).status_code == 302
    assert theirs.get("/").status_code == 302
    assert login(app.test_client(), manager["email"], manager["password"]).status_code == 401
    bearer = {"Authorization": f"Bearer {manager['token']}"}
    assert client.get("/api/v1/statements", headers=bearer).status_code == 401
    disabled = next(e for e in audit(database) if e.action == "user disable")
    assert disabled.actor == "admin@centre.gov.uk"
    # enabled again, through its own check page
    assert confirm(admin, admin.get(f"/users/{target}/enable")).status_code == 302
    assert client.get("/api/v1/statements", headers=bearer).status_code == 200
    assert login(app.test_client(), manager["email"], manager["password"]).status_code == 302
    # a disabled user is sent no link
    assert confirm(admin, admin.get(f"/users/{target}/disable")).status_code == 302
    assert (
        admin.post(
            f"/users/{target}/send-link", data={"csrf_token": csrf_token(admin.get("/users").text)}
        ).status_code
        == 400
    )


def test_an_administrator_cannot_disable_itself_or_change_its_own_role(app, people, database):
    admin = signed_in(app, people["admin"])
    own = user_id(database, people["admin"]["email"])
    assert admin.get(f"/users/{own}/disable").status_code == 403
    assert admin.get(f"/users/{own}/role").status_code == 403
    assert user_row(database, people["admin"]["email"]).active


def test_a_role_change_through_the_page_is_checked_then_made(app, people, database):
    wyr = people["wyr"]
    theirs = signed_in(app, wyr)
    admin = signed_in(app, people["admin"])
    target = user_id(database, wyr["email"])
    missing = post_form(admin, f"/users/{target}/role", role="client", client="")
    assert missing.status_code == 400 and "Select the client council" in missing.text
    check = post_form(admin, f"/users/{target}/role", role="client", client="LAN")
    assert check.status_code == 200 and "Check the change of role" in check.text
    assert (
        user_row(database, wyr["email"]).client_id
        != user_row(database, people["lan"]["email"]).client_id
    )
    assert confirm(admin, check).status_code == 302
    assert (
        user_row(database, wyr["email"]).client_id
        == user_row(database, people["lan"]["email"]).client_id
    )
    assert theirs.get("/").status_code == 302  # signed out everywhere
    event = audit(database)[0]
    assert (event.actor, event.action, json.loads(event.detail)["client"]) == (
        "admin@centre.gov.uk",
        "user role",
        "LAN",
    )


# -- forgotten passwords -------------------------------------------------------------------


def forgot(client, email: str, remote: str = "127.0.0.1"):
    page = client.get("/password/forgot", environ_base={"REMOTE_ADDR": remote})
    return client.post(
        "/password/forgot",
        data={"email": email, "csrf_token": csrf_token(page.text)},
        environ_base={"REMOTE_ADDR": remote},
    )


def test_a_forgotten_password_never_says_whether_the_address_has_an_account(
    app, people, database, cli
):
    cli("users", "disable", people["manager"]["email"])
    known = forgot(app.test_client(), people["finance"]["email"].upper())
    unknown = forgot(app.test_client(), "nobody@nowhere.gov.uk")
    disabled = forgot(app.test_client(), people["manager"]["email"])
    assert known.status_code == unknown.status_code == disabled.status_code == 200
    words = "If that address has an account, we have sent a link"
    assert words in known.text and words in unknown.text and words in disabled.text
    assert len(mails(database, people["finance"]["email"])) == 1
    assert mails(database, "nobody@nowhere.gov.uk") == []
    assert mails(database, people["manager"]["email"]) == []
    with database.transaction() as session:
        link = session.scalars(select(PasswordLink)).one()
        assert timedelta(minutes=59) < link.expires_at - utcnow() <= timedelta(hours=1)
    assert audit(database)[0].action == "password reset sent"


def test_a_reset_link_sets_the_password_once_and_ends_every_session(app, people, database):
    person = people["finance"]
    elsewhere = signed_in(app, person)
    forgot(app.test_client(), person["email"])
    token = link_token(database, person["email"])
    done = set_link_password(app.test_client(), token, NEW_PASSWORD)
    assert done.status_code == 302
    assert elsewhere.get("/").status_code == 302, "a reset ends the user's other sessions"
    assert login(app.test_client(), person["email"], person["password"]).status_code == 401
    assert login(app.test_client(), person["email"], NEW_PASSWORD).status_code == 302
    assert set_link_password(app.test_client(), token, "yet another long one").status_code == 410
    assert "password reset" in [e.action for e in audit(database)[:3]]


def test_an_expired_reset_link_is_refused(app, people, database):
    forgot(app.test_client(), people["finance"]["email"])
    token = link_token(database, people["finance"]["email"])
    with database.transaction() as session:
        session.execute(update(PasswordLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert set_link_password(app.test_client(), token, NEW_PASSWORD).status_code == 410


def test_a_made_up_link_is_refused(client, people):
    assert client.get("/password/" + "x" * 43).status_code == 410


def test_reset_requests_are_throttled_per_address_typed(app, people, database):
    email = people["finance"]["email"]
    for n in range(5):
        assert forgot(app.test_client(), email, remote=f"10.0.0.{n}").status_code == 200
    locked = forgot(app.test_client(), email, remote="10.0.0.9")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert len(mails(database, email)) == 5
    # an unknown address is counted the same, so the lock tells nothing either
    for n in range(5):
        forgot(app.test_client(), "nobody@nowhere.gov.uk", remote=f"10.0.1.{n}")
    assert forgot(app.test_client(), "nobody@nowhere.gov.uk").status_code == 429


# -- one's own password --------------------------------------------------------------------


def change(client, current: str, new: str, again: str | None = None, path="/account/password"):
    return post_form(
        client, path, current=current, password=new, again=new if again is None else again
    )


def test_changing_ones_own_password(app, people, database):
    person = choose_password(database, people["auditor"])
    client = signed_in(app, person)
    elsewhere = signed_in(app, person)
    wrong = change(client, "not my password", "a brand new password")
    assert wrong.status_code == 400 and "Your current password is not right" in wrong.text
    mismatch = change(client, NEW_PASSWORD, "a brand new password", "a different one")
    assert mismatch.status_code == 400 and "The passwords do not match" in mismatch.text
    short = change(client, NEW_PASSWORD, "short")
    assert short.status_code == 400 and "at least 12 characters" in short.text
    assert login(app.test_client(), person["email"], NEW_PASSWORD).status_code == 302
    done = change(client, NEW_PASSWORD, "a brand new password")
    assert done.status_code == 302 and done.headers["Location"] == "/account/password/changed"
    assert "Password changed" in client.get(done.headers["Location"]).text
    assert client.get("/").status_code == 200, "this session carries on"
    assert elsewhere.get("/").status_code == 302, "other sessions end"
    assert login(app.test_client(), person["email"], NEW_PASSWORD).status_code == 401
    assert login(app.test_client(), person["email"], "a brand new password").status_code == 302
    event = next(e for e in audit(database) if e.action == "password change")
    assert NEW_PASSWORD not in event.detail and "a brand new password" not in event.detail


def test_a_one_time_password_leads_to_the_change_page_once_and_a_banner_until_changed(
    app, people, database
):
    person = people["wyr"]
    client = app.test_client()
    response = login(client, person["email"], person["password"])
    assert response.headers["Location"] == "/account/password"
    # nothing is blocked: pages and downloads answer as ever, with the banner
    statement = client.get(f"/statements/{WYR_APRIL}")
    assert statement.status_code == 200 and BANNER in statement.text
    assert client.get("/statements/TSS-202604-LAN").status_code == 404
    assert BANNER in client.get("/").text
    bearer = {"Authorization": f"Bearer {person['token']}"}
    assert client.get("/api/v1/statements", headers=bearer).status_code == 200
    assert change(client, person["password"], NEW_PASSWORD).status_code == 302
    assert BANNER not in client.get("/").text
    assert user_row(database, person["email"]).one_time_until is None


def test_a_one_time_password_expires_after_7_days(app, people, database):
    person = people["finance"]
    with database.transaction() as session:
        session.execute(
            update(User)
            .where(User.email == person["email"])
            .values(one_time_until=utcnow() - timedelta(seconds=1))
        )
    refused = login(app.test_client(), person["email"], person["password"])
    assert refused.status_code == 401 and "one-time password has expired" in refused.text
    event = audit(database)[0]
    assert (event.action, json.loads(event.detail)["expired"]) == ("sign in failed", True)


def test_users_create_and_reset_give_a_one_time_password_for_7_days(cli, people, database):
    made = cli.json("users", "create", "fresh@centre.gov.uk", "--role", "finance")
    until = user_row(database, made["email"]).one_time_until
    assert timedelta(days=6, hours=23) < until - utcnow() <= timedelta(days=7)


# -- ?next= --------------------------------------------------------------------------------


def test_a_page_sends_the_signed_out_to_sign_in_and_back(app, people, database):
    person = choose_password(database, people["wyr"])
    client = app.test_client()
    wanted = f"/statements/{WYR_APRIL}?tab=lines"
    response = client.get(wanted)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/statements/TSS-202604-WYR?tab%3Dlines"
    page = client.get(response.headers["Location"])
    form = next(f for f in Forms(page.text).forms if f["action"].startswith("/login"))
    data = {
        "email": person["email"],
        "password": person["password"],
        "csrf_token": csrf_token(page.text),
    }
    signed = client.post(form["action"], data=data)
    assert signed.status_code == 302 and signed.headers["Location"] == wanted


def test_a_one_time_password_goes_on_to_next_after_the_change(app, people):
    person = people["wyr"]
    client = app.test_client()
    target = f"/statements/{WYR_APRIL}"
    page = client.get(f"/login?next={target}")
    data = {
        "email": person["email"],
        "password": person["password"],
        "csrf_token": csrf_token(page.text),
    }
    response = client.post(f"/login?next={target}", data=data)
    assert response.headers["Location"] == f"/account/password?next={target}"
    done = change(client, person["password"], NEW_PASSWORD, path=response.headers["Location"])
    changed = client.get(done.headers["Location"])
    assert f'href="{target}"' in changed.text


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/statements",
        "https://evil.example",
        "https://evil.example/login",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\r\nLocation: https://evil.example",
        "/\tevil",
        "",
    ],
)
def test_next_outside_the_site_lands_on_home(app, people, database, target):
    person = choose_password(database, people["finance"])
    client = app.test_client()
    page = client.get("/login", query_string={"next": target})
    assert "evil" not in "".join(f["action"] for f in Forms(page.text).forms)
    data = {
        "email": person["email"],
        "password": person["password"],
        "csrf_token": csrf_token(page.text),
    }
    response = client.post("/login", query_string={"next": target}, data=data)
    assert response.status_code == 302 and response.headers["Location"] == "/"


# -- the audit log of sign-ins -------------------------------------------------------------


def test_sign_ins_failures_and_sign_outs_are_audited_without_passwords(app, people, database):
    person = people["finance"]
    assert login(app.test_client(), person["email"], "Wrong-Password-123").status_code == 401
    assert login(app.test_client(), "Nobody@Nowhere.gov.uk", "Guess-123").status_code == 401
    client = signed_in(app, person)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    events = [(e.actor, e.action, e.subject) for e in audit(database)[:4]]
    assert events == [
        (person["email"], "sign out", person["email"]),
        (person["email"], "sign in", person["email"]),
        ("sign-in form", "sign in failed", "nobody@nowhere.gov.uk"),
        ("sign-in form", "sign in failed", person["email"]),
    ]
    every = " ".join(e.detail + e.subject for e in audit(database))
    assert "Wrong-Password-123" not in every and "Guess-123" not in every
    assert person["password"] not in every


# -- the command line ----------------------------------------------------------------------


def test_users_invite_emails_a_link_and_prints_nothing_secret(cli, people, database):
    result = cli("users", "invite", "Clerk@Lancaster.gov.uk", "--role", "client", "--client", "lan")
    assert "clerk@lancaster.gov.uk" in result.stdout and "7 days" in result.stdout
    token = link_token(database, "clerk@lancaster.gov.uk")
    assert token not in result.stdout
    made = cli.json("users", "invite", "boss@centre.gov.uk", "--role", "manager")
    assert made == {"email": "boss@centre.gov.uk", "role": "manager", "client": None}
    assert link_token(database, "boss@centre.gov.uk") not in json.dumps(made)
    refused = cli("users", "invite", "x@wyre.gov.uk", "--role", "client", expect=1)
    assert "--client" in refused.stderr
    listed = cli.json("users", "list")
    assert all(set(u) == {"email", "role", "client", "active"} for u in listed)
    assert {
        "email": "clerk@lancaster.gov.uk",
        "role": "client",
        "client": "LAN",
        "active": True,
    } in listed
