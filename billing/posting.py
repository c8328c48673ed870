"""Posting files: a month's issued statements as journals for the ledgers (`billing post`).

Two journals, in which every statement balances on its own:
- the centre's (`centre_journal`) debits each statement's total to the debtors account
  and credits each line's net to its service's cost centre and income code and the VAT,
  by rate, to the VAT control account;
- a client's (`client_journal`) debits each line's net to the client's own cost centre
  and subjective and the VAT, by rate, to its VAT-recoverable code, and credits the
  statement's total to its creditors code.
Amounts keep the side the journal gives them and their sign: a credit line (a service
credit, a prior-period reduction) is a negative amount on the same side, so each side
adds up to the statements' totals. A zero amount posts nothing and is left out (some
ledgers refuse a zero line).

A `Layout` turns journal rows into a file's columns: the house CSV (a header, then
every field), Oracle Fusion's journal import by column position (`ORACLE`), or a
client's own template from the setup workbook's PostingColumns. The journals and layouts
work on plain values (`StatementFigures`, `Posting`), read from the statements once.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing.models import Statement, StatementLine
from billing.statements import VatBand, issued_on, money_text, vat_by_rate
from opsplatform.audit import record
from opsplatform.errors import Refused
from opsplatform.models import Client, PostingColumn, PostingTemplate
from opsplatform.money import ZERO
from opsplatform.periods import Month
from opsplatform.settings import CentreSettings, centre_settings
from opsplatform.vocabulary import FIXED_TEXT, PostingSource

# -- what the journals are built from ------------------------------------------------------


@dataclass(frozen=True)
class LineFigures:
    """A statement line as the journals post it: its net, VAT code and both sides' codes."""

    amount: Decimal
    vat_code: str
    description: str
    cost_centre: str | None = None
    subjective: str | None = None
    client_cost_centre: str | None = None
    client_subjective: str | None = None
    po_number: str | None = None


@dataclass(frozen=True)
class StatementFigures:
    """An issued statement as the journals post it, with its client's own codes for the
    VAT it recovers and the creditor it owes."""

    number: str
    client: str
    client_name: str
    month: str
    issued_on: date
    total: Decimal
    lines: list[LineFigures]
    vat: list[VatBand]
    vat_recoverable_code: str = ""
    creditors_code: str = ""


@dataclass(frozen=True)
class Posting:
    """One journal row: a signed amount on one side (debit or credit) of one ledger code."""

    statement: str
    client: str
    month: str
    date: date
    cost_centre: str
    subjective: str
    debit: Decimal | None
    credit: Decimal | None
    vat_code: str
    description: str
    po_number: str = ""

    @property
    def amount(self) -> Decimal:
        """Debit less credit: what the row adds to its code's balance."""
        return (self.debit or ZERO) - (self.credit or ZERO)


def statement_figures(statement: Statement) -> StatementFigures:
    """What the journals need of an issued statement (its lines and client loaded)."""
    day = issued_on(statement)
    assert day is not None  # only issued statements are posted, and each has its issue date
    client = statement.client
    return StatementFigures(
        number=statement.number,
        client=client.code,
        client_name=client.name,
        month=statement.month,
        issued_on=day,
        total=statement.total,
        lines=[
            LineFigures(
                line.amount,
                line.vat_code,
                line.description,
                line.cost_centre,
                line.subjective,
                line.client_cost_centre,
                line.client_subjective,
                line.po_number,
            )
            for line in statement.lines
        ],
        vat=vat_by_rate(statement),
        vat_recoverable_code=client.vat_recoverable_code or "",
        creditors_code=client.creditors_code or "",
    )


# -- the journals --------------------------------------------------------------------------

DEBIT, CREDIT = True, False


def _row(
    s: StatementFigures,
    code: tuple[str | None, str | None],
    amount: Decimal,
    debit: bool,
    vat_code: str,
    description: str,
    po_number: str | None = None,
) -> Posting:
    """A row of statement `s`: `amount` on the debit (or credit) side of (cost centre,
    subjective) `code`."""
    return Posting(
        s.number,
        s.client,
        s.month,
        s.issued_on,
        code[0] or "",
        code[1] or "",
        amount if debit else None,
        None if debit else amount,
        vat_code,
        description,
        po_number or "",
    )


def _vat_text(band: VatBand, number: str) -> str:
    return f"VAT at {band.rate:f}% on statement {number}"


