"""Every page a person reaches from the navigation reads on a phone 390 px wide: wide tables
scroll inside their own box (`app-table-wrap`), and the page itself never scrolls sideways."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from opsplatform.entrypoints.demo import DEMO_PASSWORD, DEMO_USERS
from tests.e2e.conftest import sign_in

PHONE = 390  # an iPhone 12 to 15's width in CSS pixels


def pages_from_navigation(browser) -> list[str]:
    """The header's and footer's links on the page open (Sign out is a button, not a link)."""
    links = browser.find_elements(By.CSS_SELECTOR, "header nav a, footer a.govuk-footer__link")
    return [link.get_attribute("href") for link in links]


def test_no_page_scrolls_sideways_on_a_phone_for_any_role(demo_server, browser):
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    too_wide = {}
    for email, role, _client in DEMO_USERS:
        sign_in(browser, demo_server, {"email": email, "password": DEMO_PASSWORD})
        pages = pages_from_navigation(browser)
        assert len(pages) >= 5, f"{role} sees too little navigation: {pages}"
        # and the first statement the home page lists, with its lines
        pages.append(browser.find_element(By.CSS_SELECTOR, "main table a").get_attribute("href"))
        for page in pages:
            browser.get(page)
            width = browser.execute_script("return document.documentElement.scrollWidth")
            if width > PHONE:
                too_wide[f"{role} {page}"] = width
        browser.delete_all_cookies()
    assert too_wide == {}
