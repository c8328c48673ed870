"""GET /api/v1/clients, /services and /kpi-results: reference data and KPI results."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from sqlalchemy import select

from opsplatform.entrypoints.access import audience, client_code
from opsplatform.entrypoints.api.blueprint import ApiBlueprint, Refusal, errors
from opsplatform.entrypoints.api.schemas import (
    QUARTER,
    ClientSchema,
    KpiResultSchema,
    ServiceSchema,
    query_parameter,
)
from opsplatform.entrypoints.extensions import database
from opsplatform.models import Client, Service
from opsplatform.periods import PeriodError, Quarter
from opsplatform.vocabulary import Role
from sla.service import visible_results

reference = ApiBlueprint("reference", __name__, url_prefix="/api/v1", description="Reference data")


@reference.route("/clients")
class Clients(MethodView):
    @reference.response(200, ClientSchema(many=True), description="the councils, by code")
    @reference.token_required()
    def get(self) -> list[Client]:
        """Client councils (a client user sees only its own)."""
        query = select(Client).order_by(Client.code)
        if g.api_user.role == Role.CLIENT:
            query = query.where(Client.code == client_code(g.api_user))
        with database().transaction() as session:
            return list(session.scalars(query))


@reference.route("/services")
class Services(MethodView):
    @reference.response(200, ServiceSchema(many=True), description="the services, by code")
    @reference.token_required()
    def get(self) -> list[Service]:
        """Services on the menu."""
        with database().transaction() as session:
            return list(session.scalars(select(Service).order_by(Service.code)))


@reference.route("/kpi-results")
class KpiResults(MethodView):
    @reference.doc(parameters=[query_parameter("quarter", QUARTER, "2026-27-Q1", True)])
    @reference.response(
        200,
        KpiResultSchema(many=True),
        description="each KPI's result for the whole centre, then for each council",
    )
    @reference.refuses(
        {400: "no quarter, or not a quarter `YYYY-YY-Qn` from 2000-01-Q1 to 2098-99-Q4"}
    )
    @reference.token_required()
    def get(self) -> list[dict[str, Any]] | Refusal:
        """KPI results for `?quarter=YYYY-YY-Qn`; a client user: its own and the centre's, and
        other councils' once the quarter is final."""
        try:
            quarter = Quarter.parse(request.args.get("quarter", ""))
        except PeriodError as error:
            return errors(400, str(error))
        try:
            with database().transaction() as session:
                found = visible_results(session, quarter, audience(g.api_user))
                return [r.as_dict() for r in found]
        except PeriodError as error:  # it, or the quarters it is compared with, is out of range
            return errors(400, f"quarter {quarter} is out of range: {error}")
