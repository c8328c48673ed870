"""`opsplatform billing`: month close, statements, adjustments and budget estimates."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import click
from flask.cli import AppGroup

from billing.adjustments import adjust, withdraw, withdrawn_document
from billing.budget import estimate_entries, project_year, write_budget_workbook
from billing.close import close_month
from billing.export import write_statement_workbook
from billing.issue import issue_month
from billing.outturn import approve_outturn, outturn_document, outturns
from billing.posting import FORMATS, write_posting_file
from billing.projection import Scenario
from billing.rates import accept_rates, propose_rates, rate_document
from billing.statements import (
    get_statement,
    list_statements,
    statement_document,
    statement_summary,
)
from billing.yearend import accruals, lock_year, write_accruals_workbook
from importers.tables import decimal, money
from opsplatform.entrypoints.cli.common import MONTH, YEAR, emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Refused
from opsplatform.periods import FinancialYear, Month
from opsplatform.settings import centre_settings


@click.group("billing", cls=AppGroup)
def billing_commands() -> None:
    """Month close, statements and their workbooks."""


@billing_commands.command("close")
@click.argument("month", type=MONTH)
@json_option
@refusals
def billing_close(month: Month, as_json: bool) -> None:
    """(Re)build the draft statements for MONTH; issued ones are never touched."""
    with database().transaction() as session:
        summaries = [statement_summary(s) for s in close_month(session, month, raised_by())]
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']}  draft  net {s['net']}  VAT {s['vat']}  total {s['total']}")
    click.echo(f"{len(summaries)} draft statement(s) for {month}")


@billing_commands.command("issue")
@click.argument("month", type=MONTH)
@json_option
@refusals
def billing_issue(month: Month, as_json: bool) -> None:
    """Issue the drafts of MONTH: numbered and immutable from now on."""
    with database().transaction() as session:
        summaries = [statement_summary(s) for s in issue_month(session, month, raised_by())]
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']}  issued  total {s['total']}  due {s['due_date']}")
    click.echo(f"{len(summaries)} statement(s) issued for {month}")


@billing_commands.command("show")
@click.argument("number")
@json_option
@refusals
def billing_show(number: str, as_json: bool) -> None:
    """One statement and its lines."""
    with database().transaction() as session:
        document = statement_document(get_statement(session, number), centre_settings(session))
    if as_json:
        emit(document)
        return
    invoice = document["vat_invoice"]
    click.echo(
        f"{'VAT invoice ' if invoice else ''}{document['number']}  {document['client_name']}  "
        f"{document['month']}  {document['status']}"
    )
    if invoice:
        supplier, customer = invoice["supplier"], invoice["customer"]
        click.echo(
            f"  from {supplier['name']}, {supplier['address'] or 'no address set'}, "
            f"VAT number {supplier['vat_number'] or 'not set'}"
        )
        click.echo(f"  to {customer['name']}, {customer['address'] or 'no address set'}")
        click.echo(f"  tax point {invoice['tax_point'] or 'the date of issue, once issued'}")
    for line in document["lines"]:
        click.echo(
            f"  {line['kind']:<15} {line['description']:<50} {line['amount']:>12}  "
            f"VAT {line['vat_code']} {line['vat']:>10}"
        )
        click.echo(f"  {'':<15} {line['basis']}")
    click.echo(f"  net {document['net']}  VAT {document['vat']}  total {document['total']}")
    for band in document["vat_by_rate"]:
        click.echo(f"  VAT {band['code']} at {band['rate']}%: net {band['net']}, VAT {band['vat']}")


@billing_commands.command("list")
@click.option("--month", type=MONTH)
@click.option("--client")
@json_option
@refusals
def billing_list(month: Month | None, client: str | None, as_json: bool) -> None:
    """Statements, optionally for one month or one client."""
    with database().transaction() as session:
        summaries = [statement_summary(s) for s in list_statements(session, month, client)]
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']:<24} {s['month']}  {s['status']:<7} {s['total']:>12}")
    click.echo(f"{len(summaries)} statement(s)")


@billing_commands.command("export")
@click.argument("number")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals
def billing_export(number: str, out: Path) -> None:
    """Write the statement workbook."""
    with database().transaction() as session:
        write_statement_workbook(session, get_statement(session, number), out)
    click.echo(f"wrote {out}")


@billing_commands.command("adjust", context_settings={"ignore_unknown_options": True})
@click.argument("client")
@click.argument("service")
@click.argument("amount")
@click.option("--reason", required=True, help="Why: printed on the statement.")
@click.option("--statement", help="The statement this corrects.")
@click.option("--line", type=int, help="The line number it corrects on that statement.")
@click.option("--approved-by", help="Who authorised it (printed on the statement).")
@json_option
@refusals
def billing_adjust(
    client: str,
    service: str,
    amount: str,
    reason: str,
    statement: str | None,
    line: int | None,
    approved_by: str | None,
    as_json: bool,
) -> None:
    """A manual credit (negative AMOUNT) or debit line on the client's next statement."""
    try:
        value = money(amount)
    except ValueError as error:
        raise Refused(f"AMOUNT: {error}") from None
    with database().transaction() as session:
        pending = adjust(
            session,
            client,
            service,
            value,
            reason,
            raised_by(),
            statement=statement,
            line=line,
            approved_by=approved_by,
        )
        document = {
            "id": pending.id,
            "client": client.upper(),
            "service": service.upper(),
            "amount": f"{pending.amount:.2f}",
            "description": pending.description,
            "reason": pending.reason,
            "corrects": pending.corrects,
        }
    if as_json:
        emit(document)
        return
    click.echo(
        f"adjustment {document['id']}: {document['amount']} for {document['client']} "
        f"{document['service']} will appear on its next statement"
    )


