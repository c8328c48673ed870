"""Users and sign-in in a real browser: an administrator invites a user who follows the
e-mailed link, and a council follows a deep link to its statement while signed out."""

from __future__ import annotations

import re

from sqlalchemy import select

from opsplatform.accounts import set_password
from opsplatform.models import Notification, User
from tests.e2e.conftest import follow, sign_in

NEW_PASSWORD = "four unrelated words here"


def emailed_link(database, to: str) -> str:
    """The path of the newest link e-mailed to `to`, read from the outbox."""
    with database.transaction() as session:
        body = session.scalars(
            select(Notification.body)
            .where(Notification.recipient == to)
            .order_by(Notification.id.desc())
        ).first()
    found = re.search(r"/password/[A-Za-z0-9_-]+", body or "")
    assert found, f"no link was e-mailed to {to}"
    return found.group(0)


def press(browser, label: str) -> None:
    from selenium.webdriver.common.by import By

    follow(browser, browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']"))


def test_an_administrator_invites_a_user_who_sets_a_password_and_signs_in(
    server, browser, cli, database
):
    from selenium.webdriver.common.by import By

    base, _ = server
    admin = cli.json("users", "create", "admin@centre.gov.uk", "--role", "admin")
    sign_in(browser, base, admin)
    # a one-time password: the change-password page comes first, nothing else is blocked
    assert browser.find_element(By.TAG_NAME, "h1").text == "Change your password"
    browser.get(f"{base}/users")
    assert "You signed in with a one-time password" in browser.page_source
    follow(browser, browser.find_element(By.LINK_TEXT, "Invite a user"))
    browser.find_element(By.ID, "email").send_keys("new.officer@centre.gov.uk")
    browser.find_element(By.ID, "role-finance").click()
    press(browser, "Continue")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Check the invitation"
    press(browser, "Send the invitation")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "An invitation was sent to new.officer@centre.gov.uk" in banner.text
    press(browser, "Sign out")

    browser.get(base + emailed_link(database, "new.officer@centre.gov.uk"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Choose your password"
    browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "again").send_keys(NEW_PASSWORD)
    press(browser, "Set password")
    banner = browser.find_element(By.CSS_SELECTOR, ".govuk-notification-banner--success")
    assert "Your password is set" in banner.text
    sign_in(browser, base, {"email": "new.officer@centre.gov.uk", "password": NEW_PASSWORD})
    assert browser.current_url == f"{base}/"
    assert "Sign out" in browser.page_source
    assert "one-time password" not in browser.page_source


def test_a_council_follows_a_deep_link_while_signed_out_and_lands_on_it(server, browser, database):
    from selenium.webdriver.common.by import By

    base, people = server
    person = people["client"]
    with database.transaction() as session:
        user = session.scalars(select(User).where(User.email == person["email"])).one()
        set_password(user, NEW_PASSWORD)
    browser.get(f"{base}/statements/TSS-202605-WYR")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
    sign_in_here(browser, person["email"], NEW_PASSWORD)
    assert browser.current_url == f"{base}/statements/TSS-202605-WYR"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Statement TSS-202605-WYR"


def test_a_one_time_password_is_changed_on_the_way_to_a_deep_link(server, browser):
    from selenium.webdriver.common.by import By

    base, people = server
    person = people["client"]
    browser.get(f"{base}/statements/TSS-202605-WYR")
    sign_in_here(browser, person["email"], person["password"])
    assert browser.find_element(By.TAG_NAME, "h1").text == "Change your password"
    browser.find_element(By.ID, "current").send_keys(person["password"])
    browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "again").send_keys(NEW_PASSWORD)
    press(browser, "Change password")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Password changed"
    follow(browser, browser.find_element(By.LINK_TEXT, "Continue"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Statement TSS-202605-WYR"


def sign_in_here(browser, email: str, password: str) -> None:
    """Sign in on the sign-in page already open (which keeps its `?next=`)."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    press(browser, "Sign in")
