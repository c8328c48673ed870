"""Pages: pending adjustments and service credits, and withdrawing one before it is billed.

Centre staff see what is waiting for the clients' next statements; finance (and admin)
may withdraw a line until the statement carrying it is issued, after a check page saying
what will happen (billing.adjustments.withdraw keeps the line for the record and closes
the month of a draft carrying it again, so the draft loses it at once).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from billing.adjustments import Carrier, carrier, effect_text, withdraw
from billing.models import PendingLine
from billing.reports import pending_rows
from opsplatform.entrypoints.access import STAFF, WRITERS, signed_in
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import money_text
from opsplatform.errors import Refused
from opsplatform.periods import Month

adjustments = Blueprint("adjustments", __name__)

WITHDRAWN_SHOWN = 20  # the latest withdrawn lines listed under the pending ones


@adjustments.get("/adjustments")
@signed_in(*STAFF)
def pending() -> ResponseReturnValue:
    """What is waiting for the clients' next statements, and the latest withdrawn."""
    with database().reading() as session:
        return render_template(
            "adjustments/pending.html",
            rows=pending_rows(session),
            withdrawn=pending_rows(session, withdrawn=True)[:WITHDRAWN_SHOWN],
            may_withdraw=current_user.role in WRITERS,
        )


@adjustments.get("/adjustments/<int:pending_id>/withdraw")
@signed_in(*WRITERS)
def withdraw_check(pending_id: int) -> ResponseReturnValue:
    """Say what withdrawing will do, or why it cannot be; nothing is written."""
    with database().reading() as session:
        return _check_page(session.get(PendingLine, pending_id), carrier(session, pending_id))


@adjustments.post("/adjustments/<int:pending_id>/withdraw")
@signed_in(*WRITERS)
def withdraw_confirm(pending_id: int) -> ResponseReturnValue:
    """Withdraw the line, as the officer confirmed on the check page."""
    with database().transaction() as session:
        found = session.get(PendingLine, pending_id)
        if found is None:
            abort(404)
        try:
            done = withdraw(session, pending_id, current_user.email)
        except Refused as refusal:
            session.rollback()
            return _check_page(
                session.get(PendingLine, pending_id),
                carrier(session, pending_id),
                [p.message for p in refusal.problems],
            )
        message = (
            f"{found.description} for {found.client.name} ({_signed(found)}) was withdrawn: "
            "no statement will carry it."
        )
        if done.reclosed is not None:
            message += f" {done.reclosed.label}'s draft statements were closed again without it."
        flash(message, "success")
    return redirect(url_for("adjustments.pending"))


def _signed(line: PendingLine) -> str:
    """`a credit of £226.08`, `a charge of £50.00`."""
    what = "a credit" if line.amount < 0 else "a charge"
    return f"{what} of {money_text(abs(line.amount))}"


def _check_page(
    found: PendingLine | None, carried: Carrier | None, errors: list[str] | None = None
) -> ResponseReturnValue:
    """The withdraw check page for `found` (404 if there is no such line)."""
    if found is None:
        abort(404)
    refusal = errors or []
    if not refusal and found.withdrawn_at is not None:
        refusal = [f"It was already withdrawn by {found.withdrawn_by}"]
    if not refusal and carried is not None and carried.status == "issued":
        refusal = [
            f"It is line {carried.position} of statement {carried.number}, already issued: "
            "an issued statement never changes. Raise an adjustment the other way instead"
        ]
    page = render_template(
        "adjustments/withdraw.html",
        line=found,
        effect=effect_text(found.client.name, found.amount),
        on=carried,
        month=Month.parse(carried.month) if carried else None,
        errors=refusal,
    )
    return page, 409 if refusal else 200