def centre_journal(s: StatementFigures, centre: CentreSettings) -> Iterator[Posting]:
    """The centre's journal of one statement: debtors debited, income and VAT credited."""
    yield _row(
        s, (None, centre.debtors_code), s.total, DEBIT, "", f"{s.client_name}: statement {s.number}"
    )
    for line in s.lines:
        code = (line.cost_centre, line.subjective)
        yield _row(s, code, line.amount, CREDIT, line.vat_code, line.description, line.po_number)
    for band in s.vat:
        yield _row(
            s,
            (None, centre.vat_control_code),
            band.vat,
            CREDIT,
            band.code,
            _vat_text(band, s.number),
        )


def client_journal(s: StatementFigures, centre: CentreSettings) -> Iterator[Posting]:
    """The client's expense journal of one statement, in its own codes: each line's net
    and the VAT it recovers debited, what it owes the centre credited to creditors."""
    for line in s.lines:
        code = (line.client_cost_centre, line.client_subjective)
        yield _row(s, code, line.amount, DEBIT, line.vat_code, line.description, line.po_number)
    for band in s.vat:
        yield _row(
            s, (None, s.vat_recoverable_code), band.vat, DEBIT, band.code, _vat_text(band, s.number)
        )
    yield _row(
        s,
        (None, s.creditors_code),
        s.total,
        CREDIT,
        "",
        f"{centre.centre_name}: statement {s.number}",
    )


Journal = Callable[[StatementFigures, CentreSettings], Iterator[Posting]]


def sides(rows: Iterable[Posting]) -> tuple[Decimal, Decimal]:
    """The sum of the rows' debits and the sum of their credits."""
    debits = credits = ZERO
    for r in rows:
        debits += r.debit or ZERO
        credits += r.credit or ZERO
    return debits, credits


def posted(journal: Journal, s: StatementFigures, centre: CentreSettings) -> list[Posting]:
    """`journal`'s rows of statement `s` but those of a zero amount; refused if they do
    not balance (which a statement whose total is its net and VAT always does)."""
    rows = [r for r in journal(s, centre) if r.amount != ZERO]
    debits, credits = sides(rows)
    if debits != credits:
        raise Refused(
            f"the journal of statement {s.number} does not balance: "
            f"debits {debits}, credits {credits}"
        )
    return rows


# -- the layouts ---------------------------------------------------------------------------


def _amount(value: Decimal | None) -> str:
    return money_text(value) if value is not None else ""


def _positive(value: Decimal) -> str:
    return money_text(value) if value > ZERO else ""


# each source's text in a row; the amounts are written as they are, everything else
# through `_text` (see `cell`)
SOURCES: dict[PostingSource, Callable[[Posting], str]] = {
    PostingSource.STATEMENT: lambda r: r.statement,
    PostingSource.CLIENT: lambda r: r.client,
    PostingSource.MONTH: lambda r: r.month,
    PostingSource.DATE: lambda r: r.date.isoformat(),
    PostingSource.DATE_DMY: lambda r: r.date.strftime("%d/%m/%Y"),
    PostingSource.DATE_YMD: lambda r: r.date.strftime("%Y/%m/%d"),
    PostingSource.COST_CENTRE: lambda r: r.cost_centre,
    PostingSource.SUBJECTIVE: lambda r: r.subjective,
    PostingSource.DEBIT: lambda r: _amount(r.debit),
    PostingSource.CREDIT: lambda r: _amount(r.credit),
    PostingSource.AMOUNT: lambda r: money_text(r.amount),
    PostingSource.POSITIVE_DEBIT: lambda r: _positive(r.amount),
    PostingSource.POSITIVE_CREDIT: lambda r: _positive(-r.amount),
    PostingSource.VAT_CODE: lambda r: r.vat_code,
    PostingSource.DESCRIPTION: lambda r: r.description,
    PostingSource.PO_NUMBER: lambda r: r.po_number,
}
AMOUNTS = {
    PostingSource.DEBIT,
    PostingSource.CREDIT,
    PostingSource.AMOUNT,
    PostingSource.POSITIVE_DEBIT,
    PostingSource.POSITIVE_CREDIT,
}


