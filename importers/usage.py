"""Usage import: rows from a file (or the API) into the usage ledger, all or nothing.

Rows are validated in a tight loop and written in chunks inside one transaction, so a
file of any size streams through in bounded memory; any bad row anywhere means the
caller rolls everything back. An `event_id` already stored with the same content is
skipped and counted; with different content it is a bad row.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import Spilled, check_header, file_blocks, read_rows
from opsplatform.db import take_turns, utcnow
from opsplatform.errors import Problem, Problems, Refused
from opsplatform.models import Client, ImportBatch, Service, Subscription, UsageEvent
from opsplatform.periods import FIRST_YEAR, LAST_YEAR, LONDON, london_midnight_utc, to_utc

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
LEDGER_LOCK = 0x6F70_6C65_6467_6572  # PostgreSQL advisory lock key of usage imports ("opledger")
ONE = Decimal(1)


def _in_file_order(problem: Problem) -> tuple[int, int]:
    """Row by row, and in a row column by column as the file's columns are listed."""
    return problem.row or 0, COLUMNS.index(problem.column) if problem.column in COLUMNS else 99


@dataclass
class UsageReport:
    """What an import did, or would do on a dry run; of a refused one, its problems (the
    first KEPT in the file's order, and how many in all)."""

    filename: str
    dry_run: bool
    batch: int | None = None
    rows: int = 0
    inserted: int = 0
    skipped: int = 0
    quantity: Decimal = Decimal(0)
    months: dict[str, int] = field(default_factory=dict)
    errors: Problems = field(default_factory=lambda: Problems(_in_file_order))

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
            "error_count": self.errors.total,
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
    """`convert`, refusing a moment outside the years people may name (a slip such as
    9999 for 2026 would otherwise make a statement in a distant year)."""

    def converted(value: object) -> tuple:
        try:
            result = convert(value)
        except OverflowError:  # too near year 1 or 9999 to move between time zones
            result = None
        if result is None or not FIRST_YEAR <= result[0].year <= LAST_YEAR:
            raise ValueError(
                f"'{cell.text(value)}' is out of range: use a date from "
                f"{FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"
            )
        return result

    return converted


@_in_range
def _when(value: object) -> tuple[datetime, date, str, str]:
    """A usage date: its UTC instant, London date and month, and the instant's timestamp
    as the fingerprint writes it."""
    instant, local = _local(cell.moment(value))
    return instant, local, f"{local.year:04d}-{local.month:02d}", str(instant.timestamp())


@_in_range
def _instant(value: object) -> tuple[datetime, str]:
    parsed = cell.moment(value)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    instant = to_utc(parsed)
    return instant, str(instant.timestamp())


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
    """A function's answers by argument, up to `limit` of them: a file of a million rows
    holds only hundreds of distinct codes, dates and quantities."""

    def __init__(self, work: Callable[[object], object], limit: int = 100_000) -> None:
        super().__init__()
        self.work = work
        self.limit = limit

    def __missing__(self, key: object) -> object:
        answer = self.work(key)
        if len(self) < self.limit:
            self[key] = answer
        return answer


class _Column(_Memo):
    """A column's answer for each raw cell value: a tuple when the cell is good, else the
    message saying what is wrong with it (a str). A blank cell's answer is `default`, or
    `required` when the column has no default. 1 and 1.0 are one key, which every parse
    here reads alike; True is not a number, so booleans are answered each time, never
    looked up (True == 1)."""

    def __init__(
        self, parse: Callable[[object], tuple], default: tuple | None = None, required: str = ""
    ) -> None:
        self.parse, self.default, self.required = parse, default, required
        super().__init__(self.answer)

    def answer(self, value: object) -> tuple | str:
        if cell.blank(value):
            return self.default or self.required
        try:
            return self.parse(value)
        except ValueError as error:
            return str(error)


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


def _free_text(value: object, column: str, limit: int, found: list) -> str | None:
    """A text column stored as given (stripped; None when blank): at most `limit`
    characters the databases can store."""
    if value is None:
        return None
    value = value.strip() if value.__class__ is str else cell.text(value)
    if not value:
        return None
    problem = cell.unstorable(column, value, limit)
    if problem:
        found.append((column, problem))
    return value


