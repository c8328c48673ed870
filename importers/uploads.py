"""Uploads: usage files, setup workbooks and cost ledgers waiting between their check and
their import.

Every import is checked first (a dry run) and made only when the officer confirms it.
Between the two the file waits in the uploads folder (the instance folder's `uploads/`)
as `<token>/<file name>`, under a random token, beside a hidden `.meta.json` and, for a
refused file, `.errors.xlsx`. `.meta.json` is the upload's whole state: whose it is, its
state (new, checking, checked, refused, frozen, importing, imported), the job's progress
(rows done of about how many, and a heartbeat) and what the check found. It is rewritten
whole at every step, so any worker of any host sharing the folder reads the same. A
token belongs to the person who uploaded the file and is gone once the import is made;
uploads left unconfirmed are swept away after a day.

Checks and imports run as background jobs, one at a time per process (`Uploads`). A job
is one transaction: if its process dies nothing of it is written, and once it has not
reported for a while it counts as stalled, and the upload goes back to where the
officer can start again.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy.orm import Session

from importers.costs import import_costs
from importers.setup import check_setup, load_setup
from importers.setup_loader import Issued, LoadReport
from importers.tables import estimate_rows
from importers.templates import write_error_report
from importers.usage import UsageRefused, check_file, import_file
from opsplatform.db import Database
from opsplatform.errors import TARIFF_FROZEN, Problem, Refused
from opsplatform.periods import FinancialYear, Month

log = logging.getLogger("opsplatform.imports")

TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # what a stored file name may not hold
LONGEST_NAME = 150
META, ERRORS, LOCK = ".meta.json", ".errors.xlsx", ".commit.lock"  # never a safe_name
RUNNING = ("checking", "importing")  # states of a job under way
STALE_SECONDS = 24 * 60 * 60  # unconfirmed uploads older than this are removed
STALL_SECONDS = 5 * 60  # a started job silent this long died with its process
QUEUE_SECONDS = 60 * 60  # a job waiting this long for its turn was lost with its process

# What the checks ask billing, which importers may not import (docs/ARCHITECTURE.md):
IssuedAmong = Callable[[Session, Collection[str]], set[str]]  # which of these are issued
# a setup check made through it, and how it moves each client's charges (billing.effects)
Measure = Callable[[Session, Callable[[], LoadReport]], tuple[LoadReport, dict[str, object]]]
Settled = Callable[[Session, FinancialYear], bool]  # whether a year's outturn is approved


def safe_name(name: str, kind: str) -> str:
    """The name to store an uploaded file under, after the name it came with: ASCII letters,
    digits, `_`, `.` and `-` only (folders and spaces become `_`), never starting with a dot,
    at most LONGEST_NAME characters, and ending with the original's suffix (`<kind><suffix>`,
    in lower case, when nothing else of the name is left)."""
    suffix = UNSAFE.sub("", PurePosixPath(name).suffix).lower()
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    safe = UNSAFE.sub("", "_".join(plain.replace("/", " ").split())).strip("._")
    if not safe.lower().endswith(suffix) or len(safe) <= len(suffix):
        safe = f"{kind}{suffix}"
    if len(safe) > LONGEST_NAME:
        safe = safe[: LONGEST_NAME - len(suffix)] + suffix
    return safe


def usage_months(
    session: Session, counts: dict[str, int], issued_among: IssuedAmong
) -> list[dict[str, Any]]:
    """Rows of usage per month (YYYY-MM), in month order, each named ("May 2026") and marked
    if its month's statements are issued (its rows will be billed as corrections)."""
    issued = issued_among(session, counts) if counts else set()
    return [
        {"month": m, "name": Month.parse(m).label, "rows": n, "issued": m in issued}
        for m, n in sorted(counts.items())
    ]


def _frozen(problem: Problem) -> bool:
    return problem.code == TARIFF_FROZEN


def _rows(refused: Refused) -> int | None:
    """How many rows a refused usage file held, if its import got as far as reading them."""
    return refused.report.rows if isinstance(refused, UsageRefused) else None


