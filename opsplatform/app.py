"""The Flask application factory."""

from __future__ import annotations

from flask import Flask

from opsplatform.config import load_config
from opsplatform.db import Database


def create_app() -> Flask:
    app = Flask("opsplatform")
    config = load_config(app.instance_path)
    app.instance_path = str(config.instance_path)
    app.config["SECRET_KEY"] = config.secret_key
    app.config["DATABASE_URL"] = config.database_url
    app.extensions["opsplatform.db"] = Database(config.database_url)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
