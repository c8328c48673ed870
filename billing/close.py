"""Month close: ideal lines from the engine, compared with what was issued.

Closing a month rebuilds its draft statements from scratch. Each draft holds the
month's own lines; for every earlier month of the open years that the centre has
issued statements for and the client has no draft for, the difference between what that month should now cost and what has been
billed for it on any other statement (a `prior_period` line naming what it corrects,
or the month caught up when nothing was billed for it: an agreement loaded after its
start date); and the pending lines (adjustments, service credits) due by the month and
not withdrawn.
Issued statements are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, and_, func, select
from sqlalchemy.orm import Session, selectinload

from billing.charges import RATED_KINDS, year_inputs
from billing.coding import Codings
from billing.engine import Ideal, Terms, rate_year
from billing.models import PendingLine, Statement, StatementLine
from opsplatform.audit import record
from opsplatform.db import take_turns
from opsplatform.errors import Refused
from opsplatform.models import Client, Service
from opsplatform.money import ZERO, format_gbp, round_money
from opsplatform.periods import Month
from opsplatform.settings import centre_settings, locked_years

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


def close_month(session: Session, month: Month, actor: str) -> list[Statement]:
    """(Re)build the draft statements of `month`; issued statements stay as they are. The
    audit log names `actor` (an e-mail address, "scheduler", ...) as who closed it."""
    # two closes that overlap would both see no drafts and both insert a set (one lock for
    # every month: a pending line may go to any month's drafts)
    table = cast(Table, Statement.__table__)  # a mapped class's own Table, typed as any FROM
    take_turns(session, CLOSE_LOCK, table, "another close is still writing")
    locked = locked_years(session)
    if str(month.financial_year) in locked:
        raise Refused(
            f"{month.financial_year} is locked (billing lock-year): its months can no longer "
            "be closed; correct its statements with billing adjust"
        )
    settings = centre_settings(session)
    clients = {c.code: c for c in session.scalars(select(Client))}
    services = {s.code: s for s in session.scalars(select(Service))}
    codes = {c.id: code for code, c in clients.items()}
    codings = Codings(session)
    issued = {
        (codes[s.client_id], Month.parse(s.month)): s
        for s in session.scalars(
            select(Statement).where(Statement.month <= str(month), Statement.status == "issued")
        )
    }
    years = {month.financial_year}  # and the year before, while it is open
    years |= {
        m.financial_year
        for _, m in issued
        if m.financial_year == month.financial_year.previous()
        and str(m.financial_year) not in locked
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
    drafted = _drafted_before(session, month, codes)
    billed_months = {m for _, m in issued}
    for client, service, period in sorted(
        set(ideal_totals) | set(billed), key=lambda k: (k[2], k[1])
    ):
        if period >= month or period.financial_year not in years:
            continue  # a locked or long-closed year is never re-rated
        if period not in billed_months or (client, period) in drafted:
            continue  # a month not yet issued is billed by its own drafts when it is
        should, quantity = ideal_totals.get((client, service, period), (ZERO, ZERO))
        was, was_quantity = billed.get((client, service, period), (ZERO, ZERO))
        if should != was:
            statement = issued.get((client, period))
            drafts[client].append(
                _prior_period(
                    services[service],
                    period,
                    should,
                    was if (client, service, period) in billed else None,
                    quantity - was_quantity,
                    statement.number if statement else None,
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
        _fill_statement(session, statement, drafts[code], services, codings)
        built.append(statement)
    for stale in existing.values():  # the client no longer needs a statement this month
        if stale.queries:  # keep the queries' trail: the draft stays, with nothing on it
            _fill_statement(session, stale, [], services, codings)
        else:
            session.delete(stale)
    session.flush()
    record(session, actor, "billing close", str(month), statements=[s.number for s in built])
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
    """Pending lines due by `month`, not withdrawn, that no statement but this month's drafts
    carries yet."""
    carried = (
        select(StatementLine.pending_id)
        .join(Statement, StatementLine.statement_id == Statement.id)
        .where(StatementLine.pending_id.is_not(None))
        .where(~and_(Statement.month == str(month), Statement.status == "draft"))
    )
    return list(
        session.scalars(
            select(PendingLine)
            .where(PendingLine.id.not_in(carried), PendingLine.withdrawn_at.is_(None))
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
    service: Service,
    period: Month,
    should: Decimal,
    was: Decimal | None,
    quantity: Decimal,
    corrects: str | None,
) -> _Draft:
    """The difference for an earlier month: a re-rating of what was billed for it, or
    (`was` None) the catch-up of a month nothing was billed for, such as the months of
    an agreement loaded after its start date."""
    if was is None:
        description = f"{service.name}, {period.label}: not billed before"
        basis = f"{period.label} comes to {format_gbp(should)}; nothing was billed for it"
    else:
        description = f"{service.name}, {period.label}: re-rated (corrects {corrects})"
        basis = f"{period.label} now comes to {format_gbp(should)}; {format_gbp(was)} was billed"
    return _Draft(
        service=service.code,
        kind="prior_period",
        period=period,
        description=description,
        basis=basis,
        quantity=quantity,
        rate=None,
        amount=should - (was or ZERO),
        corrects=corrects,
    )


def _drafted_before(
    session: Session, month: Month, codes: dict[int, str]
) -> set[tuple[str, Month]]:
    """(client, month) of every draft before `month`: those months are still to be issued,
    and their own drafts bill them."""
    rows = session.execute(
        select(Statement.client_id, Statement.month).where(
            Statement.month < str(month), Statement.status == "draft"
        )
    )
    return {(codes[client_id], Month.parse(m)) for client_id, m in rows}


def _fill_statement(
    session: Session,
    statement: Statement,
    drafts: list[_Draft],
    services: dict[str, Service],
    codings: Codings,
) -> None:
    """Replace a draft's lines with `drafts` and total them."""
    statement.lines.clear()
    session.flush()
    for position, d in enumerate(drafts, start=1):
        service = services.get(d.service) if d.service else None
        coding = codings.of(statement.client_id, service, d.period)
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
                vat_rate=coding.vat_rate,
                vat=round_money(d.amount * coding.vat_rate / 100),
                vat_code=coding.vat_code,
                cost_centre=coding.cost_centre,
                subjective=coding.subjective,
                client_cost_centre=coding.client_cost_centre,
                client_subjective=coding.client_subjective,
                po_number=coding.po_number,
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