class UsageValidator:
    """Turns raw rows (a dict of cells) into events, or into problems.

    A tight loop rather than a marshmallow schema: it runs once per row of files with
    millions of rows, and remembers what each distinct cell value meant.
    """

    def __init__(self, refs: _References, source: str, require_event_id: bool = False) -> None:
        self.source = source
        self.require_event_id = require_event_id
        moments = _Column(_instant, (None, ""))
        self.columns = (
            ("client", _Column(_coded(refs.clients, "client"), required="client is required")),
            ("service", _Column(_coded(refs.services, "service"), required="service is required")),
            ("date", _Column(_when, required="date is required")),
            ("quantity", _Column(_quantity, (ONE, "1"))),
            ("started_at", moments),
            ("completed_at", moments),
        )
        self.subscribed = _Memo(lambda key: refs.subscribed(*key))

    def validate(self, number: int, raw: dict, problems: list[Problem]) -> Event | None:
        found: list[tuple[str, str]] = []
        if not raw.keys() <= KNOWN:
            for column in sorted(raw.keys() - KNOWN):
                if not cell.blank(raw[column]):
                    found.append(
                        (column, f"unknown field '{column}'; expected {', '.join(COLUMNS)}")
                    )
        get = raw.get
        event_id = _free_text(get("event_id"), "event_id", 100, found)
        if event_id is None and self.require_event_id:
            found.append(("event_id", "event_id is required"))
        answers = []
        for column, memo in self.columns:
            value = get(column)
            answer = memo.answer(value) if value.__class__ is bool else memo[value]
            if answer.__class__ is str:
                found.append((column, answer))
            answers.append(answer)
        client, service, when, quantity, started, completed = answers
        if (
            started.__class__ is completed.__class__ is tuple
            and started[0]
            and completed[0]
            and completed[0] < started[0]
        ):
            found.append(("completed_at", "completed_at is before started_at"))
        reference = _free_text(get("reference"), "reference", 200, found)
        if (
            client.__class__ is service.__class__ is when.__class__ is tuple
            and not self.subscribed[client[1], service[1], when[1]]
        ):
            message = f"{client[0]} is not subscribed to {service[0]} on {when[1].isoformat()}"
            found.append(("client", message))
        if found:
            problems += [Problem(message, self.source, number, column) for column, message in found]
            return None
        quantity, quantity_text = quantity
        occurred_at, local_date, month, occurred_ts = when
        fingerprint = hashlib.sha1(
            f"{client[1]}\x1f{service[1]}\x1f{occurred_ts}\x1f{quantity_text}\x1f{reference or ''}"
            f"\x1f{started[1]}\x1f{completed[1]}".encode()
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
            started[0],
            completed[0],
            fingerprint,
        )


HANDOFF_SECONDS = 0.001
_handoff = threading.Lock()
_handing_off = {"writers": 0, "before": 0.0}


