"""The JSON API under /api/v1, for programs: bearer tokens, JSON errors, an OpenAPI document.

Every error is `{"errors": [{"message", "row", "column"...}]}` with a 4xx status.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, ClassVar, ParamSpec

from flask import Flask, Response, g, jsonify, render_template, request, send_file
from flask.typing import ResponseReturnValue
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from billing.service import statement_document, statement_summary
from importers.usage import import_rows
from opsplatform.accounts import user_for_token
from opsplatform.audit import record
from opsplatform.entrypoints.access import (
    WRITERS,
    audience,
    client_code,
    statement_for,
    statement_workbook,
    visible_statements,
)
from opsplatform.entrypoints.api.docs import describe
from opsplatform.entrypoints.extensions import csrf, database, throttle
from opsplatform.errors import Problem, Refused
from opsplatform.models import Client, Service
from opsplatform.periods import PeriodError, Quarter
from opsplatform.throttle import TOKEN
from sla.service import visible_results

MAX_EVENTS = 10_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
P = ParamSpec("P")


class ProblemSchema(Schema):
    message = fields.String(metadata={"description": "what is wrong, in a sentence"})
    sheet = fields.String(
        allow_none=True, metadata={"description": "`request` for a posted event, else null"}
    )
    row = fields.Integer(allow_none=True, metadata={"description": "the event's number, from 1"})
    column = fields.String(allow_none=True, metadata={"description": "the field at fault"})


class ErrorsSchema(Schema):
    errors = fields.List(fields.Nested(ProblemSchema), metadata={"description": "every problem"})


class OpsApi(Api):
    """flask-smorest's Api, with errors as `{"errors": [...]}` (HTML pages for the web app)."""

    ERROR_SCHEMA = ErrorsSchema

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if request.path.startswith("/api/"):
            return errors(status, error.description or error.name)
        return render_template("error.html", error=error), status


def errors(status: int, *problems: Problem | str) -> tuple[Response, int]:
    body = [p.as_dict() if hasattr(p, "as_dict") else {"message": str(p)} for p in problems]
    return jsonify({"errors": body}), status


def token_required(
    *roles: str,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """Authenticate the bearer token; refuse (403) a user whose role is not in `roles`.
    Bad tokens are throttled per address (opsplatform.throttle.TOKEN): while an address is
    locked out, no token from it is looked at (429, with Retry-After)."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return errors(401, "send an API token: Authorization: Bearer TOKEN")
            address = request.remote_addr or ""
            with database().transaction() as session:
                wait = throttle().locked(session, TOKEN, address)
                user = None if wait else user_for_token(session, token.strip())
                if user is not None:
                    user.client  # load it while the session is open  # noqa: B018
                elif not wait:
                    throttle().failed(session, TOKEN, address)
            if wait:
                message = f"too many bad API tokens from this address: try again in {wait} s"
                return *errors(429, message), {"Retry-After": str(wait)}
            if user is None:
                return errors(401, "the API token is not valid (or has been revoked)")
            if roles and user.role not in roles:
                return errors(403, f"a {user.role} user may not do this")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapper

    return decorate


PLAIN_NUMBER = re.compile(r"\s*[+-]?[0-9]+(\.[0-9]+)?\s*", re.ASCII)


class Quantity(fields.Field[str | int | float]):
    """A quantity as a JSON number or a plain decimal text (`"12.5"`). A program sends no
    thousands separators, currency signs or other scripts' digits, which a person's
    spreadsheet may hold: such a text is more likely a mistake than a number."""

    def _deserialize(
        self, value: object, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str | int | float:
        if isinstance(value, str) and PLAIN_NUMBER.fullmatch(value):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                f"{attr} must be a number, e.g. 12 or 12.5 (digits 0-9 and a decimal point only)"
            )
        return value


def _text(name: str, required: bool = False, description: str | None = None) -> fields.String:
    """A text field of a usage event; what it must hold is checked by the importer."""
    return fields.String(
        required=required,
        allow_none=not required,
        error_messages={
            "required": f"{name} is required",
            "null": f"{name} is required",
            "invalid": f"{name} must be a text",
        },
        metadata={"description": description} if description else {},
    )


class UsageEventSchema(Schema):
    """The shape of a posted usage event: its types and fields. The values themselves
    (known codes, dates, subscriptions, lengths) are checked as a file's rows are."""

    class Meta:
        unknown = RAISE

    event_id = _text("event_id", True, "unique key from the source system, at most 100 characters")
    client = _text("client", True, "client council code")
    service = _text("service", True, "service code")
    date = _text("date", True, "date or ISO 8601 datetime (naive: UK time)")
    quantity = Quantity(allow_none=True, metadata={"description": "number, default 1; more than 0"})
    reference = _text("reference", description="at most 200 characters")
    started_at = _text("started_at", description="ISO 8601 datetime, for timed KPIs")
    completed_at = _text("completed_at", description="ISO 8601 datetime, for timed KPIs")


def shape_problems(body: list[Any]) -> list[Problem]:
    """Every posted event's problems of shape, numbered from 1 as the events are sent."""
    try:
        UsageEventSchema(many=True).load(body)
    except ValidationError as error:
        if not isinstance(error.messages, dict):  # many=True gives them by each event's index
            raise
        return [
            Problem(
                "not a JSON object" if field == "_schema" else _sentence(field, message),
                "request",
                index + 1,
                None if field == "_schema" else field,
            )
            for index, found in sorted(error.messages.items())
            for field, messages in sorted(found.items())
            for message in messages
        ]
    return []


def _sentence(field: str, message: str) -> str:
    if message == "Unknown field.":
        return f"unknown field '{field}'; expected {', '.join(UsageEventSchema().fields)}"
    return message


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
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required(*WRITERS)]

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
        responses={
            "200": {"description": "every event was already stored: nothing new"},
            "201": {"description": "stored: the import's counts, as `usage import --json`"},
            "422": {
                "description": "nothing stored: every bad event's problems",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}
                },
            },
        },
    )
    def post(self) -> ResponseReturnValue:
        """Post one usage event or a list, all or nothing; a repeated event_id is skipped."""
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            return errors(400, "the JSON is nested too deeply")
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not body:
            return errors(400, "send a JSON usage object or a non-empty list of them")
        if len(body) > MAX_EVENTS:
            return errors(413, f"send at most {MAX_EVENTS:,} events per request")
        # events of the wrong shape are listed, and the others checked as a file's rows
        # are, so that the answer names every bad event; nothing is stored unless all pass
        problems = shape_problems(body)
        shaped = {p.row for p in problems}
        rows = [(n, event) for n, event in enumerate(body, start=1) if n not in shaped]
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        source = f"API ({g.api_user.email})"
        refusal: list[Problem] = []
        unlisted = None
        try:
            with database().transaction(dry_run=bool(problems)) as session:
                if rows:
                    report = import_rows(
                        session,
                        rows,
                        source,
                        digest,
                        dry_run=bool(problems),
                        unique_content=False,
                        require_event_id=True,
                    )
                if not problems and report.inserted:  # a replay changes nothing to audit
                    record(session, g.api_user.email, "usage post", source, **report.counts())
        except Refused as refused:
            refusal, unlisted = refused.problems, refused.unlisted()
        if problems or refusal:
            listed = sorted(problems + refusal, key=lambda p: p.row or 0)
            # the first problems are listed, then how many more there were
            return errors(422, *listed, *([Problem(unlisted)] if unlisted else []))
        document = report.as_dict()
        return jsonify(document), 201 if report.inserted else 200


