"""The ledger writer: valid usage events into the usage ledger, in chunks, skipping
repeats and noting conflicts by event_id, inside the caller's transaction.

This is the import's performance machinery: on PostgreSQL each chunk is COPYed on a
worker thread while the importer validates the next, and Python's switch interval is
lowered while it copies (`prompt_handoff`); on SQLite the driver's executemany. Why each
of these, and what it bought, is in docs/PERFORMANCE.md ("Usage import").
"""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from importers.usage_rows import Event, Memo
from opsplatform.errors import Problem, Problems
from opsplatform.models import UsageEvent

if TYPE_CHECKING:
    from psycopg import Connection as Psycopg
    from psycopg.rows import TupleRow

CHUNK = 5000  # events looked up and written at a time
LEDGER_LOCK = 0x6F70_6C65_6467_6572  # PostgreSQL advisory lock key of usage imports ("opledger")
LEDGER = cast(Table, UsageEvent.__table__)  # a mapped class's Table, typed as any FromClause
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
    "paused_at",
    "resumed_at",
)
HANDOFF_SECONDS = 0.001

# A ledger row, in LEDGER_COLUMNS' order, its values already in their stored form.
LedgerRow = tuple[object, ...]
Chunk = list[tuple[int, Event]]  # events by their row number
Counts = tuple[list[LedgerRow], Decimal, dict[str, int]]  # rows, their quantity, rows by month
A = TypeVar("A")
R = TypeVar("R")

_handoff = threading.Lock()
_handing_off = {"writers": 0, "before": 0.0}


@contextmanager
def prompt_handoff() -> Iterator[None]:
    """Python's switch interval lowered to HANDOFF_SECONDS while any LedgerWriter copies,
    so that its worker gets Python's lock back promptly after each block it sends.
    Counted, so overlapping imports in one process put the interval back once, when the
    last of them ends."""
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


class LedgerWriter:
    """Writes valid events of batch `batch_id` to the ledger in chunks, counting what it
    stores and what it skips (`inserted`, `skipped`, `quantity`, `months`) and adding the
    problem of each conflicting event_id to `errors`.

    Rows go with values already in their stored form, each distinct date, instant and
    quantity converted once. Each chunk's look-up of stored event_ids and its write run,
    in order, on the session's own connection and transaction: on PostgreSQL on a worker
    thread, on SQLite on the importer's thread. A chunk's look-up is queued as soon as the
    chunk is complete, ahead of the previous chunk's write, whose new event_ids are
    remembered instead. Used as a context manager, the writer writes what is left and
    waits for it at the end.
    """

    def __init__(self, session: Session, batch_id: int, errors: Problems, source: str) -> None:
        self.batch_id = batch_id
        self.errors = errors
        self.source = source
        self.inserted = self.skipped = 0
        self.quantity = Decimal(0)
        self.months: dict[str, int] = {}
        self.pending: Chunk = []
        # a chunk whose look-up is queued: its events, their event_ids, the look-up, its counts
        self.looked_up: tuple[Chunk, list[str], Future[dict[str, str]], Counts] | None = None
        self.previous: dict[str, str] = {}  # the fingerprints of the last chunk written
        self.writing: deque[Future[None]] = deque()
        self.connection = session.connection()
        dialect = self.connection.dialect

        def stored(column: str) -> Memo[object, object]:
            process = LEDGER.c[column].type._cached_bind_processor(dialect) or (lambda v: v)
            return Memo(lambda value: None if value is None else process(value))

        self.instants, self.dates, self.quantities = (
            stored("occurred_at"),
            stored("local_date"),
            stored("quantity"),
        )
        self.marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self.copy = dialect.name == "postgresql"
        self.worker: ThreadPoolExecutor | None = None
        self.types: list[str] = []
        if self.copy:
            self.sql = (
                f"COPY {LEDGER.name} ({', '.join(LEDGER_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            )
            self.types = [
                LEDGER.c[c].type.compile(dialect).lower().split("(")[0] for c in LEDGER_COLUMNS
            ]
            self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        else:
            self.sql = (
                f"INSERT INTO {LEDGER.name} ({', '.join(LEDGER_COLUMNS)}) "
                f"VALUES ({', '.join([self.marker] * len(LEDGER_COLUMNS))})"
            )
        self.closing = ExitStack()

    def __enter__(self) -> LedgerWriter:
        if self.worker is not None:
            self.closing.callback(self.worker.shutdown)
            self.closing.enter_context(prompt_handoff())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
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

    def _run(self, work: Callable[[A], R], argument: A) -> Future[R]:
        """`work` queued on the worker, or done here when there is none."""
        if self.worker is not None:
            return self.worker.submit(work, argument)
        done: Future[R] = Future()
        done.set_result(work(argument))
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
        self.inserted += len(rows)
        self.quantity += quantity
        for month, count in months.items():
            self.months[month] = self.months.get(month, 0) + count
        if rows:
            self.writing.append(self._run(self._write, rows))

    def _write(self, rows: list[LedgerRow]) -> None:
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

    def _counted(self, chunk: Chunk) -> Counts:
        """The events as ledger rows, with their total quantity and their number by month."""
        rows: list[LedgerRow] = []
        quantity = Decimal(0)
        months: dict[str, int] = {}
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
                    instants[e.paused_at],
                    instants[e.resumed_at],
                )
            )
            quantity += e.quantity
            months[e.month] = months.get(e.month, 0) + 1
        return rows, quantity, months

    def _unrepeated(self, chunk: Chunk, stored: dict[str, str]) -> Chunk:
        """The chunk's events not yet in the ledger; repeats are counted and conflicts
        noted."""
        fresh = []
        for number, e in chunk:
            if e.event_id is not None:
                if e.event_id in stored:
                    if stored[e.event_id] == e.fingerprint:
                        self.skipped += 1
                    else:
                        self.errors.append(
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

    def _copy(self, rows: list[LedgerRow]) -> None:
        """On the worker: COPY the rows (psycopg sends Python values as they are)."""
        # the COPY is made only on PostgreSQL, whose driver here is psycopg
        driver = cast("Psycopg[TupleRow]", self.connection.connection.driver_connection)
        with driver.cursor() as cursor, cursor.copy(self.sql) as copy:
            copy.set_types(self.types)
            for row in rows:
                copy.write_row(row)
