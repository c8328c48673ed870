"""The demo centre: loaded once into an empty database, every past month issued and balanced."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

import opsplatform.entrypoints.demo
from billing.models import Statement, StatementLine
from opsplatform.accounts import authenticate
from opsplatform.entrypoints.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from opsplatform.errors import Refused
from opsplatform.models import Client, Tariff, UsageEvent
from opsplatform.periods import LONDON, Month
from opsplatform.vocabulary import Role

CLIENTS = {"ASH", "BRK", "GLAN", "HOLM", "NCOL", "WEX", "WXFRA"}
KPIS = {"CTAX-COLL", "ICT-3WD", "ICT-8H", "ICT-8SH", "RB-20WD", "RB-AVG"}


def test_demo_loads_an_issued_balanced_centre_once(cli, database):
    loaded = cli("demo").stdout
    assert loaded.startswith("demo loaded: Northmoor Shared Services, 7 clients, 7 services, ")
    last = Month.of(datetime.now(LONDON).date()).previous()

    statements = cli.json("billing", "list")
    drafts = [s["number"] for s in statements if s["status"] == "draft"]
    assert drafts == [f"NSS-{last.compact}-WEX"]  # one partner still reviewing last month
    assert f"{len(statements) - 1} statements issued" in loaded
    months = sorted({Month.parse(s["month"]) for s in statements})
    assert months[-1] == last and len(months) >= 13
    assert months[0].month == 4 and len(months) == months[-1] - months[0] + 1

    latest = [s for s in statements if s["month"] == str(last)]
    assert {s["client"] for s in latest} == CLIENTS
    for summary in latest:
        document = cli.json("billing", "show", summary["number"])
        assert document["number"] == f"NSS-{last.compact}-{document['client']}"
        net = sum((Decimal(line["amount"]) for line in document["lines"]), Decimal(0))
        vat = sum((Decimal(line["vat"]) for line in document["lines"]), Decimal(0))
        assert Decimal(document["net"]) == net > 0
        assert Decimal(document["vat"]) == vat
        assert Decimal(document["total"]) == net + vat

    with database.transaction() as session:
        kinds = set(session.scalars(select(StatementLine.kind).distinct()))
        years = set(session.scalars(select(Tariff.financial_year).distinct()))
    # a March true-up for estimate billing, and late print usage re-rated onto later statements
    assert {"charge", "true_up", "prior_period"} <= kinds
    assert {str(m.financial_year) for m in months} <= years

    quarter = last.quarter if last == last.quarter.months()[-1] else last.quarter.previous()
    results = cli.json("sla", "assess", str(quarter))
    centre = {r["kpi"]: r for r in results if r["client"] is None}
    assert set(centre) == KPIS
    assert all(r["status"] != "no_data" for r in centre.values())
    # council tax collection to date is judged against the profile of the quarter's last month
    collection = centre["CTAX-COLL"]
    assert collection["profile_month"] == str(quarter.months()[-1])
    assert float(collection["target"]) < 97
    # the service desk's clock, less the time incidents waited on callers, is kinder than
    # the wall clock to an incident logged late on a Friday
    assert float(centre["ICT-8SH"]["value"]) > float(centre["ICT-8H"]["value"])
    with database.transaction() as session:
        paused = select(func.count(UsageEvent.id)).where(UsageEvent.paused_at.is_not(None))
        assert session.scalar(paused) > 0

    refused = cli("demo", expect=1)
    assert "the demo loads only into an empty database" in refused.stderr
    skipped = cli("demo", "--if-empty")
    assert "not loaded" in skipped.stdout
    assert cli.json("billing", "list") == statements


def test_the_demo_has_queries_and_a_sign_in_for_each_role(cli, database):
    loaded = cli("demo").stdout
    assert DEMO_PASSWORD in loaded
    with database.transaction() as session:
        for email, role, _client in DEMO_USERS:
            assert email in loaded
            user = authenticate(session, email, DEMO_PASSWORD)
            assert user is not None and user.role == role
    assert {role for _, role, _ in DEMO_USERS} == {r.value for r in Role}

    last = Month.of(datetime.now(LONDON).date()).previous()
    queries = {(q["statement"], q["status"]) for q in cli.json("queries", "list")}
    assert (f"NSS-{last.compact}-ASH", "open") in queries
    assert (f"NSS-{last.compact}-WEX", "open") in queries
    assert {"accepted", "rejected"} <= {status for _, status in queries}


def test_a_failed_demo_leaves_the_database_empty(database, monkeypatch):
    def refuse(session, month, actor, at, holding):
        raise Refused(f"refused to issue {month}")

    monkeypatch.setattr(opsplatform.entrypoints.demo, "issue_month", refuse)
    with pytest.raises(Refused, match="refused to issue 2026-04"):
        load_demo(database, now=datetime(2027, 5, 10, 9, 30))
    with database.transaction() as session:
        for table in (Client, UsageEvent, Statement):
            assert session.scalar(select(func.count()).select_from(table)) == 0