@billing_commands.command("withdraw")
@click.argument("pending_id", metavar="ID", type=int)
@json_option
@refusals
def billing_withdraw(pending_id: int, as_json: bool) -> None:
    """Withdraw pending line ID (an adjustment or service credit) before it is issued."""
    with database().transaction() as session:
        document = withdrawn_document(withdraw(session, pending_id, raised_by()))
    if as_json:
        emit(document)
        return
    click.echo(f"pending line {pending_id} ({document['amount']}) withdrawn")
    if document["reclosed"]:
        click.echo(f"{document['reclosed']} closed again: its draft no longer carries it")


@billing_commands.command("post")
@click.argument("month", type=MONTH)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the posting file (CSV) here.",
)
@click.option(
    "--format",
    "form",
    type=click.Choice(list(FORMATS)),
    default="journal",
    show_default=True,
    help="journal: the centre's journal; client: the clients' expense journals; oracle: a "
    "client's in Oracle Fusion's journal import; mapped: a client's in its own template.",
)
@click.option("--client", help="One client's statements only (oracle and mapped: required).")
@json_option
@refusals
def billing_post(month: Month, out: Path, form: str, client: str | None, as_json: bool) -> None:
    """The month's issued statements as a posting file for a ledger."""
    with database().transaction() as session:
        report = write_posting_file(session, month, out, raised_by(), form, client)
    if as_json:
        emit(
            {**asdict(report), "debits": f"{report.debits:.2f}", "credits": f"{report.credits:.2f}"}
        )
        return
    click.echo(
        f"{out}: {report.rows} rows from {report.statements} statement(s), "
        f"debits {report.debits:,.2f} = credits {report.credits:,.2f}"
    )
    if report.uncoded:
        click.echo(
            f"warning: {report.uncoded} row(s) have no ledger code: set {FORMATS[form].codes}",
            err=True,
        )


@billing_commands.command("lock-year")
@click.argument("year", type=YEAR)
@json_option
@refusals
def billing_lock_year(year: FinancialYear, as_json: bool) -> None:
    """Close a financial year for good once its March statements are issued: nothing
    re-rates it after this; later corrections go through billing adjust."""
    with database().transaction() as session:
        locked = lock_year(session, year, raised_by())
    document = {
        "financial_year": str(locked.year),
        "locked_by": locked.locked_by,
        "statements": locked.statements,
        "net": f"{locked.net:.2f}",
        "vat": f"{locked.vat:.2f}",
    }
    if as_json:
        emit(document)
        return
    click.echo(
        f"{year} locked: {locked.statements} statements, net {locked.net:,.2f}, "
        f"VAT {locked.vat:,.2f}; nothing re-rates it any more"
    )


@billing_commands.command("accruals")
@click.argument("year", type=YEAR)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the accruals workbook here.",
)
@json_option
@refusals
def billing_accruals(year: FinancialYear, out: Path | None, as_json: bool) -> None:
    """Everything about a financial year billed after 31 March, or waiting to be, for
    both sides to accrue in that year."""
    with database().reading() as session:
        found = accruals(session, year)
        if out is not None:
            write_accruals_workbook(session, year, found, out)
    if as_json:
        emit(
            [
                {
                    **asdict(a),
                    "net": f"{a.net:.2f}",
                    "vat": f"{a.vat:.2f}",
                }
                for a in found
            ]
        )
        return
    net = sum((a.net for a in found), Decimal(0))
    click.echo(f"{len(found)} line(s) about {year} billed after it, net {net:,.2f}")


