"""Pages: finance."""

from __future__ import annotations

from flask import Blueprint

finance = Blueprint("finance", __name__)
