"""Usage import: rows from a file (or the API) into the usage ledger, all or nothing.

Rows are validated in a tight loop and written in chunks inside one transaction, so a
file of any size streams through in bounded memory; any bad row anywhere means the
caller rolls everything back. An `event_id` already stored with the same content is
skipped and counted; with different content it is a bad row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import check_header, file_blocks, read_rows
from opsplatform.db import storable, utcnow
from opsplatform.errors import Problem, Refused
from opsplatform.models import Client, ImportBatch, Service, Subscription, UsageEvent
from opsplatform.periods import LONDON, london_midnight_utc, to_utc

COLUMNS = [
    "event_id",
    "client",
    "service",
    "date",
    "quantity",
    "reference",
    "started_at",
    "completed_at",
]
REQUIRED = {"client", "service", "date"}
KNOWN = set(COLUMNS)
CHUNK = 5000
ONE = Decimal(1)


@dataclass
class UsageReport:
    """What an import did, or would do on a dry run."""

    filename: str
    dry_run: bool
    batch: int | None = None
    rows: int = 0
    inserted: int = 0
    skipped: int = 0
    quantity: Decimal = Decimal(0)
    months: dict[str, int] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)

    def counts(self) -> dict:
        """What an import stored, as the audit log records it."""
        return {
            "batch": self.batch,
            "rows": self.rows,
            "inserted": self.inserted,
            "skipped": self.skipped,
        }

    def as_dict(self) -> dict:
        return {
            "batch": self.batch,
            "filename": self.filename,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "inserted": self.inserted,
            "skipped": self.skipped,
            "quantity": f"{self.quantity.normalize():f}",
            "months": dict(sorted(self.months.items())),
            "errors": [p.as_dict() for p in self.errors],
        }


class _References:
    """Clients, services and subscription periods, loaded once per import."""

    def __init__(self, session: Session) -> None:
        self.clients = dict(session.execute(select(Client.code, Client.id)).all())
        self.services = dict(session.execute(select(Service.code, Service.id)).all())
        self.subscriptions: dict[tuple[int, int], list[tuple[date, date | None]]] = {}
        rows = session.execute(
            select(
                Subscription.client_id,
                Subscription.service_id,
                Subscription.start,
                Subscription.end,
            )
        )
        for client_id, service_id, start, end in rows:
            self.subscriptions.setdefault((client_id, service_id), []).append(
                (start, end or date.max)
            )

    def subscribed(self, client_id: int, service_id: int, day: date) -> bool:
        for start, end in self.subscriptions.get((client_id, service_id), ()):
            if start <= day <= end:
                return True
        return False


def _local(value: datetime | date) -> tuple[datetime, date]:
    """The UTC instant and the Europe/London date of a usage date or datetime."""
    if isinstance(value, datetime):
        instant = to_utc(value)
        return instant, instant.astimezone(LONDON).date()
    return london_midnight_utc(value), value


def _in_range(convert: Callable[[object], tuple]) -> Callable[[object], tuple]:
    """`convert`, refusing a moment too near year 1 or 9999 to move between time zones."""

    def converted(value: object) -> tuple:
        try:
            return convert(value)
        except OverflowError:
            raise ValueError(
                f"'{cell.text(value)}' is out of range: too near year 1 or 9999"
            ) from None

    return converted


@_in_range
def _when(value: object) -> tuple[datetime, date, str, float]:
    """A usage date: its UTC instant, London date and month, and the instant's timestamp."""
    instant, local = _local(cell.moment(value))
    return instant, local, f"{local.year:04d}-{local.month:02d}", instant.timestamp()


@_in_range
def _instant(value: object) -> tuple[datetime, float]:
    parsed = cell.moment(value)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    instant = to_utc(parsed)
    return instant, instant.timestamp()


def _quantity(value: object) -> tuple[Decimal, str]:
    quantity = cell.decimal(value)
    if quantity <= 0:
        raise ValueError(f"quantity must be more than 0, not {cell.text(value)}")
    return quantity, f"{quantity.normalize():f}"


def _coded(codes: dict[str, int], kind: str) -> Callable[[object], tuple[str, int]]:
    def find(value: object) -> tuple[str, int]:
        code = cell.text(value).upper()
        if code not in codes:
            raise ValueError(f"unknown {kind} '{cell.text(value)}'")
        return code, codes[code]

    return find


