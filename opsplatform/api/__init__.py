"""The JSON API under /api/v1, for programs: bearer tokens, JSON errors, an OpenAPI document.

Every error is `{"errors": [{"message", "row", "column"...}]}` with a 4xx status.
"""

from __future__ import annotations

import hashlib
import json
from functools import wraps

from flask import g, jsonify, render_template, request, send_file
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from billing.service import statement_document, statement_summary
from importers.usage import import_rows
from opsplatform.accounts import user_for_token
from opsplatform.audit import record
from opsplatform.errors import Problem, Refused
from opsplatform.extensions import csrf, database
from opsplatform.models import Client, Service
from opsplatform.periods import PeriodError, Quarter
from opsplatform.views import (
    STAFF,
    WRITERS,
    client_code,
    statement_for,
    statement_workbook,
    visible_statements,
)

MAX_EVENTS = 10_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class OpsApi(Api):
    """flask-smorest's Api, with errors as `{"errors": [...]}` (HTML pages for the web app)."""

    def handle_http_exception(self, error: HTTPException):
        if request.path.startswith("/api/"):
            return errors(error.code or 500, error.description or error.name)
        return render_template("error.html", error=error), error.code


def errors(status: int, *problems) -> tuple:
    body = [p.as_dict() if hasattr(p, "as_dict") else {"message": str(p)} for p in problems]
    return jsonify({"errors": body}), status


def token_required(*roles: str):
    """Authenticate the bearer token; refuse (403) a user whose role is not in `roles`."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return errors(401, "send an API token: Authorization: Bearer TOKEN")
            with database().transaction() as session:
                user = user_for_token(session, token.strip())
                if user is not None:
                    user.client  # load it while the session is open  # noqa: B018
            if user is None:
                return errors(401, "the API token is not valid (or has been revoked)")
            if roles and user.role not in roles:
                return errors(403, f"a {user.role} user may not do this")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate


class UsageEventSchema(Schema):
    event_id = fields.String(
        required=True, metadata={"description": "unique key from the source system"}
    )
    client = fields.String(required=True)
    service = fields.String(required=True)
    date = fields.String(required=True, metadata={"description": "date or ISO 8601 datetime"})
    quantity = fields.Decimal(as_string=True, metadata={"description": "default 1; more than 0"})
    reference = fields.String()
    started_at = fields.String()
    completed_at = fields.String()


class LineSchema(Schema):
    service = fields.String(allow_none=True)
    kind = fields.String()
    description = fields.String()
    basis = fields.String()
    period = fields.String()
    quantity = fields.String()
    rate = fields.String(allow_none=True)
    amount = fields.String()
    vat = fields.String()
    corrects = fields.String(allow_none=True)


class StatementSummarySchema(Schema):
    number = fields.String()
    client = fields.String()
    client_name = fields.String()
    month = fields.String()
    status = fields.String()
    net = fields.String()
    vat = fields.String()
    total = fields.String()
    issued_at = fields.String(allow_none=True)
    due_date = fields.String(allow_none=True)


class StatementSchema(StatementSummarySchema):
    lines = fields.List(fields.Nested(LineSchema))


usage = Blueprint("usage", __name__, url_prefix="/api/v1/usage", description="Usage events")
statements = Blueprint(
    "statements", __name__, url_prefix="/api/v1/statements", description="Monthly statements"
)
reference = Blueprint("reference", __name__, url_prefix="/api/v1", description="Reference data")


@usage.route("")
class UsageCollection(MethodView):
    decorators = (token_required(*WRITERS),)

    @usage.doc(
        requestBody={
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/UsageEvent"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/UsageEvent"}},
                        ]
                    }
                }
            }
        },
        responses={"201": {"description": "stored"}, "422": {"description": "every bad event"}},
    )
    def post(self):
        """Post one usage event or a list, all or nothing; a repeated event_id is skipped."""
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not body:
            return errors(400, "send a JSON usage object or a non-empty list of them")
        if len(body) > MAX_EVENTS:
            return errors(413, f"send at most {MAX_EVENTS:,} events per request")
        problems = [
            Problem("not a JSON object", "request", index)
            for index, event in enumerate(body, start=1)
            if not isinstance(event, dict)
        ]
        if problems:
            return errors(422, *problems)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        source = f"API ({g.api_user.email})"
        try:
            with database().transaction() as session:
                report = import_rows(
                    session,
                    enumerate(body, start=1),
                    source,
                    digest,
                    False,
                    unique_content=False,
                    require_event_id=True,
                )
                record(
                    session,
                    g.api_user.email,
                    "usage post",
                    source,
                    **report.counts(),
                )
        except Refused as refused:
            return errors(422, *refused.problems)
        document = report.as_dict()
        return jsonify(document), 201 if report.inserted else 200


@statements.route("")
class StatementCollection(MethodView):
    decorators = (token_required(),)

    @statements.response(200, StatementSummarySchema(many=True))
    def get(self):
        """Statements the token's user may see; `?month=YYYY-MM` filters."""
        with database().transaction() as session:
            try:
                found = visible_statements(session, g.api_user, request.args.get("month"))
            except PeriodError as error:
                return errors(400, str(error))
            return [statement_summary(s) for s in found]