@contextmanager
def prompt_handoff() -> Iterator[None]:
    """Python's switch interval lowered to HANDOFF_SECONDS while any LedgerWriter copies.

    A thread that sends a block of COPY data and waits for the socket must then wait for
    Python's lock as well, and the importer's thread, busy validating, gives it up only
    every switch interval (5 ms by default): twenty blocks a chunk made the COPY wait
    longer for Python than for PostgreSQL. Counted, so overlapping imports in one process
    put the interval back once, when the last of them ends.
    """
    with _handoff:
        if _handing_off["writers"] == 0:
            _handing_off["before"] = sys.getswitchinterval()
            sys.setswitchinterval(HANDOFF_SECONDS)
        _handing_off["writers"] += 1
    try:
        yield
    finally:
        with _handoff:
            _handing_off["writers"] -= 1
            if _handing_off["writers"] == 0:
                sys.setswitchinterval(_handing_off["before"])


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

    Each chunk's look-up of stored event_ids and its write run, in order, on the
    session's own connection and transaction: on PostgreSQL on a worker thread, so that
    the server does its share in its own process while the importer validates the next
    chunk (on two cores the two overlap); on SQLite on the importer's thread, whose
    executemany takes Python's lock back for every row, so that a worker would only slow
    it down. A chunk's look-up is queued as soon as the chunk is complete, ahead of the
    previous chunk's write, so the importer does not wait for that write: the previous
    chunk's new event_ids are remembered instead. Used as a context manager, the writer
    writes what is left and waits for it at the end.
    """

    def __init__(
        self, session: Session, batch: ImportBatch, report: UsageReport, source: str
    ) -> None:
        self.batch_id = batch.id
        self.report = report
        self.source = source
        self.pending: list[tuple[int, Event]] = []
        self.looked_up: tuple | None = None  # a chunk whose look-up is queued, and its rows
        self.previous: dict[str, str] = {}  # the fingerprints of the last chunk written
        self.writing: deque[Future] = deque()
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
        self.closing = ExitStack()
        if self.worker is not None:
            self.closing.callback(self.worker.shutdown)
            self.closing.enter_context(prompt_handoff())
        return self

    def __exit__(self, kind, *_) -> None:
        try:
            if kind is None:
                self.flush()
                self._write_looked_up()
                while self.writing:
                    self.writing.popleft().result()
        finally:
            self.closing.close()  # the worker finishes its queue before the caller rolls back

    def add(self, number: int, event: Event) -> None:
        self.pending.append((number, event))
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Queue the look-up of the pending events' stored event_ids, then write the chunk
        looked up before."""
        if not self.pending:
            return
        chunk, self.pending = self.pending, []
        ids = [e.event_id for _, e in chunk if e.event_id is not None]
        looking = self._run(self._stored, ids)
        counted = self._counted(chunk)
        self._write_looked_up()
        self.looked_up = (chunk, ids, looking, counted)

    def _run(self, work: Callable, *args) -> Future:
        """`work` queued on the worker, or done here when there is none."""
        if self.worker is not None:
            return self.worker.submit(work, *args)
        done: Future = Future()
        done.set_result(work(*args))
        return done

    def _write_looked_up(self) -> None:
        """Write the chunk looked up, counted as new events; a chunk with an event_id
        already stored, written in the chunk before or twice in itself is counted again
        without its repeats and conflicts."""
        if self.looked_up is None:
            return
        chunk, ids, looking, (rows, quantity, months) = self.looked_up
        self.looked_up = None
        looking.exception()  # once looked up, every write queued before it is done
        while self.writing and self.writing[0].done():
            self.writing.popleft().result()  # an earlier write's error comes first
        stored = looking.result()
        fresh = chunk
        if stored or len(set(ids)) < len(ids) or not self.previous.keys().isdisjoint(ids):
            fresh = self._unrepeated(chunk, self.previous | stored)
            rows, quantity, months = self._counted(fresh)
        self.previous = {e.event_id: e.fingerprint for _, e in fresh if e.event_id is not None}
        report = self.report
        report.inserted += len(rows)
        report.quantity += quantity
        for month, count in months.items():
            report.months[month] = report.months.get(month, 0) + count
        if rows:
            self.writing.append(self._run(self._write, rows))

    def _write(self, rows: list[tuple]) -> None:
        if self.copy:
            self._copy(rows)
        else:
            self.connection.exec_driver_sql(self.sql, rows)

    def _stored(self, ids: list[str]) -> dict[str, str]:
        """The fingerprints of those of `ids` already in the ledger."""
        if not ids:
            return {}
        sql = "SELECT event_id, fingerprint FROM usage_events WHERE event_id "
        if self.copy:
            # One parameter, so psycopg need not parse thousands of markers; as JSON, which
            # Python writes at C speed, where psycopg quotes an array's texts one by one.
            array = "= ANY(ARRAY(SELECT json_array_elements_text(%s::json)))"
            return dict(self.connection.exec_driver_sql(sql + array, (json.dumps(ids),)).all())
        found = sql + f"IN ({', '.join([self.marker] * len(ids))})"
        return dict(self.connection.exec_driver_sql(found, tuple(ids)).all())

    def _counted(self, chunk: list[tuple[int, Event]]) -> tuple[list[tuple], Decimal, dict]:
        """The events as ledger rows, with their total quantity and their number by month."""
        rows, quantity, months = [], Decimal(0), {}
        batch_id = self.batch_id
        instants, dates, quantities = self.instants, self.dates, self.quantities
        for _, e in chunk:
            rows.append(
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
            quantity += e.quantity
            months[e.month] = months.get(e.month, 0) + 1
        return rows, quantity, months

    def _unrepeated(
        self, chunk: list[tuple[int, Event]], stored: dict[str, str]
    ) -> list[tuple[int, Event]]:
        """The chunk's events not yet in the ledger; repeats are counted and conflicts
        noted."""
        fresh = []
        for number, e in chunk:
            if e.event_id is not None:
                if e.event_id in stored:
                    if stored[e.event_id] == e.fingerprint:
                        self.report.skipped += 1
                    else:
                        self.report.errors.append(
                            Problem(
                                f"event_id '{e.event_id}' is already stored with different content",
                                self.source,
                                number,
                                "event_id",
                            )
                        )
                    continue
                stored[e.event_id] = e.fingerprint
            fresh.append((number, e))
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
    `progress`, if given, is told the number of rows read after every chunk. Of a file
    with very many bad rows only the first problems are kept (see Problems).
    """
    # imports that overlap would both miss each other's event_ids and file hash, and the
    # second would fail on the unique key instead of skipping repeats or naming the batch
    take_turns(session, LEDGER_LOCK, ImportBatch.__table__, "another import is still writing")
    report = UsageReport(filename=filename, dry_run=dry_run)
    batch = _open_batch(session, filename, sha256, unique_content)
    validator = UsageValidator(_References(session), filename, require_event_id)
    with LedgerWriter(session, batch, report, filename) as writer:
        for number, raw in rows:
            report.rows += 1
            if raw.__class__ is Spilled:
                report.errors.append(raw.problem(filename, number))
            values = validator.validate(number, raw, report.errors)
            if values is not None:
                writer.add(number, values)
            if progress is not None and report.rows % CHUNK == 0:
                progress(report.rows)
    if report.errors:
        raise UsageRefused(report)
    if report.rows == 0:
        raise Refused(f"{filename}: the file holds no usage rows")
    if not unique_content and report.inserted == 0:
        session.delete(batch)  # a replay whose events are all stored leaves no empty batch
        return report
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
    with read_rows(path) as (header, rows):
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
