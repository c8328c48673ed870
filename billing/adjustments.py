"""Pending lines: manual adjustments raised by finance and service credits raised by a
final SLA assessment, waiting for the client's next statement (the month close puts
them there).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import PendingLine, Statement
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import Client, Service
from opsplatform.money import round_money
from opsplatform.periods import Month


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
