"""The SQLAlchemy base, exact column types, engines and one-transaction sessions.

Money and quantities are stored as scaled integers (pence, millionths) so that they
round-trip exactly and add up exactly in SQL on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from opsplatform.errors import Refused

# Marks (in a constraint's `info`) a foreign key that PostgreSQL checks by statement-level
# triggers rather than as a constraint; see models.ledger_reference and migration 0004.
TRIGGER_CHECKED = "checked by triggers on PostgreSQL"


class _Scaled(TypeDecorator[Decimal]):
    """A Decimal stored as an integer count of 10**-places; refuses anything finer."""

    impl = BigInteger
    cache_ok = True
    places = 0

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        scaled = Decimal(value).scaleb(self.places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.places).quantize(Decimal(1).scaleb(-self.places))


class Money(_Scaled):
    """GBP with exactly two decimal places, stored as whole pence."""

    places = 2
    cache_ok = True


class Quantity(_Scaled):
    """A quantity, rate, percentage or driver value with up to six decimal places."""

    places = 6
    cache_ok = True


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes are stored in UTC and must carry a timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every mapped table; constraints get stable names for later migrations."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def storable(value: str) -> bool:
    """Whether both databases can store the text: no NUL (PostgreSQL refuses it) and no
    lone surrogate (not UTF-8)."""
    if "\x00" in value:
        return False
    if value.isascii():  # the common case, answered without encoding
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def utcnow() -> datetime:
    return datetime.now(UTC)


BUSY_SECONDS = 30  # how long an action waits for its turn before it is refused


def take_turns(session: Session, lock: int, table: Table, busy: str) -> None:
    """Make concurrent actions of one kind take turns: call first, before reading anything.

    Two such actions that overlap would both read the same state and both write on it,
    the second failing on a unique key (or, worse, counting something twice). Taking a
    lock first makes the second wait for the first to commit, then see what it wrote.
    PostgreSQL: the transaction-scoped advisory lock `lock`. SQLite: a first write to
    `table` that changes nothing takes the database's write lock now, not at the first
    INSERT. Either waits up to BUSY_SECONDS, then refuses with `busy` (what is under way).
    """
    dialect = session.get_bind().dialect.name
    try:
        if dialect == "postgresql":
            session.execute(text(f"SET LOCAL lock_timeout = '{BUSY_SECONDS}s'"))
            session.execute(select(func.pg_advisory_xact_lock(lock)))
            session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
        elif dialect == "sqlite":
            key = next(iter(table.primary_key))
            session.execute(update(table).where(false()).values({key: key}))
    except OperationalError as error:
        if "lock" not in str(error):  # SQLite: "database is locked"; PostgreSQL: 55P03
            raise
        raise Refused(f"the database is busy: {busy}; try again when it has finished") from None


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets foreign keys, WAL and a busy timeout so concurrent writers wait."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Database:
    """An engine and its session factory, for one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A look at the data that changes nothing, for a page or a download: always rolled
        back, and on PostgreSQL declared READ ONLY, so that a write by mistake fails loudly."""
        with self.sessions() as session:
            try:
                if self.engine.dialect.name == "postgresql":
                    session.execute(text("SET TRANSACTION READ ONLY"))
                yield session
            finally:
                session.rollback()

    @contextmanager
    def transaction(self, dry_run: bool = False) -> Iterator[Session]:
        """One business action: commit on success (roll back on a dry run or any error)."""
        with self.sessions() as session:
            try:
                yield session
            except BaseException:
                session.rollback()
                raise
            if dry_run:
                session.rollback()
            else:
                session.commit()
