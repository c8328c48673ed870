"""Fixtures for the web and API tests: a populated centre (built once, copied per test) and the app.

The centre is the small centre of tests/support.py (prefix TSS, clients WYR, LAN, PRS) with a
KPI on payroll, April 2026 issued and May 2026 drafted, plus users of every kind and an API
token for each. Building it takes a second, so it is built once per session and copied into
each test's own instance database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from opsplatform.entrypoints.app import close_app, create_app
from tests.conftest import Cli
from tests.integration.test_posting import coded_centre
from tests.support import small_centre, write_book, write_csv

# name -> (email, role, client)
PEOPLE = {
    "finance": ("finance@centre.gov.uk", "finance", None),
    "admin": ("admin@centre.gov.uk", "admin", None),
    "manager": ("manager@centre.gov.uk", "manager", None),
    "auditor": ("audit@centre.gov.uk", "auditor", None),
    "wyr": ("pay@wyre.gov.uk", "client", "WYR"),
    "lan": ("pay@lancaster.gov.uk", "client", "LAN"),
}


def centre_book() -> dict[str, list[list]]:
    book = small_centre()
    book["KPIs"] = [
        ["code", "name", "service", "unit", "direction", "target", "amber", "method", "limit"],
        ["PAY-5D", "Payslips in 5 working days", "PAY", "percent", "higher", 95, 90, "within", 5],
    ]
    return book


def build_centre(cli: Cli, folder: Path) -> dict[str, dict]:
    cli("setup", "load", write_book(folder / "setup.xlsx", centre_book()))
    rows = [
        {
            "event_id": f"APR-{code}",
            "client": code,
            "service": "PAY",
            "date": "2026-04-15",
            "quantity": 100,
            "started_at": "2026-04-13T09:00:00",
            "completed_at": "2026-04-15T09:00:00",
        }
        for code in ("WYR", "LAN")
    ]
    cli("usage", "import", write_csv(folder / "usage.csv", rows))
    cli("billing", "close", "2026-04")
    cli("billing", "issue", "2026-04")
    cli("billing", "close", "2026-05")
    people = {}
    for name, (email, role, client) in PEOPLE.items():
        args = ["users", "create", email, "--role", role]
        if client:
            args += ["--client", client]
        person = cli.json(*args)
        person.update(cli.json("tokens", "create", email))
        people[name] = person
    return people


@pytest.fixture(scope="session")
def centre_template(tmp_path_factory, databases, migrated_template) -> tuple[str, dict[str, dict]]:
    """The populated centre's database URL, and its people (email, password, token, id)."""
    folder = tmp_path_factory.mktemp("centre")
    url = databases.new(template=migrated_template)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPSPLATFORM_INSTANCE_PATH", str(folder))
        env.setenv("OPSPLATFORM_DATABASE_URL", url)
        people = build_centre(Cli(), folder)
    return url, people


@pytest.fixture
def people(instance, databases, centre_template, monkeypatch) -> dict[str, dict]:
    """A copy of the populated centre as this test's database; its people by name."""
    url, people = centre_template
    monkeypatch.setenv("OPSPLATFORM_DATABASE_URL", databases.new(template=url))
    return {name: dict(person) for name, person in people.items()}


@pytest.fixture
def app(people):
    """A fresh app per test, so the sign-in limiter's memory storage starts empty; CSRF on."""
    app = create_app()
    assert app.config.get("WTF_CSRF_ENABLED", True)
    app.config["IMPORT_WAIT_SECONDS"] = 60  # small test files finish within the request
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Coded:
    """The coded centre's app, its command line and its people (email, password) by name."""

    app: Flask
    cli: Cli
    people: dict[str, dict]


@pytest.fixture
def coded(instance, tmp_path):
    """test_posting's coded centre with June 2026 closed, and its app: Wyre's post is outside
    the scope of VAT and carries both sides' codes and a purchase order, the college's is
    charged 20% (PX-202606-WYR and PX-202606-BFC). People: finance, and a user of each."""
    cli = Cli()
    coded_centre(cli, tmp_path)
    cli("billing", "close", "2026-06")
    people = {
        "finance": cli.json("users", "create", "finance@fylde.gov.uk", "--role", "finance"),
        "wyr": cli.json(
            "users", "create", "pay@wyre.gov.uk", "--role", "client", "--client", "WYR"
        ),
        "bfc": cli.json(
            "users", "create", "fees@blackpool.ac.uk", "--role", "client", "--client", "BFC"
        ),
    }
    app = create_app()
    yield Coded(app, cli, people)
    close_app(app)