def query_parameter(
    name: str, pattern: str, example: str, required: bool = False
) -> dict[str, Any]:
    """A query parameter, for the OpenAPI document only: the view parses it itself."""
    schema = {"type": "string", "pattern": pattern, "example": example}
    return {"in": "query", "name": name, "required": required, "schema": schema}


@statements.route("")
class StatementCollection(MethodView):
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required()]

    @statements.doc(parameters=[query_parameter("month", r"^\d{4}-\d{2}$", "2026-05")])
    @statements.response(200, StatementSummarySchema(many=True))
    def get(self) -> ResponseReturnValue:
        """Statements the token's user may see; `?month=YYYY-MM` filters."""
        with database().transaction() as session:
            try:
                found = visible_statements(session, g.api_user, request.args.get("month"))
            except PeriodError as error:
                return errors(400, str(error))
            return [statement_summary(s) for s in found]


@statements.route("/<number>")
class StatementItem(MethodView):
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required()]

    @statements.response(200, StatementSchema)
    def get(self, number: str) -> ResponseReturnValue:
        """One statement with its lines (404 if it is not the user's to see)."""
        if number.lower().endswith(".xlsx"):
            return _workbook(number[: -len(".xlsx")])
        with database().transaction() as session:
            found = statement_for(session, g.api_user, number)
            if found is None:
                return errors(404, f"there is no statement {number}")
            return statement_document(found)


def _workbook(number: str) -> ResponseReturnValue:
    with database().transaction() as session:
        found = statement_workbook(session, g.api_user, number)
    if found is None:
        return errors(404, f"there is no statement {number}")
    content, name = found
    return send_file(content, as_attachment=True, download_name=name, mimetype=XLSX)


@reference.route("/clients")
class Clients(MethodView):
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required()]

    def get(self) -> ResponseReturnValue:
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
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required()]

    def get(self) -> ResponseReturnValue:
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
    decorators: ClassVar[list[Callable[..., Any]]] = [token_required()]

    @reference.doc(
        parameters=[query_parameter("quarter", r"^\d{4}-\d{2}-Q[1-4]$", "2026-27-Q1", True)]
    )
    def get(self) -> ResponseReturnValue:
        """KPI results for `?quarter=YYYY-YY-Qn`; a client user: its own and the centre's, and
        other councils' once the quarter is final."""
        try:
            quarter = Quarter.parse(request.args.get("quarter", ""))
        except PeriodError as error:
            return errors(400, str(error))
        try:
            with database().transaction() as session:
                found = visible_results(session, quarter, audience(g.api_user))
                results = [r.as_dict() for r in found]
        except PeriodError as error:  # it, or the quarters it is compared with, is out of range
            return errors(400, f"quarter {quarter} is out of range: {error}")
        return jsonify(results)


def init_api(app: Flask) -> None:
    app.config.update(
        API_TITLE="opsplatform",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "security": [{"bearer": []}],
            "info": {
                "description": "Usage in, statements and KPI results out. Every request "
                "carries `Authorization: Bearer TOKEN` (`opsplatform tokens create EMAIL`)."
            },
        },
    )
    api = OpsApi(app)
    api.spec.components.schema("UsageEvent", schema=UsageEventSchema)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in (usage, statements, reference):
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    app.add_url_rule("/api/v1/docs", "api_docs", lambda: api_docs(api))


def api_docs(api: OpsApi) -> str:
    """The OpenAPI document as a page people can read: no scripts, as every page here."""
    return render_template("api_docs.html", **describe(api.spec.to_dict()))
