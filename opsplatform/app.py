"""The Flask application factory: pages, API, sign-in, CSRF, throttling, security headers."""

from __future__ import annotations

import os

from flask import Flask, request

from opsplatform.config import load_config
from opsplatform.db import Database
from opsplatform.extensions import csrf, limiter, login_manager

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)


def create_app() -> Flask:
    app = Flask("opsplatform")
    config = load_config(app.instance_path)
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
        # the sign-in throttle counts per process unless workers share a store (e.g. Redis)
        RATELIMIT_STORAGE_URI=os.environ.get("OPSPLATFORM_RATELIMIT_STORAGE_URI", "memory://"),
    )
    app.extensions["opsplatform.db"] = Database(config.database_url)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Sign in to continue"

    from opsplatform.api import init_api
    from opsplatform.web import web
    from opsplatform.web.dashboard import dashboard
    from opsplatform.web.finance import finance
    from opsplatform.web.kpis import kpis
    from opsplatform.web.portal import portal

    for blueprint in (web, dashboard, finance, kpis, portal):
        app.register_blueprint(blueprint)
    init_api(app)

    @app.after_request
    def security_headers(response):
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
    def healthz():
        return {"status": "ok"}

    return app
