"""What a signed-in user may see: the rules that both the pages and the API apply.

A client user sees only its own council's statements; anything else does not exist
for it (404), so that one council cannot even learn another's statement numbers.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from sqlalchemy.orm import Session

from billing.export import write_statement_workbook
from billing.models import Statement
from billing.statements import get_statement, list_statements
from opsplatform.db import storable
from opsplatform.errors import Refused
from opsplatform.models import User
from opsplatform.periods import Month
from sla.visibility import STAFF as STAFF_AUDIENCE
from sla.visibility import Audience, council

STAFF = ("admin", "manager", "finance", "auditor")
WRITERS = ("admin", "finance")


def client_code(user: User) -> str | None:
    """The client a user is confined to, or None for centre staff."""
    return user.client.code if user.role == "client" and user.client else None


def audience(user: User) -> Audience:
    """What of the performance publication `user` may see (sla.visibility)."""
    return STAFF_AUDIENCE if user.role in STAFF else council(client_code(user))


def visible_statements(session: Session, user: User, month: str | None = None) -> list[Statement]:
    code = client_code(user)
    if user.role == "client" and code is None:
        return []
    return list_statements(session, Month.parse(month) if month else None, code)


def statement_for(session: Session, user: User, number: str) -> Statement | None:
    if not storable(number):  # no statement number holds a NUL, and PostgreSQL refuses one
        return None
    if user.role not in STAFF and user.client_id is None:
        return None
    try:
        return get_statement(session, number, None if user.role in STAFF else user.client_id)
    except Refused:
        return None


def statement_workbook(session: Session, user: User, number: str) -> tuple[BytesIO, str] | None:
    """The statement workbook's bytes and its download name, or None if not the user's to see."""
    found = statement_for(session, user, number)
    if found is None:
        return None
    with tempfile.TemporaryDirectory(prefix="opsplatform-") as folder:
        path = Path(folder) / f"{found.number}.xlsx"
        write_statement_workbook(session, found, path)
        return BytesIO(path.read_bytes()), path.name


def measure_text(value: Decimal | None, unit: str, missing: str = "no data") -> str:
    """A KPI value in its unit, `98.5%`, `3.2 days`; `missing` when nothing was measured."""
    if value is None:
        return missing
    number = f"{round(value, 1):,.1f}".removesuffix(".0")
    return {
        "percent": f"{number}%",
        "days": f"{number} days",
        "seconds": f"{number} seconds",
    }.get(unit, number)
