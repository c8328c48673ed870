"""The KPI pages: every member of staff reads the definitions; managers and admins change
them, checked as the setup workbook checks them, with an audit entry (opsplatform/entrypoints/web/kpis.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from html import unescape

import pytest
from sqlalchemy import select

from opsplatform.models import AuditEvent, Kpi
from tests.integration.test_finance_pages import post, sign_in, text_of
from tests.pages import Page


def kpi(app) -> Kpi:
    with app.extensions["opsplatform.db"].transaction() as session:
        return session.scalars(select(Kpi).where(Kpi.code == "PAY-5D")).one()


def audit(app) -> list[AuditEvent]:
    with app.extensions["opsplatform.db"].transaction() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "kpi change")))


@pytest.mark.parametrize(
    ("role", "read", "change"),
    [
        ("manager", 200, 200),
        ("admin", 200, 200),
        ("finance", 200, 403),
        ("auditor", 200, 403),
        ("wyr", 404, 404),
    ],
)
def test_each_role_reads_or_changes_as_it_may(app, people, role, read, change):
    client = sign_in(app, people[role])
    assert client.get("/kpis").status_code == read
    assert client.get("/kpis/PAY-5D").status_code == change


def test_the_list_says_what_each_kpi_measures_and_how_its_status_is_read(app, people):
    page = sign_in(app, people["auditor"]).get("/kpis")
    text = text_of(page.text)
    assert "PAY-5D Payslips in 5 working days" in text
    assert "The share of payroll completed within 5 working days of being started." in text
    assert "Green at 95% or more; amber from 90%; red below 90%." in text
    assert "/kpis/PAY-5D" not in page.text  # the auditor may not change it


def test_a_manager_changes_the_targets_and_the_audit_log_keeps_before_and_after(app, people):
    manager = sign_in(app, people["manager"])
    form = Page(manager.get("/kpis/PAY-5D").text).form("/kpis/PAY-5D")
    assert form["inputs"]["target"]["value"] == "95"
    assert form["inputs"]["limit"]["value"] == "5"
    response = post(
        manager, "/kpis/PAY-5D", name="Payslips on time", target="97.5", amber="92", limit="5"
    )
    assert response.status_code == 302
    assert "PAY-5D changed: name, target, amber" in manager.get("/kpis").text
    changed = kpi(app)
    assert (changed.name, changed.target, changed.amber, changed.limit) == (
        "Payslips on time",
        Decimal("97.5"),
        Decimal(92),
        Decimal(5),
    )
    (entry,) = audit(app)
    assert entry.actor == people["manager"]["email"] and entry.subject == "PAY-5D"
    detail = json.loads(entry.detail)
    assert detail["before"] == {"name": "Payslips in 5 working days", "target": "95", "amber": "90"}
    assert detail["after"] == {"name": "Payslips on time", "target": "97.5", "amber": "92"}


def test_saving_unchanged_values_records_nothing(app, people):
    manager = sign_in(app, people["manager"])
    post(
        manager,
        "/kpis/PAY-5D",
        name="Payslips in 5 working days",
        target="95",
        amber="90",
        limit="5",
    )
    assert "Nothing changed in PAY-5D" in manager.get("/kpis").text
    assert audit(app) == []


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    [
        ({"target": "lots"}, "Target: 'lots' is not a number", "target"),
        ({"amber": "96"}, "Amber threshold: amber must not be above target", "amber"),
        ({"name": ""}, "Name: name is required", "name"),
        ({"limit": ""}, "Time limit: a within KPI needs a limit", "limit"),
        ({"limit": "-1"}, "Time limit:", "limit"),
        ({"name": "N" * 201}, "Name: name is longer than 200 characters", "name"),
    ],
)
def test_bad_values_are_named_and_nothing_is_saved(app, people, fields, message, field):
    manager = sign_in(app, people["manager"])
    values = {"name": "Payslips in 5 working days", "target": "95", "amber": "90", "limit": "5"}
    response = post(manager, "/kpis/PAY-5D", **{**values, **fields})
    assert response.status_code == 400
    page = Page(response.text)
    assert message in unescape(text_of(response.text))
    assert f'href="#{field}"' in response.text  # the error summary links to the field
    assert page.form("/kpis/PAY-5D")["inputs"][field]["value"] == fields[field]
    assert kpi(app).target == Decimal(95) and kpi(app).name == "Payslips in 5 working days"
    assert audit(app) == []


def test_an_unknown_kpi_is_404_and_a_change_needs_the_csrf_token(app, people):
    manager = sign_in(app, people["manager"])
    assert manager.get("/kpis/NOPE").status_code == 404
    response = manager.post("/kpis/PAY-5D", data={"name": "x", "target": "1", "amber": "0"})
    assert response.status_code == 400
    assert kpi(app).name == "Payslips in 5 working days"
