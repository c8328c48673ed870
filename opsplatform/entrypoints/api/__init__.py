"""The JSON API under /api/v1, for programs: bearer tokens, JSON errors, an OpenAPI document.

Each operation documents its answers with the schemas of `schemas`, and the same schemas
shape them: a view returns objects and flask-smorest dumps them through its response
schema. Every error is `{"errors": [{"message", "row", "column"...}]}` with a 4xx status.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from opsplatform.entrypoints.api.blueprint import errors
from opsplatform.entrypoints.api.docs import describe
from opsplatform.entrypoints.api.reference import reference
from opsplatform.entrypoints.api.schemas import ErrorsSchema, UsageEventSchema
from opsplatform.entrypoints.api.statements import statements
from opsplatform.entrypoints.api.usage import usage
from opsplatform.entrypoints.extensions import csrf


class OpsApi(Api):
    """flask-smorest's Api, with errors as `{"errors": [...]}` (HTML pages for the web app).
    Each operation documents the errors it gives, so there is no catch-all `default` one."""

    ERROR_SCHEMA = ErrorsSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        if request.path.startswith("/api/"):
            return errors(status, error.description or error.name)
        return render_template("error.html", error=error), status


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
