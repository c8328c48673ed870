"""Pages: the finance staff's imports (usage files, the setup workbook), their history, reverts.

Every import is checked first (a dry run whose result is shown) and made only when the
officer confirms it, GOV.UK "check your answers" style. Between the check and the import
the file waits in the instance folder, `uploads/<token>/<file name>`, beside a hidden
`.meta.json` (whose upload, its state, the job's progress, what the check found) and, for
a refused file, `.errors.xlsx`. A token belongs to the person who uploaded the file and
is gone once the import is made; uploads left unconfirmed are swept away after a day.

Checks and imports run as background jobs, one at a time per server process: the request
waits a moment (so a small file's result shows at once), then the page shows a progress
bar that updates itself, without JavaScript, by the `Refresh` header (which the officer
may turn off). Progress lives in `.meta.json`, so it survives a reload and is seen by any
worker. A job is one transaction: if its process dies, nothing of it is written, and
once it has not reported for a while its page says so and lets the officer start again.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, select
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from importers.tables import estimate_rows
from importers.templates import write_error_report
from opsplatform.audit import record
from opsplatform.entrypoints.access import STAFF, WRITERS
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Problem, Refused
from opsplatform.models import ImportBatch, UsageEvent
from opsplatform.periods import LONDON, Month

finance = Blueprint("finance", __name__)
log = logging.getLogger("opsplatform.imports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
SUFFIXES = {"usage": (".csv", ".xlsx"), "setup": (".xlsx",)}
PER_PAGE = 50  # import batches per page of the history
STALE_SECONDS = 24 * 60 * 60  # unconfirmed uploads older than this are removed
META, ERRORS, LOCK = ".meta.json", ".errors.xlsx", ".commit.lock"  # never a secure_filename
RERATE_HINT = "load with --rerate to change them"
RUNNING = {"checking": "Checking", "importing": "Importing"}  # states of a job under way
STALL_SECONDS = 5 * 60  # a started job silent this long died with its process
QUEUE_SECONDS = 60 * 60  # a job waiting this long for its turn was lost with its process
REFRESH_SECONDS = 5  # how often a progress page updates itself


# -- who may do what -----------------------------------------------------------------------


def _allowed(writers: bool):
    """Staff only (anyone else: 404, as if the pages did not exist); writers to change things."""

    def decorate(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            if current_user.role not in STAFF:
                abort(404)
            if writers and current_user.role not in WRITERS:
                abort(403)
            return view(*args, **kwargs)

        return login_required(checked)

    return decorate


staff_only = _allowed(writers=False)
writers_only = _allowed(writers=True)


# -- uploads waiting between their check and their import ------------------------------------


def _uploads() -> Path:
    return Path(current_app.instance_path) / "uploads"


class Upload:
    """An uploaded file and what its check found, kept under its random token."""

    def __init__(self, token: str, meta: dict) -> None:
        self.token = token
        self.meta = meta
        self.folder = _uploads() / token

    @property
    def path(self) -> Path:
        return self.folder / self.meta["filename"]

    @property
    def errors_path(self) -> Path:
        return self.folder / ERRORS

    @classmethod
    def receive(cls, kind: str, storage) -> Upload:
        """Store an uploaded file (its name made safe) under a new token."""
        suffix = Path(storage.filename).suffix.lower()
        name = secure_filename(storage.filename)
        if not name.lower().endswith(suffix) or len(name) <= len(suffix):
            name = f"{kind}{suffix}"
        if len(name) > 150:
            name = name[: 150 - len(suffix)] + suffix
        _sweep()
        token = secrets.token_urlsafe(24)
        upload = cls(
            token,
            {
                "kind": kind,
                "user_id": current_user.id,
                "filename": name,
                "uploaded_at": datetime.now(UTC).isoformat(),
                "state": "new",
                "rerate": False,
            },
        )
        upload.folder.mkdir(parents=True)
        storage.save(upload.path)
        upload.save()
        return upload

    @classmethod
    def find(cls, kind: str, token: str) -> Upload | None:
        """The signed-in user's upload of this kind under `token`, if there is one."""
        if not TOKEN.fullmatch(token):
            return None
        try:
            meta = json.loads((_uploads() / token / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("kind") != kind or meta.get("user_id") != current_user.id:
            return None
        return cls(token, meta)

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
        """Record a refusal: its problems (the first KEPT) on the page and in the error
        workbook, and how many there were.

        A setup workbook refused only because it changes frozen tariffs is kept, so that
        the officer can check it again with re-rating; any other refused file is dropped.
        """
        problems = refusal.problems
        write_error_report(self.errors_path, refusal)
        frozen = (
            self.meta["kind"] == "setup"
            and problems
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

    # -- the background job that checks or imports it --

    def start(self, state: str, work: Callable[[Upload], None]) -> None:
        """Run `work` as this upload's job; wait a moment in case it is quick."""
        self.meta.update(state=state, started=False, done=0, heartbeat=time.time(), about=None)
        self.meta.pop("notice", None)
        self.save()
        job = current_app.extensions["opsplatform.imports"].submit(self._run, state, work)
        wait_for([job], timeout=current_app.config["IMPORT_WAIT_SECONDS"])

    def _run(self, state: str, work: Callable[[Upload], None]) -> None:
        self.meta.update(started=True, heartbeat=time.time())
        self.save()
        try:
            # counted here, not in the request: even counting reads the whole file
            about = estimate_rows(self.path, every_sheet=self.meta["kind"] == "setup")
            self.meta.update(about=about, heartbeat=time.time())
            self.save()
            work(self)
        except Exception:  # logged; the page says the job did not finish
            log.exception("%s of upload %s failed", state, self.token)
            self.interrupted()

    def progressed(self, rows: int) -> None:
        self.meta.update(done=rows, heartbeat=time.time())
        self.save()

    def stalled(self) -> bool:
        """Whether this upload's job stopped without finishing (its process died)."""
        if self.meta["state"] not in RUNNING:
            return False
        limit = STALL_SECONDS if self.meta["started"] else QUEUE_SECONDS
        return time.time() - self.meta["heartbeat"] > limit

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


@finance.record_once
def _job_runner(state) -> None:
    """One import job at a time per process, so imports never wait on each other's locks."""
    state.app.extensions["opsplatform.imports"] = ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="opsplatform-import"
    )
    state.app.config.setdefault("IMPORT_WAIT_SECONDS", 2)


def _sweep() -> None:
    """Remove uploads nobody confirmed within a day."""
    root = _uploads()
    if not root.is_dir():
        return
    cutoff = time.time() - STALE_SECONDS
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _frozen(problem: Problem) -> bool:
    return problem.sheet == "Tariffs" and "are frozen" in problem.message


def _received(kind: str) -> tuple[Upload | None, str | None]:
    """The upload of this request's form, or the message saying what is wrong with it."""
    storage = request.files.get("file")
    what = "usage file" if kind == "usage" else "setup workbook"
    if storage is None or not storage.filename:
        return None, f"Select a {what}"
    if Path(storage.filename).suffix.lower() not in SUFFIXES[kind]:
        if kind == "usage":
            return None, "The selected file must be a CSV or XLSX"
        return None, "The selected file must be an XLSX workbook"
    upload = Upload.receive(kind, storage)
    if upload.path.stat().st_size == 0:
        upload.discard()
        return None, "The selected file is empty"
    return upload, None


def _upload_page(kind: str, error: str | None = None, status: int = 200):
    return render_template(f"finance/{kind}_upload.html", error=error), status


def _committable(kind: str, token: str) -> Upload:
    upload = Upload.find(kind, token)
    if upload is None or upload.meta["state"] != "checked" or not upload.path.is_file():
        abort(404)
    return upload


def _busy(upload: Upload):
    return render_template("finance/busy.html", filename=upload.meta["filename"]), 409


# -- what the pages show --------------------------------------------------------------------


def london(moment: datetime) -> str:
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y %H:%M}"


def _issued_among(session, months) -> set[str]:
    """Which of these months have issued statements."""
    from billing.models import Statement

    if not months:
        return set()
    query = (
        select(Statement.month)
        .where(Statement.status == "issued", Statement.month.in_(list(months)))
        .distinct()
    )
    return set(session.scalars(query))


def _months(session, counts: dict[str, int]) -> list[dict]:
    issued = _issued_among(session, counts)
    return [
        {"month": m, "name": Month.parse(m).label, "rows": n, "issued": m in issued}
        for m, n in sorted(counts.items())
    ]


def _display(problem: dict) -> dict:
    """A problem as the page shows it: the command line's --rerate becomes the page's choice."""
    message = problem["message"].replace(RERATE_HINT, "re-rate the issued months to change them")
    return {**problem, "message": message}


def _summary(meta: dict, problems: list[dict]) -> list[tuple[str, str]]:
    """The error summary: problems of the whole file one by one, then how many rows are wrong."""
    if meta["state"] == "frozen":
        return [
            (
                f"{meta['filename']} changes frozen tariffs: choose to re-rate the issued months, "
                "or upload a corrected workbook",
                "#rerate",
            )
        ]
    loose = [p for p in problems if p["row"] is None and p["column"] is None]
    items = [
        (
            f"Sheet {p['sheet']}: {p['message']}"
            if p["sheet"] and meta["kind"] == "setup"
            else p["message"],
            "#problems",
        )
        for p in loose[:10]
    ]
    located = meta.get("problem_count", 0) - len(loose)
    if located > 0:
        what = "file" if meta["kind"] == "usage" else "workbook"
        items.append(
            (
                f"{meta['filename']} has {located:,} problem{'' if located == 1 else 's'}: "
                f"correct {'it' if located == 1 else 'them'} and upload the {what} again",
                "#problems",
            )
        )
    return items


# -- the import history ---------------------------------------------------------------------


@finance.get("/imports")
@staff_only
def imports():
    page = max(request.args.get("page", 1, type=int), 1)
    with database().transaction() as session:
        total = session.scalar(select(func.count()).select_from(ImportBatch)) or 0
        batches = session.scalars(
            select(ImportBatch)
            .order_by(ImportBatch.id.desc())
            .offset((page - 1) * PER_PAGE)
            .limit(PER_PAGE)
        ).all()
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    if page > pages:
        abort(404)
    return render_template(
        "finance/imports.html",
        batches=[
            {"batch": b, "when": london(b.created_at), "iso": b.created_at.isoformat()}
            for b in batches
        ],
        page=page,
        pages=pages,
        may_write=current_user.role in WRITERS,
    )


# -- usage ----------------------------------------------------------------------------------


@finance.get("/imports/usage")
@writers_only
def usage_upload():
    return _upload_page("usage")


@finance.get("/imports/usage/template.xlsx")
@writers_only
def usage_template():
    from importers.templates import write_usage_template

    return _template_download(write_usage_template, "usage-template.xlsx")


def _template_download(write, name: str):
    """A blank workbook for people to fill in, written afresh for each download."""
    with tempfile.TemporaryDirectory(prefix="opsplatform-") as folder:
        path = Path(folder) / name
        write(path)
        content = BytesIO(path.read_bytes())
    return send_file(content, as_attachment=True, download_name=name, mimetype=XLSX)


@finance.post("/imports/usage")
@writers_only
def usage_check():
    upload, error = _received("usage")
    if upload is None:
        return _upload_page("usage", error, 400)
    upload.start("checking", functools.partial(_check_usage, database()))
    return redirect(url_for("finance.usage_result", token=upload.token), 303)


def _check_usage(db, upload: Upload) -> None:
    from importers.usage import UsageRefused, import_file

    try:
        with db.transaction(dry_run=True) as session:
            report = import_file(session, upload.path, dry_run=True, progress=upload.progressed)
            months = _months(session, report.months)
    except Refused as refused:
        rows = refused.report.rows if isinstance(refused, UsageRefused) else None
        upload.refused(refused, rows)
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


@finance.get("/imports/usage/<token>")
@writers_only
def usage_result(token: str):
    upload = Upload.find("usage", token)
    if upload is None or upload.meta["state"] == "new":
        abort(404)
    problems = upload.meta.get("problems", [])
    return _job_page(upload) or render_template(
        "finance/usage_check.html",
        upload=upload,
        meta=upload.meta,
        problems=problems,
        summary=_summary(upload.meta, problems),
    )


@finance.post("/imports/usage/<token>/commit")
@writers_only
def usage_commit(token: str):
    upload = _committable("usage", token)
    if not upload.claim():
        return _busy(upload)
    upload.start("importing", functools.partial(_import_usage, database(), current_user.email))
    return _after_commit(upload)


def _import_usage(db, email: str, upload: Upload) -> None:
    from importers.usage import UsageRefused, import_file

    filename = upload.meta["filename"]
    try:
        with db.transaction() as session:
            report = import_file(session, upload.path, progress=upload.progressed)
            record(session, email, "usage import", filename, **report.counts())
    except Refused as refused:
        rows = refused.report.rows if isinstance(refused, UsageRefused) else None
        upload.refused(refused, rows)
        upload.release()
        return
    upload.finished(
        f"Batch {report.batch} imported: {report.inserted:,} of {report.rows:,} "
        f"row{'' if report.rows == 1 else 's'} from {filename}"
        + (f" ({report.skipped:,} already stored, skipped)" if report.skipped else "")
    )


def _after_commit(upload: Upload):
    """Where confirming an import leads: the history once it is made, else its own page."""
    if upload.meta["state"] == "imported":
        return _announce(upload)
    endpoint = f"finance.{upload.meta['kind']}_result"
    return redirect(url_for(endpoint, token=upload.token), 303)


def _announce(upload: Upload):
    flash(upload.meta["message"], "success")
    upload.discard()
    return redirect(url_for("finance.imports"))


def _job_page(upload: Upload):
    """The page of an upload whose job is under way or just made; None in any other state.

    A job under way shows its progress, updating itself unless the officer turned that
    off; a finished import is announced on the import history.
    """
    if upload.stalled():
        upload.interrupted()
    state = upload.meta["state"]
    if state == "imported":
        return _announce(upload)
    if state not in RUNNING:
        return None
    updating = request.args.get("updates") != "off"
    about, done = upload.meta.get("about"), upload.meta["done"]
    response = current_app.make_response(
        render_template(
            "finance/progress.html",
            upload=upload,
            meta=upload.meta,
            doing=RUNNING[state],
            about=None if about is None else max(about, done),
            updating=updating,
            refresh=REFRESH_SECONDS,
        )
    )
    if updating:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@finance.get("/imports/<any(usage, setup):kind>/<token>/errors.xlsx")
@writers_only
def errors_workbook(kind: str, token: str):
    upload = Upload.find(kind, token)
    if upload is None or not upload.errors_path.is_file():
        abort(404)
    name = f"{Path(upload.meta['filename']).stem}-problems.xlsx"
    return send_file(
        upload.errors_path, as_attachment=True, download_name=name, mimetype=XLSX, max_age=0
    )


# -- the setup workbook ---------------------------------------------------------------------


@finance.get("/imports/setup")
@writers_only
def setup_upload():
    return _upload_page("setup")


@finance.get("/imports/setup/template.xlsx")
@writers_only
def setup_template():
    from importers.templates import write_setup_template

    return _template_download(write_setup_template, "setup-template.xlsx")


@finance.post("/imports/setup")
@writers_only
def setup_check():
    upload, error = _received("setup")
    if upload is None:
        return _upload_page("setup", error, 400)
    upload.start("checking", functools.partial(_check_setup, database()))
    return redirect(url_for("finance.setup_result", token=upload.token), 303)


def _check_setup(db, upload: Upload) -> None:
    from billing.service import issued_months
    from importers.setup import load_setup

    try:
        with db.transaction(dry_run=True) as session:
            report = load_setup(
                session,
                upload.path,
                True,
                upload.meta["rerate"],
                issued_months=issued_months,
                progress=upload.progressed,
            )
    except Refused as refused:
        upload.refused(refused)
        return
    upload.meta.update(state="checked", sheets=report.sheets, problems=[], problem_count=0)
    upload.save()


@finance.get("/imports/setup/<token>")
@writers_only
def setup_result(token: str):
    upload = Upload.find("setup", token)
    if upload is None or upload.meta["state"] == "new":
        abort(404)
    return _job_page(upload) or _setup_page(upload)


def _setup_page(upload: Upload, rerate_error: str | None = None, status: int = 200):
    problems = [_display(p) for p in upload.meta.get("problems", [])]
    return render_template(
        "finance/setup_check.html",
        upload=upload,
        meta=upload.meta,
        problems=problems,
        summary=_summary(upload.meta, problems),
        rerate_error=rerate_error,
    ), status


@finance.post("/imports/setup/<token>/check")
@writers_only
def setup_recheck(token: str):
    """Check a workbook refused for frozen tariffs again, this time re-rating issued months."""
    upload = Upload.find("setup", token)
    if upload is None or upload.meta["state"] != "frozen" or not upload.path.is_file():
        abort(404)
    if request.form.get("rerate") != "yes":
        return _setup_page(
            upload, "Select re-rate issued months, or upload a corrected workbook", 400
        )
    upload.meta["rerate"] = True
    upload.errors_path.unlink(missing_ok=True)
    upload.start("checking", functools.partial(_check_setup, database()))
    return redirect(url_for("finance.setup_result", token=token), 303)


@finance.post("/imports/setup/<token>/commit")
@writers_only
def setup_commit(token: str):
    upload = _committable("setup", token)
    if not upload.claim():
        return _busy(upload)
    upload.start("importing", functools.partial(_load_setup, database(), current_user.email))
    return _after_commit(upload)


def _load_setup(db, email: str, upload: Upload) -> None:
    from billing.service import issued_months
    from importers.setup import load_setup

    filename, rerate = upload.meta["filename"], upload.meta["rerate"]
    try:
        with db.transaction() as session:
            report = load_setup(
                session,
                upload.path,
                False,
                rerate,
                issued_months=issued_months,
                progress=upload.progressed,
            )
            record(session, email, "setup load", filename, rerate=rerate, sheets=report.sheets)
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


# -- reverting a batch ----------------------------------------------------------------------


def _batch_summary(session, batch_id: int) -> dict:
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    counts = dict(
        session.execute(
            select(UsageEvent.month, func.count())
            .where(UsageEvent.batch_id == batch_id)
            .group_by(UsageEvent.month)
        ).all()
    )
    return {
        "batch": batch,
        "when": london(batch.created_at),
        "reverted_when": london(batch.reverted_at) if batch.reverted_at else None,
        "events": sum(counts.values()),
        "months": _months(session, counts),
    }


@finance.get("/imports/<int:batch_id>/revert")
@writers_only
def revert_confirm(batch_id: int):
    with database().transaction() as session:
        summary = _batch_summary(session, batch_id)
    status = 409 if summary["batch"].status == "reverted" else 200
    return render_template("finance/revert.html", **summary), status


@finance.post("/imports/<int:batch_id>/revert")
@writers_only
def revert(batch_id: int):
    from importers.usage import revert_batch

    try:
        with database().transaction() as session:
            if session.get(ImportBatch, batch_id) is None:
                abort(404)
            result = revert_batch(session, batch_id)
            record(session, current_user.email, "usage revert", f"batch {batch_id}", **result)
    except Refused:
        with database().transaction() as session:
            summary = _batch_summary(session, batch_id)
        return render_template("finance/revert.html", **summary), 409
    removed = result["removed"]
    flash(
        f"Batch {batch_id} reverted: {removed:,} usage event{'' if removed == 1 else 's'} "
        f"from {result['filename']} removed",
        "success",
    )
    return redirect(url_for("finance.imports"))


# -- a file too large to take ----------------------------------------------------------------


@finance.errorhandler(RequestEntityTooLarge)
def too_large(error):
    kind = {"finance.usage_check": "usage", "finance.setup_check": "setup"}.get(
        request.endpoint or ""
    )
    if kind is None or not current_user.is_authenticated or current_user.role not in WRITERS:
        return error
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _upload_page(
        kind, f"The selected file must be smaller than {limit // (1024 * 1024) or 1}MB", 413
    )
