"""Flask extensions shared by the app factory, the pages and the API."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from opsplatform.db import Database

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(get_remote_address, default_limits=[])


def database() -> Database:
    return current_app.extensions["opsplatform.db"]