@billing_commands.command("outturn")
@click.argument("year", type=YEAR)
@click.option("--service", help="Only this service (funded on cost).")
@click.option(
    "--approve",
    is_flag=True,
    help="Approve it: raise each partner's share on its next statement. Without it, a dry run.",
)
@json_option
@refusals
def billing_outturn(year: FinancialYear, service: str | None, approve: bool, as_json: bool) -> None:
    """Compare each service funded on cost with its actual cost for a financial year, and
    share the surplus or deficit among its partners in proportion to what each was charged."""
    with database().transaction(dry_run=not approve) as session:
        if approve:
            found = approve_outturn(session, year, raised_by(), service)
        else:
            found = outturns(session, year, service)
        documents = [outturn_document(o) for o in found]
    if as_json:
        emit(documents)
        return
    for outturn in found:
        state = f"approved by {outturn.approved_by}" if outturn.approved_by else "not approved"
        click.echo(f"{outturn.sentence} ({state})")
        for source in outturn.cost.sources:
            click.echo(f"  cost  {source.sentence}")
        for partner in outturn.partners:
            click.echo(f"  {partner.client:<12} {partner.amount:>14,.2f}  {partner.sentence}")
    if not approve and any(o.approved_by is None for o in found):
        click.echo("dry run: nothing written; --approve raises the partners' lines")


@billing_commands.command("rates")
@click.argument("year", type=YEAR)
@click.option(
    "--volume-change",
    type=decimal,
    default="0",
    help="Percent by which next year's volumes differ from this year's (default 0).",
)
@click.option(
    "--accept", is_flag=True, help="Write them as the year's tariffs. Without it, a dry run."
)
@json_option
@refusals
def billing_rates(year: FinancialYear, volume_change: Decimal, accept: bool, as_json: bool) -> None:
    """Propose a financial year's rates for the services funded on cost, from its budget
    in the cost ledger and the year before's volumes, with each partner's change."""
    with database().transaction(dry_run=not accept) as session:
        if accept:
            found = accept_rates(session, year, raised_by(), volume_change)
        else:
            found = propose_rates(session, year, volume_change)
    if as_json:
        emit([rate_document(p) for p in found])
        return
    for p in found:
        click.echo(
            f"{p.service} {p.rule} {year}: {p.shown(p.proposed)} "
            f"(this year {p.shown(p.current)}); {p.basis}"
        )
        for partner in p.partners:
            click.echo(
                f"  {partner.client:<12} {partner.this_year:>14,.2f} -> "
                f"{partner.next_year:>14,.2f}  ({partner.change:+,.2f})"
            )
    click.echo(
        f"written as {year}'s tariffs"
        if accept
        else "dry run: nothing written; --accept writes them"
    )


@billing_commands.command("estimate")
@click.argument("year", type=YEAR)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the budget letters' workbook here.",
)
@click.option(
    "--from", "basis", type=YEAR, help="Year whose volumes to use (default: the one before)."
)
@click.option(
    "--volume-change",
    metavar="PERCENT",
    default="0",
    help="Change every projected quantity by PERCENT, e.g. -5 (default 0).",
)
@click.option(
    "--inflation",
    metavar="PERCENT",
    help="Price a year without tariffs of its own at the latest earlier year's, every "
    "charge raised by PERCENT a year, compounded (default 0; a YEAR without tariffs of "
    "its own needs it).",
)
@click.option(
    "--years", type=int, default=1, help="Project YEAR and the years after it: 1 to 5 (default 1)."
)
@json_option
@refusals
def billing_estimate(
    year: FinancialYear,
    out: Path | None,
    basis: FinancialYear | None,
    volume_change: str,
    inflation: str | None,
    years: int,
    as_json: bool,
) -> None:
    """Each client's projected charges for a financial year (budget letters): with --json,
    one entry per client and service, `annual` its projected net charge (and with --years,
    `years`: its net for each year)."""
    scenario = Scenario(
        volume_change=_percent("--volume-change", volume_change),
        inflation=None if inflation is None else _percent("--inflation", inflation),
        years=years,
    )
    with database().transaction() as session:
        projection = project_year(session, year, basis, scenario)
        if out is not None:
            write_budget_workbook(session, projection, out)
    if as_json:
        emit(estimate_entries(projection))
        return
    if years > 1:
        click.echo(f"{'client':<12} " + " ".join(f"{y!s:>14}" for y in projection.years))
    for code, totals in projection.totals().items():
        click.echo(f"{code:<12} " + " ".join(f"{total:>14.2f}" for total in totals))
    if out is not None:
        click.echo(f"wrote {out}")


def _percent(option: str, text: str) -> Decimal:
    """A percent typed at the command line, with or without its `%`."""
    try:
        return decimal(text.strip().removesuffix("%"))
    except ValueError as error:
        raise Refused(f"{option}: {error}") from None
