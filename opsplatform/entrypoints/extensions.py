"""Flask extensions shared by the app factory, the pages and the API."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from opsplatform.db import Database
from opsplatform.throttle import Throttle

login_manager = LoginManager()
csrf = CSRFProtect()


def database() -> Database:
    found: Database = current_app.extensions["opsplatform.db"]
    return found


def throttle() -> Throttle:
    found: Throttle = current_app.extensions["opsplatform.throttle"]
    return found
