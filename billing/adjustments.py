"""Pending lines: manual adjustments raised by finance and service credits raised by a
final SLA assessment, waiting for the client's next statement (the month close puts
them there); and withdrawing one before the statement carrying it is issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from billing.close import close_month
from billing.models import PendingLine, Statement, StatementLine
from opsplatform.audit import record
from opsplatform.db import utcnow
from opsplatform.errors import Refused
from opsplatform.models import Client, Service
from opsplatform.money import format_gbp, round_money
from opsplatform.periods import Month

# No adjustment comes near this: a figure over it is a slip of the keyboard (a pasted
# reference, a missed decimal point), refused before it reaches a statement.
LARGEST_ADJUSTMENT = Decimal("1000000.00")


def effect_text(client: str, amount: Decimal) -> str:
    """What a pending line of `amount` does, in words: "Wyre Council's next statement will
    be reduced by £226.08 (a credit)" or "increased by £50.00 (a charge)"."""
    how = "reduced" if amount < 0 else "increased"
    what = "a credit" if amount < 0 else "a charge"
    return f"{client}'s next statement will be {how} by {format_gbp(abs(amount))} ({what})"


def adjust(
    session: Session,
    client: str,
    service: str,
    amount: Decimal,
    reason: str,
    raised_by: str,
    *,
    statement: str | None = None,
    line: int | None = None,
    approved_by: str | None = None,
) -> PendingLine:
    """Raise a manual credit (negative) or debit for the client's next statement, as
    `raised_by` (who the audit log names).

    `statement` (and `line`, a line number on it) name what the adjustment corrects;
    `approved_by` names who authorised it, for the approval trail on the statement.
    """
    pending = pending_adjustment(
        session,
        client,
        service,
        amount,
        reason,
        raised_by,
        statement=statement,
        line=line,
        approved_by=approved_by,
    )
    record(
        session,
        raised_by,
        "billing adjust",
        f"{client.upper()} {service.upper()}",
        amount=amount,
        reason=reason,
        corrects=pending.corrects,
    )
    return pending


def pending_adjustment(
    session: Session,
    client: str,
    service: str,
    amount: Decimal,
    reason: str,
    raised_by: str,
    *,
    statement: str | None = None,
    line: int | None = None,
    approved_by: str | None = None,
) -> PendingLine:
    """The adjustment `adjust` raises, checked and added, with no audit entry of its own: for
    an action that records itself, such as an accepted query (billing.disputes)."""
    found_client = session.scalars(
        select(Client).where(Client.code == client.upper())
    ).one_or_none()
    found_service = session.scalars(
        select(Service).where(Service.code == service.upper())
    ).one_or_none()
    problems = []
    if found_client is None:
        problems.append(f"unknown client '{client}'")
    if found_service is None:
        problems.append(f"unknown service '{service}'")
    if amount == 0 or amount != round_money(amount):
        problems.append(f"amount must be a non-zero sum in pounds and pence, not {amount}")
    elif abs(amount) > LARGEST_ADJUSTMENT:
        problems.append(
            f"amount must be at most {format_gbp(LARGEST_ADJUSTMENT)} either way, not {amount}"
        )
    if not reason.strip():
        problems.append("give a reason: it is printed on the statement")
    corrected = None
    if statement is not None:
        corrected = session.scalars(
            select(Statement).where(Statement.number == statement.strip().upper())
        ).one_or_none()
        if corrected is None:
            problems.append(f"there is no statement {statement}")
        elif found_client is not None and corrected.client_id != found_client.id:
            problems.append(f"statement {corrected.number} is not {found_client.code}'s")
        elif line is not None and not 1 <= line <= len(corrected.lines):
            problems.append(f"statement {corrected.number} has no line {line}")
    elif line is not None:
        problems.append("a line number needs the statement it is on")
    if problems:
        raise Refused(problems)
    assert found_client is not None and found_service is not None  # else a problem above
    what = "credit" if amount < 0 else "charge"
    description = f"{found_service.name}: manual {what}"
    corrects = None
    if corrected is not None:
        corrects = corrected.number + (f" line {line}" if line else "")
        description += f" (corrects {corrects})"
    pending = PendingLine(
        client_id=found_client.id,
        service_id=found_service.id,
        kind="adjustment",
        amount=amount,
        description=description,
        reason=reason.strip(),
        corrects=corrects,
        not_before=str(Month.parse(corrected.month) + 1) if corrected else None,
        raised_by=raised_by,
        approved_by=approved_by,
    )
    session.add(pending)
    session.flush()
    return pending


