"""Month close and issue: ideal lines from the engine, compared with what was issued.

Closing a month rebuilds its draft statements from scratch. Each draft holds the
month's own lines and, for every earlier month whose statement is issued, the
difference between what that month should now cost and what has been billed for it
on any other statement (a `prior_period` line naming what it corrects). Issued
statements are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, selectinload

from billing.engine import Ideal, Subscribed, Terms, YearInputs, rate_year
from billing.models import PendingLine, Statement, StatementLine
from billing.rules import parse_bands
from opsplatform.db import take_turns, utcnow
from opsplatform.errors import Refused
from opsplatform.models import Client, Driver, Estimate, Service, Subscription, Tariff, UsageEvent
from opsplatform.money import ZERO, format_gbp, round_money
from opsplatform.notify import client_users, link, queue
from opsplatform.periods import FinancialYear, Month
from opsplatform.settings import centre_settings

RATED_KINDS = ("charge", "prior_period", "true_up", "carried_forward")
CLOSE_LOCK = 0x6F70_636C_6F73_65  # PostgreSQL advisory lock key of the month close ("opclose")


@dataclass
class _Draft:
    service: str | None
    kind: str
    period: Month
    description: str
    basis: str
    quantity: Decimal
    rate: Decimal | None
    amount: Decimal
    tariff: Terms | None = None
    corrects: str | None = None
    pending_id: int | None = None


def year_inputs(
    session: Session,
    year: FinancialYear,
    upto: Month,
    de_minimis: Decimal,
    usage_from: FinancialYear | None = None,
) -> YearInputs:
    """Load what the engine needs for a financial year, aggregating usage in SQL.

    With `usage_from`, that year's usage stands in for this year's, month for month
    (a projection from last year's volumes).
    """
    client_code = dict(session.execute(select(Client.id, Client.code)).all())
    service_code = dict(session.execute(select(Service.id, Service.code)).all())
    units = dict(session.execute(select(Service.code, Service.unit)).all())
    subscriptions = [
        Subscribed(client_code[s.client_id], service_code[s.service_id], s.start, s.end, s.tier)
        for s in session.scalars(
            select(Subscription).where(
                Subscription.start <= year.last_day,
                (Subscription.end.is_(None)) | (Subscription.end >= year.first_day),
            )
        )
    ]
    tariffs = [
        Terms(
            id=t.id,
            version=t.version,
            service=service_code[t.service_id],
            scope=t.scope,
            rule=t.rule,
            rate=t.rate,
            bands=tuple(parse_bands(t.bands, t.rule)) if t.bands else (),
            annual_amount=t.annual_amount,
            driver=t.driver,
            minimum=t.minimum,
            annual_cap=t.annual_cap,
            billing=t.billing,
            true_up_tolerance=t.true_up_tolerance,
        )
        for t in session.scalars(select(Tariff).where(Tariff.financial_year == str(year)))
    ]
    source = usage_from or year
    shift = 12 * (year.start_year - source.start_year)
    usage_rows = session.execute(
        select(
            UsageEvent.client_id,
            UsageEvent.service_id,
            UsageEvent.month,
            func.sum(UsageEvent.quantity),
        )
        .where(UsageEvent.month >= str(source.first_month), UsageEvent.month <= str(upto + -shift))
        .group_by(UsageEvent.client_id, UsageEvent.service_id, UsageEvent.month)
    )
    usage = {
        (client_code[c], service_code[s], Month.parse(m) + shift): q for c, s, m, q in usage_rows
    }
    drivers = {
        (client_code[d.client_id], d.driver): d.value
        for d in session.scalars(select(Driver).where(Driver.financial_year == str(year)))
    }
    estimates = {
        (client_code[e.client_id], service_code[e.service_id]): e.quantity
        for e in session.scalars(select(Estimate).where(Estimate.financial_year == str(year)))
    }
    return YearInputs(year, units, subscriptions, tariffs, usage, drivers, estimates, de_minimis)


def close_month(session: Session, month: Month) -> list[Statement]:
    """(Re)build the draft statements of `month`; issued statements stay as they are."""
    # two closes that overlap would both see no drafts and both insert a set (one lock for
    # every month: a pending line may go to any month's drafts)
    take_turns(session, CLOSE_LOCK, Statement.__table__, "another close is still writing")
    settings = centre_settings(session)
    clients = {c.code: c for c in session.scalars(select(Client))}
    services = {s.code: s for s in session.scalars(select(Service))}
    codes = {c.id: code for code, c in clients.items()}
    issued = {
        (codes[s.client_id], Month.parse(s.month)): s
        for s in session.scalars(
            select(Statement).where(Statement.month <= str(month), Statement.status == "issued")
        )
    }
    years = {month.financial_year}
    years |= {
        m.financial_year for _, m in issued if m.financial_year == month.financial_year.previous()
    }
    ideal: dict[tuple[str, str, Month], list[Ideal]] = {}
    for year in sorted(years):
        upto = month if year == month.financial_year else year.last_month
        ideal.update(rate_year(year_inputs(session, year, upto, settings.de_minimis), upto))
    billed = _billed_elsewhere(session, month)

    drafts: dict[str, list[_Draft]] = defaultdict(list)
    for (client, service, m), lines in sorted(ideal.items(), key=lambda kv: (kv[0][2], kv[0][1])):
        if m == month:
            drafts[client] += [_from_ideal(line, services[service]) for line in lines]
    ideal_totals: dict[tuple[str, str, Month], tuple[Decimal, Decimal]] = {}
    for key, lines in ideal.items():
        ideal_totals[key] = (sum((line.amount for line in lines), ZERO), _charged_quantity(lines))
    for client, service, period in sorted(
        set(ideal_totals) | set(billed), key=lambda k: (k[2], k[1])
    ):
        if period >= month or (client, period) not in issued:
            continue
        should, quantity = ideal_totals.get((client, service, period), (ZERO, ZERO))
        was, was_quantity = billed.get((client, service, period), (ZERO, ZERO))
        if should != was:
            drafts[client].append(
                _prior_period(
                    services[service],
                    period,
                    should,
                    was,
                    quantity - was_quantity,
                    issued[(client, period)].number,
                )
            )

    latest_issued = dict(
        session.execute(
            select(Statement.client_id, func.max(Statement.month))
            .where(Statement.status == "issued")
            .group_by(Statement.client_id)
        ).all()
    )
    for pending in _pending_for(session, month):
        if str(month) > latest_issued.get(pending.client_id, ""):
            drafts[codes[pending.client_id]].append(_from_pending(pending, month))

    # Drafts keep their rows (queries raised on them stay attached); their lines are rebuilt.
    existing = {
        s.client_id: s
        for s in session.scalars(
            select(Statement).where(Statement.month == str(month), Statement.status == "draft")
        )
    }
    issued_now = {client for client, m in issued if m == month}
    built = []
    for code in sorted(drafts):
        if code in issued_now:
            continue
        statement = existing.pop(clients[code].id, None) or Statement(
            client_id=clients[code].id, month=str(month)
        )
        statement.number = f"{settings.statement_prefix}-{month.compact}-{code}"
        _fill_statement(session, statement, drafts[code], services)
        built.append(statement)
    for stale in existing.values():  # the client no longer needs a statement this month
        if stale.queries:  # keep the queries' trail: the draft stays, with nothing on it
            _fill_statement(session, stale, [], services)
        else:
            session.delete(stale)
    session.flush()
    return built


def _charged_quantity(lines: list[Ideal]) -> Decimal:
    return sum((line.quantity for line in lines if line.kind == "charge"), ZERO)


def _billed_elsewhere(
    session: Session, month: Month
) -> dict[tuple[str, str, Month], tuple[Decimal, Decimal]]:
    """Amounts (and charged quantities) per (client, service, period) on every statement
    except the drafts of `month`, which are about to be rebuilt."""
    rows = session.execute(
        select(
            Client.code,
            Service.code,
            StatementLine.period,
            func.sum(StatementLine.amount),
            func.sum(StatementLine.quantity).filter(
                StatementLine.kind.in_(("charge", "prior_period"))
            ),
        )
        .join(Statement, StatementLine.statement_id == Statement.id)
        .join(Client, Statement.client_id == Client.id)
        .join(Service, StatementLine.service_id == Service.id)
        .where(~and_(Statement.month == str(month), Statement.status == "draft"))
        .where(StatementLine.kind.in_(RATED_KINDS))
        .group_by(Client.code, Service.code, StatementLine.period)
    )
    return {
        (c, s, Month.parse(p)): (amount, quantity or ZERO) for c, s, p, amount, quantity in rows
    }


def _pending_for(session: Session, month: Month) -> list[PendingLine]:
    """Pending lines due by `month` that no statement but this month's drafts carries yet."""
    carried = (
        select(StatementLine.pending_id)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(StatementLine.pending_id.is_not(None))
        .where(~and_(Statement.month == str(month), Statement.status == "draft"))
    )
    return list(
        session.scalars(
            select(PendingLine)
            .where(PendingLine.id.not_in(carried))
            .where(PendingLine.not_before.is_(None) | (PendingLine.not_before <= str(month)))
            .options(selectinload(PendingLine.service))
            .order_by(PendingLine.id)
        )
    )


def _from_pending(pending: PendingLine, month: Month) -> _Draft:
    return _Draft(
        service=pending.service.code if pending.service else None,
        kind=pending.kind,
        period=month,
        description=pending.description,
        basis=pending.reason
        + (f" (approved by {pending.approved_by})" if pending.approved_by else ""),
        quantity=ZERO,
        rate=None,
        amount=pending.amount,
        corrects=pending.corrects,
        pending_id=pending.id,
    )


def adjust(
    session: Session,
    client: str,
    service: str,
    amount: Decimal,
    reason: str,
    statement: str | None = None,
    raised_by: str = "command line",
    line: int | None = None,
    approved_by: str | None = None,
) -> PendingLine:
    """Raise a manual credit (negative) or debit for the client's next statement.

    `statement` (and `line`, a line number on it) name what the adjustment corrects;
    `approved_by` names who authorised it, for the approval trail on the statement.
    """
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


def charges_by_client_service(
    session: Session, months: list[Month]
) -> dict[tuple[int, int], Decimal]:
    """What each client has been charged for each service for the given months, on any
    statement (charges and their re-ratings; not adjustments or credits), by ids."""
    rows = session.execute(
        select(Statement.client_id, StatementLine.service_id, func.sum(StatementLine.amount))
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(
            StatementLine.service_id.is_not(None),
            StatementLine.period.in_([str(m) for m in months]),
            StatementLine.kind.in_(RATED_KINDS),
        )
        .group_by(Statement.client_id, StatementLine.service_id)
    )
    return {(client, service): amount for client, service, amount in rows}


def rated_charges(session: Session, months: list[Month]) -> dict[tuple[int, int], Decimal]:
    """What each client's use of each service costs for the given months of one financial
    year, by (client id, service id), as the tariffs say now, closed or not."""
    year = months[0].financial_year
    settings = centre_settings(session)
    ideal = rate_year(year_inputs(session, year, max(months), settings.de_minimis), max(months))
    clients = dict(session.execute(select(Client.code, Client.id)).all())
    services = dict(session.execute(select(Service.code, Service.id)).all())
    totals: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for (client, service, month), lines in ideal.items():
        if month in months:
            totals[(clients[client], services[service])] += sum((x.amount for x in lines), ZERO)
    return dict(totals)


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


def _from_ideal(line: Ideal, service: Service) -> _Draft:
    names = {"charge": "", "true_up": " year-end true-up", "carried_forward": " carried forward"}
    return _Draft(
        service=line.service,
        kind=line.kind,
        period=line.month,
        description=f"{service.name}{names[line.kind]}, {line.month.label}",
        basis=line.basis,
        quantity=line.quantity,
        rate=line.rate,
        amount=line.amount,
        tariff=line.tariff,
    )


def _prior_period(
    service: Service, period: Month, should: Decimal, was: Decimal, quantity: Decimal, corrects: str
) -> _Draft:
    return _Draft(
        service=service.code,
        kind="prior_period",
        period=period,
        description=f"{service.name}, {period.label}: re-rated (corrects {corrects})",
        basis=f"{period.label} now comes to {format_gbp(should)}; {format_gbp(was)} was billed",
        quantity=quantity,
        rate=None,
        amount=should - was,
        corrects=corrects,
    )


def _fill_statement(
    session: Session, statement: Statement, drafts: list[_Draft], services: dict[str, Service]
) -> None:
    """Replace a draft's lines with `drafts` and total them."""
    statement.lines.clear()
    session.flush()
    for position, d in enumerate(drafts, start=1):
        service = services.get(d.service) if d.service else None
        vat_rate = service.vat_rate if service else Decimal(0)
        statement.lines.append(
            StatementLine(
                position=position,
                service_id=service.id if service else None,
                kind=d.kind,
                period=str(d.period),
                description=d.description,
                basis=d.basis,
                quantity=d.quantity,
                rate=d.rate,
                amount=d.amount,
                vat_rate=vat_rate,
                vat=round_money(d.amount * vat_rate / 100),
                tariff_id=d.tariff.id if d.tariff else None,
                tariff_version=d.tariff.version if d.tariff else None,
                corrects=d.corrects,
                pending_id=d.pending_id,
            )
        )
    statement.net = sum((line.amount for line in statement.lines), ZERO)
    statement.vat = sum((line.vat for line in statement.lines), ZERO)
    statement.total = statement.net + statement.vat
    session.add(statement)


def issued_months(session: Session, year: str) -> list[str]:
    """The months of financial year `year` that have issued statements."""
    fy = FinancialYear.parse(year)
    return list(
        session.scalars(
            select(Statement.month)
            .where(
                Statement.status == "issued",
                Statement.month >= str(fy.first_month),
                Statement.month <= str(fy.last_month),
            )
            .distinct()
            .order_by(Statement.month)
        )
    )


def issued_among(session: Session, months: Collection[str]) -> set[str]:
    """Which of `months` (YYYY-MM) have issued statements."""
    return set(
        session.scalars(
            select(Statement.month)
            .where(Statement.status == "issued", Statement.month.in_(list(months)))
            .distinct()
        )
    )


def issue_month(session: Session, month: Month) -> list[Statement]:
    """Issue every draft of `month`: from now on they never change.

    A draft is the client's chance to review: while a query raised on one is still
    open, the month is not issued.
    """
    drafts = session.scalars(
        select(Statement)
        .where(Statement.month == str(month), Statement.status == "draft")
        .order_by(Statement.number)
    ).all()
    if not drafts:
        raise Refused(
            f"there are no draft statements for {month}: run `opsplatform billing close {month}` first"
        )
    open_queries = [
        f"query {q.id} on {statement.number}"
        for statement in drafts
        for q in statement.queries
        if q.status == "open"
    ]
    if open_queries:
        raise Refused(
            [f"{q} is still open: answer it before the month is issued" for q in open_queries]
        )
    terms = centre_settings(session).payment_terms_days
    now = utcnow()
    for statement in drafts:
        statement.status = "issued"
        statement.issued_at = now
        statement.due_date = now.date() + timedelta(days=terms)
    session.flush()
    statements_issued(session, drafts)
    return list(drafts)


def statements_issued(session: Session, statements: list[Statement]) -> int:
    """Tell each client council that its statement for the month is issued."""
    sent, users = 0, client_users(session)
    for s in statements:
        month = Month.parse(s.month).label
        body = (
            f"Your statement {s.number} for {month} has been issued.\n\n"
            f"Total: £{s.total:,.2f} (net £{s.net:,.2f}, VAT £{s.vat:,.2f})\n"
            f"Payment due by: {s.due_date:%-d %B %Y}\n\n"
            f"View it, download it or raise a query on a line: {link(f'/statements/{s.number}')}"
        )
        subject = f"Statement {s.number} for {month} issued"
        contacts = ([s.client.email] if s.client.email else []) + users.get(s.client_id, [])
        sent += queue(session, "statement_issued", contacts, subject, body)
    return sent


def get_statement(session: Session, number: str, client_id: int | None = None) -> Statement:
    """The statement `number`; with `client_id`, only if it is that client's, looked up in
    the same query, so that another client's statement takes no longer to miss than a
    number that does not exist (and its existence cannot be timed)."""
    query = select(Statement).where(Statement.number == number.strip().upper())
    if client_id is not None:
        query = query.where(Statement.client_id == client_id)
    statement = session.scalars(
        query.options(
            selectinload(Statement.lines).selectinload(StatementLine.service),
            selectinload(Statement.client),
        )
    ).one_or_none()
    if statement is None:
        raise Refused(f"there is no statement {number}")
    return statement


def list_statements(
    session: Session, month: Month | None = None, client: str | None = None
) -> list[Statement]:
    query = (
        select(Statement)
        .options(selectinload(Statement.client))
        .order_by(Statement.month, Statement.number)
    )
    if month is not None:
        query = query.where(Statement.month == str(month))
    if client is not None:
        found = session.scalars(
            select(Client).where(Client.code == client.strip().upper())
        ).one_or_none()
        if found is None:
            raise Refused(f"unknown client '{client}'")
        query = query.where(Statement.client_id == found.id)
    return list(session.scalars(query))


def money_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def statement_summary(statement: Statement) -> dict:
    return {
        "number": statement.number,
        "client": statement.client.code,
        "client_name": statement.client.name,
        "month": statement.month,
        "status": statement.status,
        "net": money_text(statement.net),
        "vat": money_text(statement.vat),
        "total": money_text(statement.total),
        "issued_at": statement.issued_at.isoformat() if statement.issued_at else None,
        "due_date": statement.due_date.isoformat() if statement.due_date else None,
    }


def statement_document(statement: Statement) -> dict:
    """The statement as CONTRACT.md section 5 gives it (money as strings)."""
    return {
        **statement_summary(statement),
        "lines": [
            {
                "service": line.service.code if line.service else None,
                "kind": line.kind,
                "description": line.description,
                "basis": line.basis,
                "period": line.period,
                "quantity": f"{line.quantity.normalize():f}",
                "rate": f"{line.rate.normalize():f}" if line.rate is not None else None,
                "amount": money_text(line.amount),
                "vat": money_text(line.vat),
                "corrects": line.corrects,
            }
            for line in statement.lines
        ],
    }