class Upload:
    """An uploaded file and what its check found, kept in its folder (named by its token)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta

    @property
    def token(self) -> str:
        return self.folder.name

    @property
    def path(self) -> Path:
        return self.folder / str(self.meta["filename"])

    @property
    def errors_path(self) -> Path:
        return self.folder / ERRORS

    def waits_in(self, state: str) -> bool:
        """Whether the upload is in `state` with its file still there to check or import."""
        return self.meta["state"] == state and self.path.is_file()

    @property
    def running(self) -> bool:
        return self.meta["state"] in RUNNING

    def save(self) -> None:
        partial = self.folder / f"{META}.partial"
        partial.write_text(json.dumps(self.meta, default=str), encoding="utf-8")
        os.replace(partial, self.folder / META)

    def claim(self) -> bool:
        """Take the upload for one import; False if another request already has it."""
        try:
            os.close(os.open(self.folder / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def release(self) -> None:
        (self.folder / LOCK).unlink(missing_ok=True)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def refused(self, refusal: Refused, rows: int | None = None) -> None:
        """Record a refusal: its problems (the first KEPT) for the page and in the error
        workbook, and how many there were.

        A setup workbook refused only because it changes frozen tariffs is kept, so that
        the officer can check it again with re-rating; any other refused file is dropped.
        """
        problems = refusal.problems
        write_error_report(self.errors_path, refusal)
        frozen = (
            self.meta["kind"] == "setup"
            and bool(problems)
            and refusal.total == len(problems)
            and all(map(_frozen, problems))
        )
        if not frozen:
            self.path.unlink(missing_ok=True)
        self.meta.update(
            state="frozen" if frozen else "refused",
            partly_frozen=any(map(_frozen, problems)),
            rows=rows,
            problems=[p.as_dict() for p in problems],
            problem_count=refusal.total,
        )
        self.save()

    def progressed(self, rows: int) -> None:
        self.meta.update(done=rows, heartbeat=time.time())
        self.save()

    def stalled(self) -> bool:
        """Whether this upload's job stopped without finishing (its process died)."""
        if not self.running:
            return False
        limit = STALL_SECONDS if self.meta["started"] else QUEUE_SECONDS
        return bool(time.time() - self.meta["heartbeat"] > limit)

    def interrupted(self) -> None:
        """Record a job that did not finish; its transaction wrote nothing."""
        if self.meta["state"] == "importing":
            self.meta.update(
                state="checked",
                notice="The import did not finish, so nothing was imported. "
                "You can import the file again.",
            )
            self.save()
            self.release()
        else:
            self.refused(
                Refused(
                    f"{self.meta['filename']}: the check did not finish, so nothing was "
                    "checked. Upload the file again."
                )
            )

    def finished(self, message: str) -> None:
        """Record a finished import: the file goes; the message waits for its page."""
        self.path.unlink(missing_ok=True)
        self.meta.update(state="imported", message=message)
        self.save()
        self.release()