def raise_service_credit(
    session: Session,
    client_id: int,
    service_id: int,
    amount: Decimal,
    description: str,
    reason: str,
    corrects: str,
    not_before: Month,
) -> PendingLine:
    """A service credit (a negative amount) for the client's next statement from `not_before`."""
    pending = PendingLine(
        client_id=client_id,
        service_id=service_id,
        kind="service_credit",
        amount=amount,
        description=description,
        reason=reason,
        corrects=corrects,
        not_before=str(not_before),
        raised_by="sla assess --final",
    )
    session.add(pending)
    session.flush()
    return pending


@dataclass(frozen=True)
class Carrier:
    """The statement a pending line is on, and at which line."""

    number: str
    month: str
    status: str
    position: int


def carrier(session: Session, pending_id: int) -> Carrier | None:
    """The statement carrying pending line `pending_id` (its issued one if any, else its
    draft); None while no close has put it on a statement."""
    found = session.execute(
        select(Statement.number, Statement.month, Statement.status, StatementLine.position)
        .join(StatementLine, StatementLine.statement_id == Statement.id)
        .where(StatementLine.pending_id == pending_id)
        .order_by(Statement.status.desc(), Statement.month)  # "issued" before "draft"
    ).first()
    return Carrier(*found) if found else None


@dataclass(frozen=True)
class Withdrawn:
    """A pending line just withdrawn, and the month whose drafts were closed again to take
    it off (None when no draft carried it)."""

    pending: PendingLine
    reclosed: Month | None


def withdraw(session: Session, pending_id: int, actor: str) -> Withdrawn:
    """Withdraw pending line `pending_id` (an adjustment or a service credit) before the
    statement carrying it is issued, as `actor` (who the audit log names).

    The line is kept, marked withdrawn, and no close puts it on a statement again. A draft
    that carries it is rebuilt at once (its month is closed again), so that no draft is
    ever issued with a line already withdrawn; an issued statement is never changed, so a
    line on one is refused (correct it with a new adjustment instead).
    """
    pending = session.get(PendingLine, pending_id)
    if pending is None:
        raise Refused(f"there is no pending line {pending_id}")
    if pending.withdrawn_at is not None:
        raise Refused(
            f"pending line {pending_id} was already withdrawn by {pending.withdrawn_by} "
            f"on {pending.withdrawn_at:%d %b %Y}"
        )
    on = carrier(session, pending_id)
    if on is not None and on.status == "issued":
        raise Refused(
            f"pending line {pending_id} is line {on.position} of statement {on.number}, "
            "already issued: raise an adjustment the other way to correct it"
        )
    # Only the first of two officers withdrawing at once takes effect: the line is claimed in
    # one conditional UPDATE, as a query's answer is (billing.disputes).
    claimed = cast(
        CursorResult[Any],  # what an UPDATE gives, though Session.execute says any Result
        session.execute(
            update(PendingLine)
            .where(PendingLine.id == pending_id, PendingLine.withdrawn_at.is_(None))
            .values(withdrawn_at=utcnow(), withdrawn_by=actor)
        ),
    )
    if claimed.rowcount != 1:
        raise Refused(f"pending line {pending_id} has just been withdrawn by someone else")
    session.refresh(pending)
    reclosed = Month.parse(on.month) if on is not None else None
    record(
        session,
        actor,
        "billing withdraw",
        f"pending line {pending_id}",
        client=pending.client.code,
        kind=pending.kind,
        amount=pending.amount,
        reason=pending.reason,
        draft=on.number if on else None,
    )
    if reclosed is not None:
        close_month(session, reclosed, actor)
    return Withdrawn(pending, reclosed)


def withdrawn_document(withdrawn: Withdrawn) -> dict[str, str | int | None]:
    """What `billing withdraw --json` prints."""
    pending = withdrawn.pending
    assert pending.withdrawn_at is not None  # withdraw() has just set it
    return {
        "id": pending.id,
        "client": pending.client.code,
        "service": pending.service.code if pending.service else None,
        "kind": pending.kind,
        "amount": f"{pending.amount:.2f}",
        "reason": pending.reason,
        "withdrawn_by": pending.withdrawn_by,
        "withdrawn_at": pending.withdrawn_at.isoformat(),
        "reclosed": str(withdrawn.reclosed) if withdrawn.reclosed else None,
    }