def _text(value: str) -> str:
    """Free text that a spreadsheet opening the file will not take for a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def cell(source: str | None, row: Posting) -> str:
    """What column `source` (a PostingSource, or FIXED_TEXT and a text) holds in `row`;
    nothing for a column with no source."""
    if source is None:
        return ""
    if source.startswith(FIXED_TEXT):
        return _text(source.removeprefix(FIXED_TEXT))
    field = PostingSource(source)
    return SOURCES[field](row) if field in AMOUNTS else _text(SOURCES[field](row))


@dataclass(frozen=True)
class Layout:
    """The columns of a posting file: each column number's source (a gap is an empty
    column), the headings (None: no header row, as an import reading by position wants)
    and the file's encoding."""

    sources: dict[int, str]
    headings: dict[int, str] | None
    encoding: str

    def rows(self, postings: Iterable[Posting]) -> Iterator[list[str]]:
        """The file's rows: the header, if any, then one a posting."""
        columns = range(1, max(self.sources, default=0) + 1)
        if self.headings is not None:
            yield [self.headings.get(n, "") for n in columns]
        for posting in postings:
            yield [cell(self.sources.get(n), posting) for n in columns]


# with a header, the file starts with a byte-order mark so that Excel reads it as UTF-8
FOR_PEOPLE = "utf-8-sig"

HOUSE_COLUMNS = (
    PostingSource.STATEMENT,
    PostingSource.CLIENT,
    PostingSource.DATE,
    PostingSource.COST_CENTRE,
    PostingSource.SUBJECTIVE,
    PostingSource.DEBIT,
    PostingSource.CREDIT,
    PostingSource.VAT_CODE,
    PostingSource.DESCRIPTION,
    PostingSource.PO_NUMBER,
)
HOUSE = Layout(
    {n: str(c) for n, c in enumerate(HOUSE_COLUMNS, start=1)},
    {n: str(c) for n, c in enumerate(HOUSE_COLUMNS, start=1)},
    FOR_PEOPLE,
)

# Oracle Fusion Cloud's journal import (the GL_INTERFACE sheet of JournalImportTemplate.xlsm,
# file-based data import for Financials; docs/CHARGING.md cites its documentation):
# columns by position, the CSV with no header and dates YYYY/MM/DD. None: the client's
# own value, from its PostingColumns at that position. Columns not named stay empty:
# SEGMENT3-30, the converted amounts (the entered currency is the ledger's) and the
# other references.
ORACLE: dict[int, tuple[str, str | None]] = {
    1: ("STATUS", "text:NEW"),
    2: ("LEDGER_ID", None),
    3: ("ACCOUNTING_DATE", PostingSource.DATE_YMD),
    4: ("USER_JE_SOURCE_NAME", None),
    5: ("USER_JE_CATEGORY_NAME", None),
    6: ("CURRENCY_CODE", "text:GBP"),
    7: ("DATE_CREATED", PostingSource.DATE_YMD),
    8: ("ACTUAL_FLAG", "text:A"),
    9: ("SEGMENT1", PostingSource.COST_CENTRE),
    10: ("SEGMENT2", PostingSource.SUBJECTIVE),
    39: ("ENTERED_DR", PostingSource.POSITIVE_DEBIT),
    40: ("ENTERED_CR", PostingSource.POSITIVE_CREDIT),
    43: ("REFERENCE1", PostingSource.STATEMENT),  # the batch name: one batch a statement
    46: ("REFERENCE4", PostingSource.STATEMENT),  # the journal name
    52: ("REFERENCE10", PostingSource.DESCRIPTION),  # the line's description
}


def house_layout(client: str, template: PostingTemplate) -> Layout:
    """The house CSV, whoever's the file is."""
    return HOUSE


def oracle_layout(client: str, template: PostingTemplate) -> Layout:
    """Oracle's journal import, with the client's own columns (its PostingColumns) set at
    their positions over Oracle's: its ledger, journal source and category, which only it
    knows, and any segment it orders otherwise."""
    missing = [
        f"{name} ({position})"
        for position, (name, source) in ORACLE.items()
        if source is None and position not in template
    ]
    if missing:
        raise Refused(
            f"Oracle's journal import needs {client}'s own {', '.join(missing)}: give them "
            "in its PostingColumns, e.g. position 2, source text:300000001234567"
        )
    sources = {n: source for n, (_, source) in ORACLE.items() if source is not None}
    sources.update({n: source for n, (_, source) in template.items()})
    return Layout(sources, None, "utf-8")