class Uploads:
    """The uploads waiting in `folder`, and the one job thread of this process that checks
    and imports them in `db`, so that imports never wait on each other's locks."""

    def __init__(
        self,
        folder: Path,
        db: Database,
        issued: Issued,
        issued_among: IssuedAmong,
        measure: Measure,
        settled: Settled,
    ) -> None:
        self.folder = folder
        self.db = db
        self.issued = issued
        self.issued_among = issued_among
        self.measure = measure
        self.settled = settled
        self.jobs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsplatform-import")

    def receive(self, kind: str, name: str, content: IO[bytes], user_id: int) -> Upload:
        """Store a file of `kind` ("usage", "setup" or "costs") uploaded by `user_id` under a new
        token, named after `name` made safe."""
        self.sweep()
        upload = Upload(
            self.folder / secrets.token_urlsafe(24),
            {
                "kind": kind,
                "user_id": user_id,
                "filename": safe_name(name, kind),
                "uploaded_at": datetime.now(UTC).isoformat(),
                "state": "new",
                "rerate": False,
            },
        )
        upload.folder.mkdir(parents=True)
        with upload.path.open("wb") as file:
            shutil.copyfileobj(content, file)
        upload.save()
        return upload

    def find(self, kind: str, token: str, user_id: int) -> Upload | None:
        """`user_id`'s upload of `kind` under `token`, if there is one."""
        if not TOKEN.fullmatch(token):
            return None
        folder = self.folder / token
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("kind") != kind or meta.get("user_id") != user_id:
            return None
        return Upload(folder, meta)

    def sweep(self) -> None:
        """Remove uploads nobody confirmed within a day."""
        if not self.folder.is_dir():
            return
        cutoff = time.time() - STALE_SECONDS
        for folder in self.folder.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue

    # -- the jobs --

    def check(self, upload: Upload, wait: float) -> None:
        """Check the upload (its import as a dry run) as a job; wait up to `wait` seconds
        in case it is quick."""
        checks = {"usage": self._check_usage, "setup": self._check_setup}
        self._start(upload, "checking", checks.get(upload.meta["kind"], self._check_costs), wait)

    def recheck_rerating(self, upload: Upload, wait: float) -> None:
        """Check a setup workbook refused for frozen tariffs again, re-rating issued months."""
        upload.meta["rerate"] = True
        upload.errors_path.unlink(missing_ok=True)
        self.check(upload, wait)

    def commit(self, upload: Upload, email: str, wait: float) -> bool:
        """Import the checked upload for `email` (the audit log names them) as a job; wait
        up to `wait` seconds. False if another request already has it."""
        if not upload.claim():
            return False
        imports = {"usage": self._import_usage, "setup": self._load_setup}
        work = imports.get(upload.meta["kind"], self._import_costs)
        self._start(upload, "importing", functools.partial(work, email=email), wait)
        return True

    def close(self) -> None:
        """Wait for the job under way, and take no more."""
        self.jobs.shutdown(wait=True)

    def _start(
        self, upload: Upload, state: str, work: Callable[[Upload], None], wait: float
    ) -> None:
        upload.meta.update(state=state, started=False, done=0, heartbeat=time.time(), about=None)
        upload.meta.pop("notice", None)
        upload.save()
        wait_for([self.jobs.submit(self._run, upload, state, work)], timeout=wait)

    def _run(self, upload: Upload, state: str, work: Callable[[Upload], None]) -> None:
        upload.meta.update(started=True, heartbeat=time.time())
        upload.save()
        try:
            # counted here, not in the request: even counting reads the whole file
            about = estimate_rows(upload.path, every_sheet=upload.meta["kind"] == "setup")
            upload.meta.update(about=about, heartbeat=time.time())
            upload.save()
            work(upload)
        except Exception:  # logged; the page says the job did not finish
            log.exception("%s of upload %s failed", state, upload.token)
            upload.interrupted()

    def _check_usage(self, upload: Upload) -> None:
        try:
            with self.db.transaction(dry_run=True) as session:
                report = check_file(session, upload.path, progress=upload.progressed)
                months = usage_months(session, report.months, self.issued_among)
        except Refused as refused:
            upload.refused(refused, _rows(refused))
            return
        upload.meta.update(
            state="checked",
            rows=report.rows,
            inserted=report.inserted,
            skipped=report.skipped,
            quantity=f"{report.quantity.normalize():,f}",
            months=months,
        )
        upload.save()

    def _import_usage(self, upload: Upload, email: str) -> None:
        filename = upload.meta["filename"]
        try:
            with self.db.transaction() as session:
                report = import_file(session, upload.path, email, progress=upload.progressed)
        except Refused as refused:
            upload.refused(refused, _rows(refused))
            upload.release()
            return
        upload.finished(
            f"Batch {report.batch} imported: {report.inserted:,} of {report.rows:,} "
            f"row{'' if report.rows == 1 else 's'} from {filename}"
            + (f" ({report.skipped:,} already stored, skipped)" if report.skipped else "")
        )

    def _check_setup(self, upload: Upload) -> None:
        try:
            with self.db.transaction(dry_run=True) as session:
                report, effects = self.measure(
                    session,
                    lambda: check_setup(
                        session,
                        upload.path,
                        issued=self.issued,
                        rerate=upload.meta["rerate"],
                        progress=upload.progressed,
                    ),
                )
        except Refused as refused:
            upload.refused(refused)
            return
        upload.meta.update(
            state="checked",
            sheets=report.sheets,
            changes=report.changes_document(),
            effects=effects,
            problems=[],
            problem_count=0,
        )
        upload.save()

    def _load_setup(self, upload: Upload, email: str) -> None:
        filename, rerate = upload.meta["filename"], upload.meta["rerate"]
        try:
            with self.db.transaction() as session:
                report = load_setup(
                    session,
                    upload.path,
                    actor=email,
                    issued=self.issued,
                    rerate=rerate,
                    progress=upload.progressed,
                )
        except Refused as refused:
            upload.meta["rerate"] = False
            upload.refused(refused)
            upload.release()
            return
        counts = {
            outcome: sum(c[outcome] for c in report.sheets.values())
            for outcome in ("created", "updated", "unchanged")
        }
        upload.finished(
            f"Setup workbook {filename} loaded: {counts['created']:,} new, "
            f"{counts['updated']:,} changed, {counts['unchanged']:,} unchanged"
            + (" (issued months re-rated)" if rerate else "")
        )

    def _check_costs(self, upload: Upload) -> None:
        try:
            with self.db.transaction(dry_run=True) as session:
                report = import_costs(
                    session,
                    upload.path,
                    actor="",
                    is_settled=self.settled,
                    dry_run=True,
                    progress=upload.progressed,
                )
        except Refused as refused:
            upload.refused(refused, _rows(refused))
            return
        upload.meta.update(
            state="checked",
            rows=report.rows,
            replaced=report.replaced,
            held=[
                {"kind": kind, "months": months, "total": str(report.totals[kind])}
                for kind, months in report.months.items()
            ],
        )
        upload.save()

    def _import_costs(self, upload: Upload, email: str) -> None:
        filename = upload.meta["filename"]
        try:
            with self.db.transaction() as session:
                report = import_costs(
                    session,
                    upload.path,
                    actor=email,
                    is_settled=self.settled,
                    progress=upload.progressed,
                )
        except Refused as refused:
            upload.refused(refused, _rows(refused))
            upload.release()
            return
        upload.finished(
            f"Cost ledger imported: {report.rows:,} line{'' if report.rows == 1 else 's'} "
            f"from {filename}"
            + (
                f", replacing {report.replaced:,} stored for the same months"
                if report.replaced
                else ""
            )
        )
