"""The Flask application factory: pages, API, sign-in, CSRF, throttling, security headers."""

from __future__ import annotations

from flask import Flask, Response, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

from opsplatform.config import Config, load_config
from opsplatform.db import Database, storable
from opsplatform.entrypoints import formats
from opsplatform.entrypoints.api import init_api
from opsplatform.entrypoints.extensions import csrf, database, login_manager
from opsplatform.entrypoints.web import web
from opsplatform.entrypoints.web.account import account
from opsplatform.entrypoints.web.adjustments import adjustments
from opsplatform.entrypoints.web.cycle import cycle
from opsplatform.entrypoints.web.dashboard import KEPT_FIGURES, dashboard
from opsplatform.entrypoints.web.finance import finance
from opsplatform.entrypoints.web.kpis import kpis
from opsplatform.entrypoints.web.open_data import open_data
from opsplatform.entrypoints.web.portal import portal
from opsplatform.entrypoints.web.reference import reference_data
from opsplatform.entrypoints.web.users import users
from opsplatform.settings import centre_settings
from opsplatform.throttle import Throttle
from opsplatform.vocabulary import (
    ImportStatus,
    KpiStatus,
    LineKind,
    QueryStatus,
    RunStatus,
    StatementStatus,
    SubscriptionStatus,
    VatCode,
)

# what every template may call: the text helpers and the vocabulary's enums
TEMPLATE_GLOBALS = {
    "money_text": formats.money_text,
    "quantity_text": formats.quantity_text,
    "measure_text": formats.measure_text,
    "one_place_text": formats.one_place_text,
    "days_text": formats.days_text,
    "london_text": formats.london_text,
    "date_text": formats.date_text,
    "months_text": formats.months_text,
    "month_text": formats.month_text,
    "quarter_text": formats.quarter_text,
    "unit_price_text": formats.unit_price_text,
    "vat_text": formats.vat_text,
    "address_lines": formats.address_lines,
    "tag": formats.tag,
    **{
        term.__name__: term
        for term in (
            ImportStatus,
            KpiStatus,
            LineKind,
            QueryStatus,
            RunStatus,
            StatementStatus,
            SubscriptionStatus,
            VatCode,
        )
    },
}


def centre_name() -> str:
    """The centre's name (Settings `centre_name`), which every page's header shows beside
    the product's name."""
    with database().transaction() as session:
        return centre_settings(session).centre_name


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def create_app(config: Config | None = None) -> Flask:
    """The web app and API. `config` defaults to the environment's (opsplatform.config), so
    that gunicorn and the command line need nothing more; tests may hand one in instead."""
    app = Flask("opsplatform")
    config = config or load_config(app.instance_path)
    app.instance_path = str(config.instance_path)
    app.config.update(
        SECRET_KEY=config.secret_key,
        DATABASE_URL=config.database_url,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.https,
        # the signed cookie is refused after the absolute lifetime, whatever it says
        PERMANENT_SESSION_LIFETIME=config.session_lifetime,
        SESSION_IDLE_TIMEOUT=config.session_idle,
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
    )
    if config.trusted_proxies:
        # the client's address and scheme as the outermost trusted proxy saw them: the
        # entry `trusted_proxies` places from the end of X-Forwarded-For (and -Proto);
        # entries before it, which the client may have written itself, are ignored
        # (wrapping wsgi_app is Flask's documented way; mypy sees a method replaced)
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.extensions["opsplatform.db"] = Database(config.database_url)
    app.extensions["opsplatform.throttle"] = Throttle(config.secret_key)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Sign in to continue"

    app.jinja_env.globals.update(TEMPLATE_GLOBALS, centre_name=centre_name)
    blueprints = (
        web,
        dashboard,
        finance,
        kpis,
        portal,
        reference_data,
        cycle,
        account,
        users,
        adjustments,
        open_data,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    init_api(app)

    @app.before_request
    def refuse_unstorable_text() -> None:
        """A NUL or a lone surrogate in a query or a form field can be stored by neither
        database (PostgreSQL refuses a NUL outright): refuse it here, for every page and
        endpoint at once, rather than fail wherever the text would go. (A path holding one
        names nothing, and is not found.)"""
        texts = [
            text
            for pairs in (request.args.items(multi=True), request.form.items(multi=True))
            for pair in pairs
            for text in pair
        ]
        if not all(map(storable, texts)):
            abort(
                400,
                "The request holds a character that cannot be stored (a NUL character or a "
                "lone surrogate). Remove it and try again.",
            )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if config.https:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if request.endpoint != "static":  # pages, downloads and API answers: never cached
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def close_app(app: Flask) -> None:
    """Let an app go: wait for its background work (an upload being checked or imported,
    the dashboard's figures being recalculated), then close its database connections, so
    that none is left open for the garbage collector (PostgreSQL's driver warns of each)."""
    app.extensions["opsplatform.uploads"].close()
    app.extensions[KEPT_FIGURES].close()
    app.extensions["opsplatform.db"].engine.dispose()
