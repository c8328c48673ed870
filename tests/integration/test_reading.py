"""`Database.reading()`: what pages and downloads look through changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from opsplatform.models import Client


def test_a_reading_session_keeps_nothing_it_was_given(database):
    before = _clients(database)
    with database.reading() as session:
        session.add(Client(code="NEW", name="New Council", nation="england"))
        if database.engine.dialect.name == "postgresql":
            # declared READ ONLY there: the write by mistake fails at once
            with pytest.raises(DBAPIError, match="read-only transaction"):
                session.flush()
        else:
            session.flush()
    assert _clients(database) == before


def test_a_reading_session_sees_what_is_stored(database):
    with database.transaction() as session:
        session.add(Client(code="SEEN", name="Seen Council", nation="wales"))
    with database.reading() as session:
        assert session.scalar(select(Client.name).where(Client.code == "SEEN")) == "Seen Council"


def _clients(database) -> int:
    with database.reading() as session:
        return session.scalar(select(func.count(Client.id))) or 0
