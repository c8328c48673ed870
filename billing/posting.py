"""Posting files: a month's issued statements as journals for the ledgers (`billing post`).

The centre's journal (`journal`) debits each statement's total to the debtors account
and credits each line's net to its service's cost centre and income code and the VAT,
by rate, to the VAT control account, so every statement balances on its own. Amounts
keep the side the journal gives them and their sign: a credit line (a service credit, a
prior-period reduction) is a negative credit, so the debits add up to the statements'
totals and the credits to the same.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.models import Statement, StatementLine
from billing.statements import issued_on, money_text, vat_by_rate
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.money import ZERO
from opsplatform.periods import Month
from opsplatform.settings import CentreSettings, centre_settings


@dataclass(frozen=True)
class Posting:
    """One journal row: an amount on one side of one ledger code."""

    statement: str
    client: str
    date: str
    cost_centre: str
    subjective: str
    debit: Decimal | None
    credit: Decimal | None
    vat_code: str
    description: str


JOURNAL_COLUMNS = (
    "statement",
    "client",
    "date",
    "cost_centre",
    "subjective",
    "debit",
    "credit",
    "vat_code",
    "description",
)


def issued_statements(session: Session, month: Month) -> list[Statement]:
    """The issued statements of `month`, with their lines and clients, by number."""
    found = list(
        session.scalars(
            select(Statement)
            .where(Statement.month == str(month), Statement.status == "issued")
            .options(
                selectinload(Statement.lines).selectinload(StatementLine.service),
                selectinload(Statement.client),
            )
            .order_by(Statement.number)
        )
    )
    if not found:
        raise Refused(
            f"there are no issued statements for {month}: only issued statements are posted"
        )
    return found


def centre_journal(statements: list[Statement], centre: CentreSettings) -> Iterator[Posting]:
    """The centre's journal: debtors debited, income and VAT credited, statement by statement."""
    for s in statements:
        day = str(issued_on(s))
        yield Posting(
            s.number,
            s.client.code,
            day,
            "",
            centre.debtors_code,
            s.total,
            None,
            "",
            f"{s.client.name}: statement {s.number}",
        )
        for line in s.lines:
            yield Posting(
                s.number,
                s.client.code,
                day,
                line.cost_centre or "",
                line.subjective or "",
                None,
                line.amount,
                line.vat_code,
                line.description,
            )
        for band in vat_by_rate(s):
            if band.vat != ZERO:
                yield Posting(
                    s.number,
                    s.client.code,
                    day,
                    "",
                    centre.vat_control_code,
                    None,
                    band.vat,
                    band.code,
                    f"VAT at {band.rate:f}% on statement {s.number}",
                )


Format = Callable[[list[Statement], CentreSettings], Iterator[Posting]]
FORMATS: dict[str, Format] = {"journal": centre_journal}


def _amount(value: Decimal | None) -> str:
    return money_text(value) if value is not None else ""


def _text(value: str) -> str:
    """Free text that a spreadsheet opening the file will not take for a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@dataclass(frozen=True)
class PostingReport:
    """What a posting file holds: its rows, their debits and credits, and how many rows
    lack a ledger code (a setting or a service's code not yet set)."""

    form: str
    statements: int
    rows: int
    debits: Decimal
    credits: Decimal
    uncoded: int


def write_posting_file(
    session: Session, month: Month, path: Path, actor: str, form: str = "journal"
) -> PostingReport:
    """Write `month`'s issued statements to `path` as posting file `form`; the audit log
    names `actor` as who posted them.

    Refuses, writing nothing, if the journal would not balance (it always should)."""
    if form not in FORMATS:
        raise Refused(f"unknown posting format '{form}': choose one of {', '.join(FORMATS)}")
    statements = issued_statements(session, month)
    rows = list(FORMATS[form](statements, centre_settings(session)))
    debits = sum((r.debit for r in rows if r.debit is not None), ZERO)
    credits = sum((r.credit for r in rows if r.credit is not None), ZERO)
    if debits != credits:
        raise Refused(f"the journal does not balance: debits {debits}, credits {credits}")
    with path.open("w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(JOURNAL_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    r.statement,
                    r.client,
                    r.date,
                    r.cost_centre,
                    r.subjective,
                    _amount(r.debit),
                    _amount(r.credit),
                    r.vat_code,
                    _text(r.description),
                ]
            )
    report = PostingReport(
        form, len(statements), len(rows), debits, credits, sum(1 for r in rows if not r.subjective)
    )
    record(session, actor, "billing post", str(month), form=form, rows=report.rows)
    return report