@statements.route("/<number>")
class StatementItem(MethodView):
    decorators = (token_required(),)

    @statements.response(200, StatementSchema)
    def get(self, number: str):
        """One statement with its lines (404 if it is not the user's to see)."""
        if number.lower().endswith(".xlsx"):
            return _workbook(number[: -len(".xlsx")])
        with database().transaction() as session:
            found = statement_for(session, g.api_user, number)
            if found is None:
                return errors(404, f"there is no statement {number}")
            return statement_document(found)


def _workbook(number: str):
    with database().transaction() as session:
        found = statement_workbook(session, g.api_user, number)
    if found is None:
        return errors(404, f"there is no statement {number}")
    content, name = found
    return send_file(content, as_attachment=True, download_name=name, mimetype=XLSX)


@reference.route("/clients")
class Clients(MethodView):
    decorators = (token_required(),)

    def get(self):
        """Client councils (a client user sees only its own)."""
        mine = client_code(g.api_user)
        with database().transaction() as session:
            query = select(Client).order_by(Client.code)
            if g.api_user.role == "client":
                query = query.where(Client.code == mine)
            return jsonify(
                [
                    {"code": c.code, "name": c.name, "nation": c.nation}
                    for c in session.scalars(query)
                ]
            )


@reference.route("/services")
class Services(MethodView):
    decorators = (token_required(),)

    def get(self):
        """Services on the menu."""
        with database().transaction() as session:
            return jsonify(
                [
                    {"code": s.code, "name": s.name, "unit": s.unit, "vat_rate": f"{s.vat_rate:f}"}
                    for s in session.scalars(select(Service).order_by(Service.code))
                ]
            )


@reference.route("/kpi-results")
class KpiResults(MethodView):
    decorators = (token_required(),)

    def get(self):
        """KPI results for `?quarter=YYYY-YY-Qn` (a client user: its own and the centre's)."""
        from sla.service import assess_quarter

        try:
            quarter = Quarter.parse(request.args.get("quarter", ""))
        except PeriodError as error:
            return errors(400, str(error))
        mine = client_code(g.api_user)
        with database().transaction() as session:
            results = [r.as_dict() for r in assess_quarter(session, quarter)]
        if g.api_user.role not in STAFF:
            results = [r for r in results if r["client"] in (None, mine)]
        return jsonify(results)


def init_api(app) -> None:
    app.config.update(
        API_TITLE="opsplatform",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = OpsApi(app)
    api.spec.components.schema("UsageEvent", schema=UsageEventSchema)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in (usage, statements, reference):
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
