"""Who may do what, and what a signed-in user may see: the rules pages and API both apply.

Roles are grouped here by what they may do (`STAFF`, `WRITERS`, ...), and `signed_in` is
the one guard every page puts in front of itself. A client user sees only its own
council's statements; anything else does not exist for it (404), so that one council
cannot even learn another's statement numbers.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy.orm import Session

from billing.export import write_statement_workbook
from billing.models import Statement
from billing.statements import get_statement, list_statements
from opsplatform.db import storable
from opsplatform.errors import Refused
from opsplatform.models import User
from opsplatform.periods import Month
from opsplatform.vocabulary import Role
from sla.visibility import STAFF as STAFF_AUDIENCE
from sla.visibility import Audience, council

STAFF = (Role.ADMIN, Role.MANAGER, Role.FINANCE, Role.AUDITOR)
WRITERS = (Role.ADMIN, Role.FINANCE)  # import usage and setup, adjust, answer queries
COMMENTATORS = (Role.ADMIN, Role.MANAGER)  # write KPI commentary, change KPI targets
AUDIT_READERS = (Role.ADMIN, Role.AUDITOR)
RAISERS = (Role.CLIENT, *WRITERS)  # finance (and admin) may raise a query on a client's behalf

P = ParamSpec("P")
R = TypeVar("R")


def signed_in(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A page for signed-in users: anyone signed in when no `roles` are named, else only
    those roles. Anyone else signed in gets 404 if it is a client council's user (centre
    pages do not exist for a council) and 403 if it is centre staff."""

    def guard(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if roles and current_user.role not in roles:
                abort(403 if current_user.role in STAFF else 404)
            return view(*args, **kwargs)

        guarded: Callable[P, R] = login_required(checked)
        return guarded

    return guard


def client_code(user: User) -> str | None:
    """The client a user is confined to, or None for centre staff."""
    return user.client.code if user.role == Role.CLIENT and user.client else None


def audience(user: User) -> Audience:
    """What of the performance publication `user` may see (sla.visibility)."""
    return STAFF_AUDIENCE if user.role in STAFF else council(client_code(user))


NO_CLIENT = -1  # no client has this id: a client user with no council sees nothing


def confined_to(user: User) -> int | None:
    """The id of the one client whose statements `user` may list: None for centre staff
    (every client's), the user's council for a client user (NO_CLIENT if it has none)."""
    if user.role in STAFF:
        return None
    return user.client_id if user.client_id is not None else NO_CLIENT


def visible_statements(
    session: Session,
    user: User,
    month: str | None = None,
    status: str | None = None,
) -> list[Statement]:
    """The statements `user` may see (billing.statements.list_statements' choices)."""
    code = client_code(user)
    if user.role == Role.CLIENT and code is None:
        return []
    return list_statements(session, Month.parse(month) if month else None, code, status)


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