class _Memo(dict):
    """A parse's answers (a ValueError is an answer too) by raw cell value: a file of a
    million rows holds only hundreds of distinct codes, dates and quantities. 1 and 1.0
    are one key, which every parse here reads alike; True is not a number, so booleans
    are parsed each time rather than taken for 1."""

    def __init__(self, parse: Callable[[object], object], limit: int = 100_000) -> None:
        super().__init__()
        self.parse = parse
        self.limit = limit

    def __missing__(self, raw: str) -> object:
        answer = self.answer(raw)
        if len(self) < self.limit:
            self[raw] = answer
        return answer

    def answer(self, raw: object) -> object:
        try:
            return self.parse(raw)
        except ValueError as error:
            return error


@dataclass(slots=True)
class Event:
    """A valid usage row, as the ledger stores it."""

    event_id: str | None
    client_id: int
    service_id: int
    occurred_at: datetime
    local_date: date
    month: str
    quantity: Decimal
    reference: str | None
    started_at: datetime | None
    completed_at: datetime | None
    fingerprint: str


def _free_text(values: dict, column: str, limit: int, found: list) -> str | None:
    """A text column stored as given: at most `limit` characters the databases can store."""
    if values[column] is None:
        return None
    value = cell.text(values[column])
    if len(value) > limit:
        found.append((column, f"{column} is longer than {limit} characters"))
    elif not storable(value):
        found.append((column, f"{column} holds a NUL character or a lone surrogate"))
    return value


class UsageValidator:
    """Turns raw rows (a dict of cells) into events, or into problems.

    A tight loop rather than a marshmallow schema: it runs once per row of files with
    millions of rows, and remembers what each distinct cell text meant.
    """

    def __init__(self, refs: _References, source: str, require_event_id: bool = False) -> None:
        self.refs = refs
        self.source = source
        self.require_event_id = require_event_id
        moments = _Memo(_instant)
        self.parsers = (
            ("client", _Memo(_coded(refs.clients, "client"))),
            ("service", _Memo(_coded(refs.services, "service"))),
            ("date", _Memo(_when)),
            ("quantity", _Memo(_quantity)),
            ("started_at", moments),
            ("completed_at", moments),
        )

    def validate(self, number: int, raw: dict, problems: list[Problem]) -> Event | None:
        found: list[tuple[str, str]] = []
        values = dict.fromkeys(COLUMNS)
        unknown = []
        for column, value in raw.items():
            if value.__class__ is str:
                value = value.strip() or None
            if column in values:
                values[column] = value
            elif value is not None:
                unknown.append(column)
        for column in sorted(unknown):
            found.append((column, f"unknown field '{column}'; expected {', '.join(COLUMNS)}"))
        for column in ("event_id", "client", "service", "date"):
            if values[column] is None and (column != "event_id" or self.require_event_id):
                found.append((column, f"{column} is required"))
        parsed = {}
        for column, memo in self.parsers:
            value = values[column]
            if value is not None:
                answer = memo.answer(value) if value.__class__ is bool else memo[value]
                if isinstance(answer, ValueError):
                    found.append((column, str(answer)))
                else:
                    parsed[column] = answer
        quantity, quantity_text = parsed.get("quantity", (ONE, "1"))
        started, started_ts = parsed.get("started_at", (None, ""))
        completed, completed_ts = parsed.get("completed_at", (None, ""))
        if started and completed and completed < started:
            found.append(("completed_at", "completed_at is before started_at"))
        event_id = _free_text(values, "event_id", 100, found)
        reference = _free_text(values, "reference", 200, found)
        client, service, when = parsed.get("client"), parsed.get("service"), parsed.get("date")
        if client and service and when and not self.refs.subscribed(client[1], service[1], when[1]):
            found.append(
                (
                    "client",
                    f"{client[0]} is not subscribed to {service[0]} on {when[1].isoformat()}",
                )
            )
        if found:
            problems += [Problem(message, self.source, number, column) for column, message in found]
            return None
        occurred_at, local_date, month, occurred_ts = when
        fingerprint = hashlib.sha1(
            f"{client[1]}\x1f{service[1]}\x1f{occurred_ts}\x1f{quantity_text}\x1f{reference or ''}"
            f"\x1f{started_ts}\x1f{completed_ts}".encode()
        ).hexdigest()
        return Event(
            event_id,
            client[1],
            service[1],
            occurred_at,
            local_date,
            month,
            quantity,
            reference,
            started,
            completed,
            fingerprint,
        )


LEDGER_COLUMNS = (
    "batch_id",
    "event_id",
    "fingerprint",
    "client_id",
    "service_id",
    "occurred_at",
    "local_date",
    "month",
    "quantity",
    "reference",
    "started_at",
    "completed_at",
)


