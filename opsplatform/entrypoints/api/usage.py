"""POST /api/v1/usage: usage events, all or nothing, as a file's rows are imported."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import g, request
from flask.views import MethodView
from marshmallow import ValidationError

from importers.usage import post_usage
from opsplatform.entrypoints.access import WRITERS
from opsplatform.entrypoints.api.blueprint import ApiBlueprint, Refusal, errors
from opsplatform.entrypoints.api.schemas import UsageEventSchema, UsageReportSchema
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Problem, Refused

MAX_EVENTS = 10_000

usage = ApiBlueprint("usage", __name__, url_prefix="/api/v1/usage", description="Usage events")


@usage.route("")
class UsageCollection(MethodView):
    @usage.doc(
        requestBody={
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/UsageEvent"},
                            {"type": "array", "items": {"$ref": "#/components/schemas/UsageEvent"}},
                        ]
                    },
                    "example": {
                        "event_id": "PAY-2026-05-000123",
                        "client": "WYR",
                        "service": "PAY",
                        "date": "2026-05-20",
                        "quantity": 1,
                        "started_at": "2026-05-18T09:00:00",
                        "completed_at": "2026-05-20T15:30:00",
                    },
                }
            }
        },
    )
    @usage.response(201, UsageReportSchema, description="stored: the import's counts")
    @usage.alt_response(
        200,
        schema=UsageReportSchema,
        description="every event was stored already: nothing new, and `batch` is null",
        success=True,
    )
    @usage.refuses(
        {
            400: "not a usage object or a non-empty list of them, or JSON nested too deeply",
            413: f"more than {MAX_EVENTS:,} events in one request",
            422: "nothing stored: every bad event's problems, numbered from 1 as sent",
        }
    )
    @usage.token_required(*WRITERS)
    def post(self) -> tuple[dict[str, Any], int] | Refusal:
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
                    report = post_usage(
                        session, rows, g.api_user.email, source, digest, dry_run=bool(problems)
                    )
        except Refused as refused:
            refusal, unlisted = refused.problems, refused.unlisted()
        if problems or refusal:
            listed = sorted(problems + refusal, key=lambda p: p.row or 0)
            # the first problems are listed, then how many more there were
            return errors(422, *listed, *([Problem(unlisted)] if unlisted else []))
        return report.as_dict(), 201 if report.inserted else 200


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
