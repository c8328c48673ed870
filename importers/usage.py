"""Usage import: rows from a file (or the API) into the usage ledger, all or nothing.

Rows are validated in a tight loop and written in chunks inside one transaction, so a
file of any size streams through in bounded memory; any bad row anywhere means the
caller rolls everything back. An `event_id` already stored with the same content is
skipped and counted; with different content it is a bad row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import blank, check_header, file_blocks, read_rows
from opsplatform.db import utcnow
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
            self.subscriptions.setdefault((client_id, service_id), []).append((start, end))
        self._answers: dict[tuple[int, int, date], bool] = {}

    def subscribed(self, client_id: int, service_id: int, day: date) -> bool:
        key = (client_id, service_id, day)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = any(
                start <= day and (end is None or day <= end)
                for start, end in self.subscriptions.get((client_id, service_id), ())
            )
        return answer


def _local(value: datetime | date) -> tuple[datetime, date]:
    """The UTC instant and the Europe/London date of a usage date or datetime."""
    if isinstance(value, datetime):
        instant = to_utc(value)
        return instant, instant.astimezone(LONDON).date()
    return london_midnight_utc(value), value


def _instant(value: object) -> datetime:
    parsed = cell.moment(value)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    return to_utc(parsed)


class UsageValidator:
    """Turns raw rows (a dict of cells) into ledger values, or into problems.

    A tight loop rather than a marshmallow schema: it runs once per row of files
    with millions of rows.
    """

    def __init__(self, refs: _References, source: str, require_event_id: bool = False) -> None:
        self.refs = refs
        self.source = source
        self.require_event_id = require_event_id

    def validate(self, number: int, raw: dict, problems: list[Problem]) -> dict | None:
        bad = len(problems)

        def problem(column: str, message: str) -> None:
            problems.append(Problem(message, self.source, number, column))

        cells = {
            k: cell.text(v) if isinstance(v, str) else v for k, v in raw.items() if not blank(v)
        }
        for column in sorted(set(cells) - KNOWN):
            problem(column, f"unknown field '{column}'; expected {', '.join(COLUMNS)}")
        for column in ("event_id", "client", "service", "date"):
            if column not in cells and (column != "event_id" or self.require_event_id):
                problem(column, f"{column} is required")
        client = cell.text(cells["client"]).upper() if "client" in cells else None
        service = cell.text(cells["service"]).upper() if "service" in cells else None
        client_id = self.refs.clients.get(client) if client else None
        service_id = self.refs.services.get(service) if service else None
        if client and client_id is None:
            problem("client", f"unknown client '{cell.text(cells['client'])}'")
        if service and service_id is None:
            problem("service", f"unknown service '{cell.text(cells['service'])}'")
        occurred_at = local_date = None
        if "date" in cells:
            try:
                occurred_at, local_date = _local(cell.moment(cells["date"]))
            except ValueError as error:
                problem("date", str(error))
        quantity = Decimal(1)
        if "quantity" in cells:
            try:
                quantity = cell.decimal(cells["quantity"])
            except ValueError as error:
                problem("quantity", str(error))
            else:
                if quantity <= 0:
                    problem(
                        "quantity",
                        f"quantity must be more than 0, not {cell.text(cells['quantity'])}",
                    )
        moments = {}
        for column in ("started_at", "completed_at"):
            moments[column] = None
            if column in cells:
                try:
                    moments[column] = _instant(cells[column])
                except ValueError as error:
                    problem(column, str(error))
        started, completed = moments["started_at"], moments["completed_at"]
        if started and completed and completed < started:
            problem("completed_at", "completed_at is before started_at")
        event_id = cell.text(cells["event_id"]) if "event_id" in cells else None
        if event_id is not None and len(event_id) > 100:
            problem("event_id", "event_id is longer than 100 characters")
        reference = cell.text(cells["reference"]) if "reference" in cells else None
        if reference is not None and len(reference) > 200:
            problem("reference", "reference is longer than 200 characters")
        if (
            client_id
            and service_id
            and local_date
            and not self.refs.subscribed(client_id, service_id, local_date)
        ):
            problem(
                "client", f"{client} is not subscribed to {service} on {local_date.isoformat()}"
            )
        if len(problems) > bad:
            return None
        values = {
            "event_id": event_id,
            "client_id": client_id,
            "service_id": service_id,
            "occurred_at": occurred_at,
            "local_date": local_date,
            "month": f"{local_date.year:04d}-{local_date.month:02d}",
            "quantity": quantity,
            "reference": reference,
            "started_at": started,
            "completed_at": completed,
        }
        values["fingerprint"] = _fingerprint(values)
        return values


def _fingerprint(values: dict) -> str:
    """A hash of what the event says, to tell a repeat of it from a conflicting one."""
    started, completed = values["started_at"], values["completed_at"]
    content = (
        f"{values['client_id']}\x1f{values['service_id']}\x1f{values['occurred_at'].timestamp()}"
        f"\x1f{values['quantity'].normalize():f}\x1f{values['reference'] or ''}"
        f"\x1f{started.timestamp() if started else ''}\x1f{completed.timestamp() if completed else ''}"
    )
    return hashlib.sha1(content.encode()).hexdigest()


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
    """Writes validated rows to the ledger in chunks, skipping repeats, flagging conflicts.

    Rows go to the driver's executemany with values already in their stored form:
    the ORM's and even Core's per-row work would cost several times the insert itself.
    """

    def __init__(
        self, session: Session, batch: ImportBatch, report: UsageReport, source: str
    ) -> None:
        self.session = session
        self.batch = batch
        self.report = report
        self.source = source
        self.pending: list[tuple[int, dict]] = []
        connection = session.connection()
        dialect = connection.dialect
        table = UsageEvent.__table__
        self.processors = [
            table.c[name].type._cached_bind_processor(dialect) for name in LEDGER_COLUMNS
        ]
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (
            f"INSERT INTO {table.name} ({', '.join(LEDGER_COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(LEDGER_COLUMNS))})"
        )

    def add(self, number: int, values: dict) -> None:
        self.pending.append((number, values))
        if len(self.pending) >= CHUNK:
            self.flush()

    def _stored(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        query = select(UsageEvent.event_id, UsageEvent.fingerprint).where(
            UsageEvent.event_id.in_(ids)
        )
        return dict(self.session.execute(query).all())

    def flush(self) -> None:
        if not self.pending:
            return
        stored = self._stored([v["event_id"] for _, v in self.pending if v["event_id"] is not None])
        fresh = []
        for number, values in self.pending:
            event_id = values["event_id"]
            if event_id is not None and event_id in stored:
                if stored[event_id] == values["fingerprint"]:
                    self.report.skipped += 1
                else:
                    self.report.errors.append(
                        Problem(
                            f"event_id '{event_id}' is already stored with different content",
                            self.source,
                            number,
                            "event_id",
                        )
                    )
                continue
            if event_id is not None:
                stored[event_id] = values["fingerprint"]
            values["batch_id"] = self.batch.id
            fresh.append(
                tuple(
                    process(values[name]) if process else values[name]
                    for name, process in zip(LEDGER_COLUMNS, self.processors, strict=True)
                )
            )
            self.report.inserted += 1
            self.report.quantity += values["quantity"]
            self.report.months[values["month"]] = self.report.months.get(values["month"], 0) + 1
        if fresh:
            self.session.connection().exec_driver_sql(self.sql, fresh)
        self.pending = []


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
    writer = LedgerWriter(session, batch, report, filename)
    for number, raw in rows:
        report.rows += 1
        values = validator.validate(number, raw, report.errors)
        if values is not None:
            writer.add(number, values)
        if progress is not None and report.rows % CHUNK == 0:
            progress(report.rows)
    writer.flush()
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