class LedgerWriter:
    """Writes valid events to the ledger in chunks, skipping repeats, flagging conflicts.

    Rows go to PostgreSQL's COPY or the driver's executemany with values already in their
    stored form, each distinct date, instant and quantity converted once: the ORM's and
    even Core's per-row work would cost several times the insert itself.

    On PostgreSQL each chunk's COPY runs on a worker thread while the importer validates
    the next chunk: the server's share of the COPY runs in its own process, so on two
    cores the two overlap. Chunks go one at a time, in order, on the session's own
    connection and transaction; used as a context manager, the writer writes what is left
    and waits for it at the end. (SQLite's executemany takes Python's lock back for every
    row, so there a worker would only slow the importer down.)
    """

    def __init__(
        self, session: Session, batch: ImportBatch, report: UsageReport, source: str
    ) -> None:
        self.batch_id = batch.id
        self.report = report
        self.source = source
        self.pending: list[tuple[int, Event]] = []
        self.connection = session.connection()
        dialect = self.connection.dialect
        table = UsageEvent.__table__

        def stored(column: str) -> _Memo:
            process = table.c[column].type._cached_bind_processor(dialect) or (lambda v: v)
            return _Memo(lambda value: None if value is None else process(value))

        self.instants, self.dates, self.quantities = (
            stored("occurred_at"),
            stored("local_date"),
            stored("quantity"),
        )
        self.marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self.copy = dialect.name == "postgresql"
        self.worker: ThreadPoolExecutor | None = None
        self.writing: Future | None = None
        if self.copy:
            self.sql = f"COPY {table.name} ({', '.join(LEDGER_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            self.types = [
                table.c[c].type.compile(dialect).lower().split("(")[0] for c in LEDGER_COLUMNS
            ]
            self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        else:
            self.sql = (
                f"INSERT INTO {table.name} ({', '.join(LEDGER_COLUMNS)}) "
                f"VALUES ({', '.join([self.marker] * len(LEDGER_COLUMNS))})"
            )

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        try:
            if kind is None:
                self.flush()
                self._written()
            elif self.writing is not None:
                self.writing.exception()  # wait for it, keeping the error already on its way
        finally:
            if self.worker is not None:
                self.worker.shutdown()

    def add(self, number: int, event: Event) -> None:
        self.pending.append((number, event))
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Skip the pending events' repeats, flag their conflicts, and hand the rest to the
        worker once it has written the previous chunk."""
        if not self.pending:
            return
        self._written()
        chunk, self.pending = self.pending, []
        fresh = self._fresh(chunk)
        if not fresh:
            return
        if self.worker is not None:
            self.writing = self.worker.submit(self._copy, fresh)
        else:
            self.connection.exec_driver_sql(self.sql, fresh)

    def _written(self) -> None:
        """Wait for the chunk being written; raise what writing it met, if anything."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.result()

    def _stored(self, ids: list[str]) -> dict[str, str]:
        """The fingerprints of those of `ids` already in the ledger."""
        if not ids:
            return {}
        sql = "SELECT event_id, fingerprint FROM usage_events WHERE event_id "
        if self.copy:  # one array parameter: psycopg need not parse thousands of markers
            return dict(self.connection.exec_driver_sql(sql + "= ANY(%s)", (ids,)).all())
        found = sql + f"IN ({', '.join([self.marker] * len(ids))})"
        return dict(self.connection.exec_driver_sql(found, tuple(ids)).all())

    def _fresh(self, chunk: list[tuple[int, Event]]) -> list[tuple]:
        """The chunk's events not yet in the ledger, as ledger rows; repeats are counted
        and conflicts reported."""
        stored = self._stored([e.event_id for _, e in chunk if e.event_id is not None])
        fresh = []
        report, months, batch_id = self.report, self.report.months, self.batch_id
        instants, dates, quantities = self.instants, self.dates, self.quantities
        for number, e in chunk:
            if e.event_id is not None:
                if e.event_id in stored:
                    if stored[e.event_id] == e.fingerprint:
                        report.skipped += 1
                    else:
                        report.errors.append(
                            Problem(
                                f"event_id '{e.event_id}' is already stored with different content",
                                self.source,
                                number,
                                "event_id",
                            )
                        )
                    continue
                stored[e.event_id] = e.fingerprint
            fresh.append(
                (
                    batch_id,
                    e.event_id,
                    e.fingerprint,
                    e.client_id,
                    e.service_id,
                    instants[e.occurred_at],
                    dates[e.local_date],
                    e.month,
                    quantities[e.quantity],
                    e.reference,
                    instants[e.started_at],
                    instants[e.completed_at],
                )
            )
            report.quantity += e.quantity
            months[e.month] = months.get(e.month, 0) + 1
        report.inserted += len(fresh)
        return fresh

    def _copy(self, rows: list[tuple]) -> None:
        """On the worker: COPY the rows (psycopg sends Python values as they are)."""
        with (
            self.connection.connection.dbapi_connection.cursor() as cursor,
            cursor.copy(self.sql) as copy,
        ):
            copy.set_types(self.types)
            for row in rows:
                copy.write_row(row)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for block in file_blocks(path):
        digest.update(block)
    return digest.hexdigest()


