"""Usage import: rows from a file (or the API) into the usage ledger, all or nothing, and
the revert of an import; each recorded in the audit log by whoever acts.

Rows are validated (importers.usage_rows) and written in chunks (importers.ledger) inside
one transaction, so a file of any size streams through in bounded memory; any bad row
anywhere means the caller rolls everything back. An `event_id` already stored with the
same content is skipped and counted; with different content it is a bad row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict, cast

from sqlalchemy import CursorResult, Table, delete, func, select, update
from sqlalchemy.orm import Session

from importers.ledger import CHUNK, LEDGER_LOCK, LedgerWriter
from importers.tables import Spilled, check_header, file_blocks, read_rows
from importers.usage_rows import COLUMNS, REQUIRED, References, Row, UsageValidator, in_file_order
from opsplatform.audit import record
from opsplatform.db import take_turns, utcnow
from opsplatform.errors import Problems, Refused
from opsplatform.models import ImportBatch, UsageEvent
from opsplatform.periods import Month
from opsplatform.settings import locked_years

BATCHES = cast(Table, ImportBatch.__table__)  # a mapped class's Table, typed as any FromClause


class Reverted(TypedDict):
    """What a revert took out of the ledger, as the audit log records it."""

    batch: int
    filename: str
    removed: int
    months: dict[str, int]


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
    errors: Problems = field(default_factory=lambda: Problems(in_file_order))

    def counts(self) -> dict[str, int | None]:
        """What an import stored, as the audit log records it."""
        return {
            "batch": self.batch,
            "rows": self.rows,
            "inserted": self.inserted,
            "skipped": self.skipped,
        }

    def as_dict(self) -> dict[str, object]:
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


class UsageRefused(Refused):
    """A refused import, carrying the full report for `--errors` and `--json`."""

    def __init__(self, report: UsageReport) -> None:
        self.report = report
        super().__init__(report.errors)


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


def _import_rows(
    session: Session,
    rows: Iterable[tuple[int, Row]],
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
    take_turns(session, LEDGER_LOCK, BATCHES, "another import is still writing")
    report = UsageReport(filename=filename, dry_run=dry_run)
    batch = _open_batch(session, filename, sha256, unique_content)
    validator = UsageValidator(References(session), filename, require_event_id)
    with LedgerWriter(session, batch.id, report.errors, filename) as writer:
        for number, raw in rows:
            report.rows += 1
            if type(raw) is Spilled:
                report.errors.append(raw.problem(filename, number))
            values = validator.validate(number, raw, report.errors)
            if values is not None:
                writer.add(number, values)
            if progress is not None and report.rows % CHUNK == 0:
                progress(report.rows)
    report.inserted, report.skipped = writer.inserted, writer.skipped
    report.quantity, report.months = writer.quantity, writer.months
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


def check_file(
    session: Session, path: Path, progress: Callable[[int], None] | None = None
) -> UsageReport:
    """What importing a usage file would do, writing nothing (a dry run: no one to audit)."""
    return _read_and_import(session, path, True, progress)


def _read_and_import(
    session: Session,
    path: Path,
    dry_run: bool,
    progress: Callable[[int], None] | None,
) -> UsageReport:
    """Import a usage CSV or XLSX file (see CONTRACT.md section 4), rolled back by the
    caller if `dry_run`; `import_file` and `check_file` are the ways in."""
    if not path.is_file():
        raise Refused(f"{path}: no such file")
    with read_rows(path) as (header, rows):
        problems = check_header(header, set(COLUMNS), REQUIRED, path.name)
        if problems:
            raise Refused(problems)
        return _import_rows(session, rows, path.name, file_sha256(path), dry_run, progress=progress)


def import_file(
    session: Session,
    path: Path,
    actor: str,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> UsageReport:
    """Import a usage CSV or XLSX file for `actor`, recorded as "usage import" unless it
    is a dry run."""
    report = _read_and_import(session, path, dry_run, progress)
    if not dry_run:
        record(session, actor, "usage import", path.name, **report.counts())
    return report


def post_usage(
    session: Session,
    events: Iterable[tuple[int, Row]],
    actor: str,
    source: str,
    digest: str,
    dry_run: bool,
) -> UsageReport:
    """Store usage events posted by `actor` as `source` (their request's `digest`), all or
    nothing, each carrying an event_id by which a repeat is skipped; recorded as "usage
    post" unless a dry run or a replay that stores nothing new."""
    report = _import_rows(
        session, events, source, digest, dry_run, unique_content=False, require_event_id=True
    )
    if not dry_run and report.inserted:  # a replay changes nothing to audit
        record(session, actor, "usage post", source, **report.counts())
    return report


def revert_batch(session: Session, batch_id: int, actor: str) -> Reverted:
    """Take a batch's usage out of the ledger for `actor`, recorded as "usage revert"; the
    batch row stays as the record of it."""
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
    locked = sorted({str(Month.parse(m).financial_year) for m in months} & locked_years(session))
    if locked:
        raise Refused(
            f"batch {batch_id} holds usage of {', '.join(locked)}, which is locked "
            "(billing lock-year): its usage can no longer change; correct its statements "
            "with billing adjust"
        )
    deleted = cast(
        CursorResult[Any],  # what a DELETE gives, though Session.execute says any Result
        session.execute(delete(UsageEvent).where(UsageEvent.batch_id == batch_id)),
    )
    session.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .values(status="reverted", live_sha256=None, reverted_at=utcnow())
    )
    result: Reverted = {
        "batch": batch_id,
        "filename": batch.filename,
        "removed": deleted.rowcount,
        "months": months,
    }
    record(session, actor, "usage revert", f"batch {batch_id}", **result)
    return result
