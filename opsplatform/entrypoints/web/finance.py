"""Pages: the finance staff's imports (usage files, the setup workbook), their history, reverts.

Every import is checked first (a dry run whose result is shown) and made only when the
officer confirms it, GOV.UK "check your answers" style. The file waits between the two,
and its check and import run as background jobs, in importers.uploads (where an upload's
state and progress are kept); these pages take the file, start its jobs and show them.
While a job runs, the request waits a moment (so a small file's result shows at once),
then the page shows a progress bar that updates itself, without JavaScript, by the
`Refresh` header (which the officer may turn off).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from billing.effects import measured
from billing.issue import ISSUED, issued_among
from billing.outturn import outturn_is_settled
from importers.setup_export import centre_codes, setup_rows
from importers.templates import Codes, write_setup_template, write_usage_template
from importers.uploads import Upload, Uploads, usage_months
from importers.usage import revert_batch
from opsplatform.entrypoints.access import STAFF, WRITERS, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import XLSX, london_text, requested_page, written_workbook
from opsplatform.errors import TARIFF_FROZEN, Refused
from opsplatform.models import ImportBatch, UsageEvent
from opsplatform.periods import Month

finance = Blueprint("finance", __name__)

SUFFIXES = {"usage": (".csv", ".xlsx"), "setup": (".xlsx",), "costs": (".csv", ".xlsx")}
# what each kind of upload is called on its pages
WHAT = {"usage": "usage file", "setup": "setup workbook", "costs": "cost ledger file"}
PER_PAGE = 50  # import batches per page of the history
RERATE_CHOICE = (
    "re-rate the issued months to change them and bill the difference as prior-period lines"
)
REFRESH_SECONDS = 5  # how often a progress page updates itself


# -- who may do what -----------------------------------------------------------------------


# -- uploads waiting between their check and their import ------------------------------------


@finance.record_once
def _uploads_of(state: BlueprintSetupState) -> None:
    """The uploads of the app's instance folder, and this process's one job thread for them."""
    state.app.extensions["opsplatform.uploads"] = Uploads(
        Path(state.app.instance_path) / "uploads",
        state.app.extensions["opsplatform.db"],
        ISSUED,
        issued_among,
        measured,
        outturn_is_settled,
    )
    state.app.config.setdefault("IMPORT_WAIT_SECONDS", 2)


def _uploads() -> Uploads:
    found: Uploads = current_app.extensions["opsplatform.uploads"]
    return found


def _wait() -> float:
    """How long a request waits for a job it started, in case it is quick."""
    return float(current_app.config["IMPORT_WAIT_SECONDS"])


def _find(kind: str, token: str) -> Upload | None:
    """The signed-in user's upload of this kind under `token`, if there is one."""
    return _uploads().find(kind, token, current_user.id)


def _received(kind: str) -> tuple[Upload | None, str | None]:
    """The upload of this request's form, or the message saying what is wrong with it."""
    storage = request.files.get("file")
    if storage is None or not storage.filename:
        return None, f"Select a {WHAT[kind]}"
    if Path(storage.filename).suffix.lower() not in SUFFIXES[kind]:
        if kind == "setup":
            return None, "The selected file must be an XLSX workbook"
        return None, "The selected file must be a CSV or XLSX"
    upload = _uploads().receive(kind, storage.filename, storage.stream, current_user.id)
    if upload.path.stat().st_size == 0:
        upload.discard()
        return None, "The selected file is empty"
    return upload, None