def _open_batch(session: Session, filename: str, sha256: str, unique_content: bool) -> ImportBatch:
    earlier = session.scalars(select(ImportBatch).where(ImportBatch.live_sha256 == sha256)).first()
    if unique_content and earlier is not None:
        raise Refused(
            f"{filename}: the same content was already imported as batch {earlier.id} "
            f"({earlier.filename}, {earlier.created_at:%d %b %Y %H:%M} UTC); revert that batch first "
            "if it must be loaded again"
        )
    batch = ImportBatch(
        kind="usage",
        filename=filename,
        sha256=sha256,
        live_sha256=sha256 if unique_content else None,
    )
    session.add(batch)
    session.flush()
    return batch


def import_rows(
    session: Session,
    rows: Iterable[tuple[int, dict]],
    filename: str,
    sha256: str,
    dry_run: bool,
    unique_content: bool = True,
    require_event_id: bool = False,
    progress: Callable[[int], None] | None = None,
) -> UsageReport:
    """Validate and store rows as one batch; raise Refused (listing every bad row) on any.

    A file's content may be imported once (`unique_content`); an API call may repeat,
    its events being skipped by the event_id it must carry (`require_event_id`). The caller
    owns the transaction: it commits on success and rolls back on a dry run or a refusal.
    `progress`, if given, is told the number of rows read after every chunk.
    """
    report = UsageReport(filename=filename, dry_run=dry_run)
    batch = _open_batch(session, filename, sha256, unique_content)
    validator = UsageValidator(_References(session), filename, require_event_id)
    with LedgerWriter(session, batch, report, filename) as writer:
        for number, raw in rows:
            report.rows += 1
            values = validator.validate(number, raw, report.errors)
            if values is not None:
                writer.add(number, values)
            if progress is not None and report.rows % CHUNK == 0:
                progress(report.rows)
    if report.errors:
        report.errors.sort(
            key=lambda p: (p.row or 0, COLUMNS.index(p.column) if p.column in COLUMNS else 99)
        )
        raise UsageRefused(report)
    if report.rows == 0:
        raise Refused(f"{filename}: the file holds no usage rows")
    batch.rows, batch.inserted, batch.skipped = report.rows, report.inserted, report.skipped
    batch.quantity = report.quantity
    report.batch = None if dry_run else batch.id
    return report


class UsageRefused(Refused):
    """A refused import, carrying the full report for `--errors` and `--json`."""

    def __init__(self, report: UsageReport) -> None:
        self.report = report
        super().__init__(report.errors)


def import_file(
    session: Session,
    path: Path,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> UsageReport:
    """Import a usage CSV or XLSX file (see CONTRACT.md section 4)."""
    if not path.is_file():
        raise Refused(f"{path}: no such file")
    header, rows = read_rows(path)
    problems = check_header(header, set(COLUMNS), REQUIRED, path.name)
    if problems:
        raise Refused(problems)
    return import_rows(session, rows, path.name, file_sha256(path), dry_run, progress=progress)


def revert_batch(session: Session, batch_id: int) -> dict:
    """Take a batch's usage out of the ledger; the batch row stays as the record of it."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise Refused(f"there is no import batch {batch_id}")
    if batch.status == "reverted":
        raise Refused(
            f"batch {batch_id} was already reverted on {batch.reverted_at:%d %b %Y %H:%M} UTC"
        )
    months = dict(
        session.execute(
            select(UsageEvent.month, func.count())
            .where(UsageEvent.batch_id == batch_id)
            .group_by(UsageEvent.month)
        ).all()
    )
    removed = session.execute(delete(UsageEvent).where(UsageEvent.batch_id == batch_id)).rowcount
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .values(status="reverted", live_sha256=None, reverted_at=utcnow())
    )
    return {"batch": batch_id, "filename": batch.filename, "removed": removed, "months": months}
