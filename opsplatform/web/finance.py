"""Pages: the finance staff's imports (usage files, the setup workbook), their history, reverts.

Every import is checked first (a dry run whose result is shown) and made only when the
officer confirms it, GOV.UK "check your answers" style. Between the check and the import
the file waits in the instance folder, `uploads/<token>/<file name>`, beside a hidden
`.meta.json` (whose upload, what the check found) and, for a refused file, `.errors.xlsx`.
A token belongs to the person who uploaded the file and is gone once the import is made;
uploads left unconfirmed are swept away after a day.

Imports run in the request: a file of a few hundred thousand rows takes tens of seconds
to check and as long again to import, so the server's worker timeout must allow for it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import tempfile
import time
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

from importers.templates import write_error_report
from opsplatform.audit import record
from opsplatform.errors import Problem, Refused
from opsplatform.extensions import database
from opsplatform.models import ImportBatch, UsageEvent
from opsplatform.periods import LONDON, Month
from opsplatform.views import STAFF, WRITERS

finance = Blueprint("finance", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
SUFFIXES = {"usage": (".csv", ".xlsx"), "setup": (".xlsx",)}
SHOWN = 1000  # problems listed on a page; the downloadable workbook lists them all
PER_PAGE = 50  # import batches per page of the history
STALE_SECONDS = 24 * 60 * 60  # unconfirmed uploads older than this are removed
META, ERRORS, LOCK = ".meta.json", ".errors.xlsx", ".commit.lock"  # never a secure_filename
RERATE_HINT = "load with --rerate to change them"


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
        """Record a refusal: every problem in the error workbook, the first ones on the page.

        A setup workbook refused only because it changes frozen tariffs is kept, so that
        the officer can check it again with re-rating; any other refused file is dropped.
        """
        problems = refusal.problems
        write_error_report(self.errors_path, problems)
        frozen = self.meta["kind"] == "setup" and problems and all(map(_frozen, problems))
        if not frozen:
            self.path.unlink(missing_ok=True)
        self.meta.update(
            state="frozen" if frozen else "refused",
            partly_frozen=any(map(_frozen, problems)),
            rows=rows,
            problems=[p.as_dict() for p in problems[:SHOWN]],
            problem_count=len(problems),
        )
        self.save()


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


def month_name(month: str) -> str:
    return f"{Month.parse(month).first_day:%B %Y}"


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
        {"month": m, "name": month_name(m), "rows": n, "issued": m in issued}
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
    _check_usage(upload)
    return redirect(url_for("finance.usage_result", token=upload.token), 303)


def _check_usage(upload: Upload) -> None:
    from importers.usage import UsageRefused, import_file

    try:
        with database().transaction(dry_run=True) as session:
            report = import_file(session, upload.path, dry_run=True)
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
    return render_template(
        "finance/usage_check.html",
        upload=upload,
        meta=upload.meta,
        problems=problems,
        summary=_summary(upload.meta, problems),
    )


@finance.post("/imports/usage/<token>/commit")
@writers_only
def usage_commit(token: str):
    from importers.usage import UsageRefused, import_file

    upload = _committable("usage", token)
    if not upload.claim():
        return _busy(upload)
    filename = upload.meta["filename"]
    try:
        with database().transaction() as session:
            report = import_file(session, upload.path)
            record(
                session,
                current_user.email,
                "usage import",
                filename,
                **report.counts(),
            )
    except Refused as refused:
        rows = refused.report.rows if isinstance(refused, UsageRefused) else None
        upload.refused(refused, rows)
        upload.release()
        return redirect(url_for("finance.usage_result", token=token), 303)
    except BaseException:
        upload.release()
        raise
    upload.discard()
    flash(
        f"Batch {report.batch} imported: {report.inserted:,} of {report.rows:,} "
        f"row{'' if report.rows == 1 else 's'} from {filename}"
        + (f" ({report.skipped:,} already stored, skipped)" if report.skipped else ""),
        "success",
    )
    return redirect(url_for("finance.imports"))


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
    _check_setup(upload)
    return redirect(url_for("finance.setup_result", token=upload.token), 303)


def _check_setup(upload: Upload) -> None:
    from billing.service import issued_months
    from importers.setup import load_setup

    try:
        with database().transaction(dry_run=True) as session:
            report = load_setup(
                session, upload.path, True, upload.meta["rerate"], issued_months=issued_months
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
    return _setup_page(upload)


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
    _check_setup(upload)
    return redirect(url_for("finance.setup_result", token=token), 303)


@finance.post("/imports/setup/<token>/commit")
@writers_only
def setup_commit(token: str):
    from billing.service import issued_months
    from importers.setup import load_setup

    upload = _committable("setup", token)
    if not upload.claim():
        return _busy(upload)
    filename, rerate = upload.meta["filename"], upload.meta["rerate"]
    try:
        with database().transaction() as session:
            report = load_setup(session, upload.path, False, rerate, issued_months=issued_months)
            record(
                session,
                current_user.email,
                "setup load",
                filename,
                rerate=rerate,
                sheets=report.sheets,
            )
    except Refused as refused:
        upload.meta["rerate"] = False
        upload.refused(refused)
        upload.release()
        return redirect(url_for("finance.setup_result", token=token), 303)
    except BaseException:
        upload.release()
        raise
    upload.discard()
    counts = {
        outcome: sum(c[outcome] for c in report.sheets.values())
        for outcome in ("created", "updated", "unchanged")
    }
    flash(
        f"Setup workbook {filename} loaded: {counts['created']:,} new, "
        f"{counts['updated']:,} changed, {counts['unchanged']:,} unchanged"
        + (" (issued months re-rated)" if rerate else ""),
        "success",
    )
    return redirect(url_for("finance.imports"))


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