def _upload_page(kind: str, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template(f"finance/{kind}_upload.html", error=error), status


def _checked(kind: str) -> ResponseReturnValue:
    """Take the form's file and start its check; its page, or the form again saying why not."""
    upload, error = _received(kind)
    if upload is None:
        return _upload_page(kind, error, 400)
    _uploads().check(upload, _wait())
    return redirect(url_for(f"finance.{kind}_result", token=upload.token), 303)


def _committed(kind: str, token: str) -> ResponseReturnValue:
    """Start the import of a checked upload; where confirming it leads."""
    upload = _find(kind, token)
    if upload is None or not upload.waits_in("checked"):
        abort(404)
    if not _uploads().commit(upload, current_user.email, _wait()):
        return render_template("finance/busy.html", filename=upload.meta["filename"]), 409
    if upload.meta["state"] == "imported":
        return _announce(upload)
    return redirect(url_for(f"finance.{kind}_result", token=upload.token), 303)


# -- what the pages show --------------------------------------------------------------------


def _display(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem as the page shows it: frozen tariffs are offered the page's choice."""
    if problem.get("code") != TARIFF_FROZEN:
        return problem
    return {**problem, "message": f"{problem['message']}; {RERATE_CHOICE}"}


def _summary(meta: dict[str, Any], problems: list[dict[str, Any]]) -> list[tuple[str, str]]:
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
        what = "workbook" if meta["kind"] == "setup" else "file"
        items.append(
            (
                f"{meta['filename']} has {located:,} problem{'' if located == 1 else 's'}: "
                f"correct {'it' if located == 1 else 'them'} and upload the {what} again",
                "#problems",
            )
        )
    return items


def _announce(upload: Upload) -> ResponseReturnValue:
    flash(upload.meta["message"], "success")
    upload.discard()
    return redirect(url_for("finance.imports"))


def _job_page(upload: Upload) -> ResponseReturnValue | None:
    """The page of an upload whose job is under way or just made; None in any other state.

    A job under way shows its progress, updating itself unless the officer turned that
    off; a finished import is announced on the import history.
    """
    if upload.stalled():
        upload.interrupted()
    if upload.meta["state"] == "imported":
        return _announce(upload)
    if not upload.running:
        return None
    updating = request.args.get("updates") != "off"
    about, done = upload.meta.get("about"), upload.meta["done"]
    response = current_app.make_response(
        render_template(
            "finance/progress.html",
            upload=upload,
            meta=upload.meta,
            doing=upload.meta["state"].capitalize(),
            about=None if about is None else max(about, done),
            updating=updating,
            refresh=REFRESH_SECONDS,
        )
    )
    if updating:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


def _codes() -> Codes:
    """The centre's codes, which its templates offer in drop-down lists."""
    with database().reading() as session:
        return centre_codes(session)


# -- the import history ---------------------------------------------------------------------


@finance.get("/imports")
@signed_in(*STAFF)
def imports() -> ResponseReturnValue:
    with database().transaction() as session:
        total = session.scalar(select(func.count()).select_from(ImportBatch)) or 0
        page = requested_page(total, PER_PAGE)
        batches = session.scalars(
            select(ImportBatch).order_by(ImportBatch.id.desc()).offset(page.offset).limit(page.size)
        ).all()
    return render_template(
        "finance/imports.html",
        batches=[
            {"batch": b, "when": london_text(b.created_at), "iso": b.created_at.isoformat()}
            for b in batches
        ],
        page=page.number,
        pages=page.pages,
        may_write=current_user.role in WRITERS,
    )


# -- usage ----------------------------------------------------------------------------------


@finance.get("/imports/usage")
@signed_in(*WRITERS)
def usage_upload() -> ResponseReturnValue:
    return _upload_page("usage")


@finance.get("/imports/usage/template.xlsx")
@signed_in(*WRITERS)
def usage_template() -> ResponseReturnValue:
    codes = _codes()
    return written_workbook(lambda path: write_usage_template(path, codes), "usage-template.xlsx")


@finance.post("/imports/usage")
@signed_in(*WRITERS)
def usage_check() -> ResponseReturnValue:
    return _checked("usage")


@finance.get("/imports/usage/<token>")
@signed_in(*WRITERS)
def usage_result(token: str) -> ResponseReturnValue:
    upload = _find("usage", token)
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
@signed_in(*WRITERS)
def usage_commit(token: str) -> ResponseReturnValue:
    return _committed("usage", token)


@finance.get("/imports/<any(usage, setup, costs):kind>/<token>/errors.xlsx")
@signed_in(*WRITERS)
def errors_workbook(kind: str, token: str) -> ResponseReturnValue:
    upload = _find(kind, token)
    if upload is None or not upload.errors_path.is_file():
        abort(404)
    name = f"{Path(upload.meta['filename']).stem}-problems.xlsx"
    return send_file(
        upload.errors_path, as_attachment=True, download_name=name, mimetype=XLSX, max_age=0
    )


# -- the cost ledger ------------------------------------------------------------------------


@finance.get("/imports/costs")
@signed_in(*WRITERS)
def costs_upload() -> ResponseReturnValue:
    return _upload_page("costs")


@finance.post("/imports/costs")
@signed_in(*WRITERS)
def costs_check() -> ResponseReturnValue:
    return _checked("costs")


@finance.get("/imports/costs/<token>")
@signed_in(*WRITERS)
def costs_result(token: str) -> ResponseReturnValue:
    upload = _find("costs", token)
    if upload is None or upload.meta["state"] == "new":
        abort(404)
    problems = upload.meta.get("problems", [])
    held = [
        {**h, "first": Month.parse(h["months"][0]), "last": Month.parse(h["months"][-1])}
        for h in upload.meta.get("held", [])
    ]
    return _job_page(upload) or render_template(
        "finance/costs_check.html",
        upload=upload,
        held=held,
        meta=upload.meta,
        problems=problems,
        summary=_summary(upload.meta, problems),
    )


@finance.post("/imports/costs/<token>/commit")
@signed_in(*WRITERS)
def costs_commit(token: str) -> ResponseReturnValue:
    return _committed("costs", token)


# -- the setup workbook ---------------------------------------------------------------------


@finance.get("/imports/setup")
@signed_in(*WRITERS)
def setup_upload() -> ResponseReturnValue:
    return _upload_page("setup")


@finance.get("/imports/setup/template.xlsx")
@signed_in(*WRITERS)
def setup_template() -> ResponseReturnValue:
    codes = _codes()
    return written_workbook(
        lambda path: write_setup_template(path, codes=codes), "setup-template.xlsx"
    )


@finance.get("/imports/setup/current.xlsx")
@signed_in(*STAFF)
def setup_current() -> ResponseReturnValue:
    """The centre's current reference data as a setup workbook, to edit and load again."""
    with database().reading() as session:
        rows, codes = setup_rows(session), centre_codes(session)
    return written_workbook(
        lambda path: write_setup_template(path, rows, codes), "setup-current.xlsx"
    )


@finance.post("/imports/setup")
@signed_in(*WRITERS)
def setup_check() -> ResponseReturnValue:
    return _checked("setup")


@finance.get("/imports/setup/<token>")
@signed_in(*WRITERS)
def setup_result(token: str) -> ResponseReturnValue:
    upload = _find("setup", token)
    if upload is None or upload.meta["state"] == "new":
        abort(404)
    return _job_page(upload) or _setup_page(upload)


def _setup_page(
    upload: Upload, rerate_error: str | None = None, status: int = 200
) -> ResponseReturnValue:
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
@signed_in(*WRITERS)
def setup_recheck(token: str) -> ResponseReturnValue:
    """Check a workbook refused for frozen tariffs again, this time re-rating issued months."""
    upload = _find("setup", token)
    if upload is None or not upload.waits_in("frozen"):
        abort(404)
    if request.form.get("rerate") != "yes":
        return _setup_page(
            upload, "Select re-rate issued months, or upload a corrected workbook", 400
        )
    _uploads().recheck_rerating(upload, _wait())
    return redirect(url_for("finance.setup_result", token=token), 303)


@finance.post("/imports/setup/<token>/commit")
@signed_in(*WRITERS)
def setup_commit(token: str) -> ResponseReturnValue:
    return _committed("setup", token)


# -- reverting a batch ----------------------------------------------------------------------


def _batch_summary(session: Session, batch_id: int) -> dict[str, Any]:
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
        "when": london_text(batch.created_at),
        "reverted_when": london_text(batch.reverted_at) if batch.reverted_at else None,
        "events": sum(counts.values()),
        "months": usage_months(session, counts, issued_among),
    }


@finance.get("/imports/<int:batch_id>/revert")
@signed_in(*WRITERS)
def revert_confirm(batch_id: int) -> ResponseReturnValue:
    with database().transaction() as session:
        summary = _batch_summary(session, batch_id)
    status = 409 if summary["batch"].status == "reverted" else 200
    return render_template("finance/revert.html", **summary), status


@finance.post("/imports/<int:batch_id>/revert")
@signed_in(*WRITERS)
def revert(batch_id: int) -> ResponseReturnValue:
    try:
        with database().transaction() as session:
            if session.get(ImportBatch, batch_id) is None:
                abort(404)
            result = revert_batch(session, batch_id, current_user.email)
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
def too_large(error: RequestEntityTooLarge) -> ResponseReturnValue:
    kind = {"finance.usage_check": "usage", "finance.setup_check": "setup"}.get(
        request.endpoint or ""
    )
    if kind is None or not current_user.is_authenticated or current_user.role not in WRITERS:
        return error
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return _upload_page(
        kind, f"The selected file must be smaller than {limit // (1024 * 1024) or 1}MB", 413
    )
