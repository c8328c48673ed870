"""GET /api/v1/statements: monthly statements, as `billing show --json` gives them."""

from __future__ import annotations

from flask import Response, g, request
from flask.views import MethodView

from billing.statements import (
    StatementDocument,
    StatementSummary,
    statement_document,
    statement_summary,
)
from opsplatform.entrypoints.access import statement_for, statement_workbook, visible_statements
from opsplatform.entrypoints.api.blueprint import ApiBlueprint, Refusal, errors
from opsplatform.entrypoints.api.schemas import (
    MONTH,
    StatementSchema,
    StatementSummarySchema,
    query_parameter,
)
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import XLSX, workbook_download
from opsplatform.periods import PeriodError
from opsplatform.settings import centre_settings

statements = ApiBlueprint(
    "statements", __name__, url_prefix="/api/v1/statements", description="Monthly statements"
)


@statements.route("")
class StatementCollection(MethodView):
    @statements.doc(parameters=[query_parameter("month", MONTH, "2026-05")])
    @statements.response(
        200, StatementSummarySchema(many=True), description="the statements, without lines"
    )
    @statements.refuses({400: "the month is not a month `YYYY-MM` from 2000-01 to 2099-12"})
    @statements.token_required()
    def get(self) -> list[StatementSummary] | Refusal:
        """Statements the token's user may see; `?month=YYYY-MM` filters."""
        with database().transaction() as session:
            try:
                found = visible_statements(session, g.api_user, request.args.get("month"))
            except PeriodError as error:
                return errors(400, str(error))
            return [statement_summary(s) for s in found]


@statements.route(
    "/<number>",
    parameters=[
        {
            "in": "path",
            "name": "number",
            "description": "the statement's number; with `.xlsx` after it, its workbook",
            "example": "TSS-202605-WYR",
        }
    ],
)
class StatementItem(MethodView):
    @statements.alt_response(
        200,
        schema={"type": "string", "format": "binary"},
        content_type=XLSX,
        success=True,
    )
    @statements.response(
        200, StatementSchema, description="the statement; for `NUMBER.xlsx`, its workbook"
    )
    @statements.refuses({404: "no such statement, or not one the token's user may see"})
    @statements.token_required()
    def get(self, number: str) -> StatementDocument | Response | Refusal:
        """One statement with its lines, or its workbook for `NUMBER.xlsx` (404 if it is not
        the user's to see)."""
        if number.lower().endswith(".xlsx"):
            return _workbook(number[: -len(".xlsx")])
        with database().transaction() as session:
            found = statement_for(session, g.api_user, number)
            if found is None:
                return errors(404, f"there is no statement {number}")
            return statement_document(found, centre_settings(session))


def _workbook(number: str) -> Response | Refusal:
    with database().transaction() as session:
        found = statement_workbook(session, g.api_user, number)
    if found is None:
        return errors(404, f"there is no statement {number}")
    content, name = found
    return workbook_download(content, name)