def mapped_layout(client: str, template: PostingTemplate) -> Layout:
    """The client's own template: its columns, headings and sources."""
    if not template:
        raise Refused(f"{client} has no posting columns: load its PostingColumns first")
    return Layout(
        {n: source for n, (_, source) in template.items()},
        {n: heading or "" for n, (heading, _) in template.items()},
        FOR_PEOPLE,
    )


# -- the formats ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """A posting file: its journal, its layout (from the client's template), whether it is
    one client's alone, and where a row's missing ledger codes are set."""

    journal: Journal
    layout: Callable[[str, PostingTemplate], Layout]
    one_client: bool
    codes: str


CENTRE_CODES = (
    "debtors_code and vat_control_code in Settings, cost_centre and subjective on Services"
)
CLIENT_CODES = (
    "vat_recoverable_code and creditors_code on Clients, client_cost_centre and "
    "client_subjective on Subscriptions"
)
FORMATS: dict[str, Format] = {
    "journal": Format(centre_journal, house_layout, False, CENTRE_CODES),
    "client": Format(client_journal, house_layout, False, CLIENT_CODES),
    "oracle": Format(client_journal, oracle_layout, True, CLIENT_CODES),
    "mapped": Format(client_journal, mapped_layout, True, CLIENT_CODES),
}


# -- writing the file ----------------------------------------------------------------------


def issued_statements(session: Session, month: Month, client: Client | None) -> list[Statement]:
    """The issued statements of `month` (of `client` only, if given), with their lines and
    clients, by number."""
    query = select(Statement).where(Statement.month == str(month), Statement.status == "issued")
    if client is not None:
        query = query.where(Statement.client_id == client.id)
    found = list(
        session.scalars(
            query.options(
                selectinload(Statement.lines).selectinload(StatementLine.service),
                selectinload(Statement.client),
            ).order_by(Statement.number)
        )
    )
    if not found:
        of = f" of {client.code}" if client else ""
        raise Refused(
            f"there are no issued statements for {month}{of}: only issued statements are posted"
        )
    return found


def find_client(session: Session, code: str) -> Client:
    found = session.scalars(select(Client).where(Client.code == code.strip().upper())).one_or_none()
    if found is None:
        raise Refused(f"unknown client '{code}'")
    return found


def client_template(session: Session, client: Client) -> PostingTemplate:
    """The client's own posting columns, by column number."""
    columns = session.scalars(select(PostingColumn).where(PostingColumn.client_id == client.id))
    return {c.position: (c.heading, c.source) for c in columns}


@dataclass(frozen=True)
class PostingReport:
    """What a posting file holds: its rows, their debits and credits, and how many rows
    lack a ledger code (a setting or a service's code not yet set)."""

    form: str
    client: str | None
    statements: int
    rows: int
    debits: Decimal
    credits: Decimal
    uncoded: int


def write_posting_file(
    session: Session,
    month: Month,
    path: Path,
    actor: str,
    form: str = "journal",
    client: str | None = None,
) -> PostingReport:
    """Write `month`'s issued statements (of `client` only, if given) to `path` as posting
    file `form`; the audit log names `actor` as who posted them.

    Refuses, writing nothing, if any statement's journal would not balance (none should),
    or if `form` is one client's file and no client is named."""
    spec = FORMATS.get(form)
    if spec is None:
        raise Refused(f"unknown posting format '{form}': choose one of {', '.join(FORMATS)}")
    if spec.one_client and client is None:
        raise Refused(f"a {form} posting file is one client's: name the client")
    who = find_client(session, client) if client is not None else None
    layout = spec.layout(who.code, client_template(session, who)) if who else spec.layout("", {})
    statements = issued_statements(session, month, who)
    centre = centre_settings(session)
    rows = [r for s in statements for r in posted(spec.journal, statement_figures(s), centre)]
    with path.open("w", newline="", encoding=layout.encoding) as out:
        csv.writer(out).writerows(layout.rows(rows))
    debits, credits = sides(rows)
    report = PostingReport(
        form,
        who.code if who else None,
        len(statements),
        len(rows),
        debits,
        credits,
        sum(1 for r in rows if not r.subjective),
    )
    record(
        session,
        actor,
        "billing post",
        str(month),
        form=form,
        client=report.client,
        rows=report.rows,
    )
    return report
