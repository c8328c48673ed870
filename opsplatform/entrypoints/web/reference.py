"""Pages: the centre's reference data for staff to read (clients, services, subscriptions,
a year's tariffs), with who takes which service; read-only. Changes go through the setup
workbook (the setup upload page offers the current setup to download, edit and load).

The read models are importers.reference; these pages parse the request, call them and
choose the words.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from importers import reference as read
from opsplatform.entrypoints.access import STAFF, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import money_text, quantity_text, today, unit_price_text
from opsplatform.periods import FinancialYear
from opsplatform.vocabulary import Rule, VatTreatment

reference_data = Blueprint("reference_data", __name__, url_prefix="/reference")

SECTIONS = {
    "reference_data.client_list": "Clients",
    "reference_data.service_list": "Services",
    "reference_data.subscription_list": "Subscriptions",
    "reference_data.tariff_list": "Tariffs",
}


def _page(template: str, **values: object) -> str:
    """A reference page, with its sub-navigation."""
    return render_template(f"reference/{template}", sections=SECTIONS, **values)


@reference_data.get("")
@signed_in(*STAFF)
def index() -> ResponseReturnValue:
    return redirect(url_for("reference_data.client_list"))


@reference_data.get("/clients")
@signed_in(*STAFF)
def client_list() -> ResponseReturnValue:
    with database().reading() as session:
        found = read.clients(session, today())
    return _page("clients.html", clients=found)


@reference_data.get("/services")
@signed_in(*STAFF)
def service_list() -> ResponseReturnValue:
    with database().reading() as session:
        found = read.services(session, today())
    return _page("services.html", services=found)


@reference_data.get("/subscriptions")
@signed_in(*STAFF)
def subscription_list() -> ResponseReturnValue:
    client = request.args.get("client", "").strip().upper() or None
    service = request.args.get("service", "").strip().upper() or None
    with database().reading() as session:
        clients = read.clients(session, today())
        services = read.services(session, today())
        found = read.subscriptions(session, today(), client, service)
    return _page(
        "subscriptions.html",
        subscriptions=found,
        clients=clients,
        services=services,
        client=client,
        service=service,
        VatTreatment=VatTreatment,
    )


@reference_data.get("/tariffs")
@signed_in(*STAFF)
def tariff_list() -> ResponseReturnValue:
    with database().reading() as session:
        years = read.tariff_years(session)
        this_year = str(FinancialYear.of(today()))
        asked = request.args.get("year")
        if asked and asked not in years:
            abort(404)
        year = asked or (this_year if this_year in years or not years else years[0])
        found = read.tariffs(session, year)
    rows = [
        {
            "tariff": t,
            "rule": Rule(t.rule).label,
            "scope": scope_words(t.scope),
            "charge": charge_words(t),
        }
        for t in found
    ]
    return _page("tariffs.html", rows=rows, years=years, year=year)


def scope_words(scope: str) -> str:
    """Whom a tariff applies to: `Every client`, `Tier premium`, `WYR only`."""
    kind, _, name = scope.partition(":")
    return {"all": "Every client", "tier": f"Tier {name}", "client": f"{name} only"}[kind]


def charge_words(t: read.TariffEntry) -> str:
    """What a tariff charges, in a sentence: `£1.95 per invoice`, `Each month: the first
    1,000 payslips at £3.00 each, then £2.00 each`, `£12,000.00 a year, shared by population`."""
    if t.rule == Rule.UNIT_RATE and t.rate is not None:
        return f"{unit_price_text(t.rate)} per {t.unit}"
    if t.rule == Rule.GRADUATED:
        parts = [
            f"then {unit_price_text(b.price)} each"
            if b.upto is None
            else f"the {'first' if n == 0 else 'next'} {quantity_text(b.upto)} {t.unit}s at "
            f"{unit_price_text(b.price)} each"
            for n, b in enumerate(t.bands)
        ]
        return "Each month: " + ", ".join(parts)
    if t.rule == Rule.BANDED:
        parts = [
            f"more, {money_text(b.price)}"
            if b.upto is None
            else f"up to {quantity_text(b.upto)} {t.unit}s, {money_text(b.price)}"
            for b in t.bands
        ]
        return "Each month, a flat fee by use: " + "; ".join(parts)
    if t.rule == Rule.FIXED_FEE:
        return f"{money_text(t.annual_amount)} a year, in monthly instalments"
    shared = {"equal": "in equal shares", "usage": "by each month's use"}.get(
        t.driver or "", f"by {t.driver}"
    )
    return f"{money_text(t.annual_amount)} a year, shared {shared}"
