"""The `opsplatform` command: a Flask CLI group over the service functions.

Exit 0 = done; 1 = refused (every problem on stderr, nothing written); 2 = wrong usage.
With `--json`, exactly one JSON document goes to stdout, refusals included.
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import sys
from decimal import Decimal
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.serving import run_simple

from billing.budget import project_year, write_budget_workbook
from billing.export import write_statement_workbook
from billing.queries import answer_query, list_queries, query_document, raise_query
from billing.service import (
    adjust,
    close_month,
    get_statement,
    issue_month,
    issued_months,
    list_statements,
    statement_document,
    statement_summary,
)
from importers.kpi import import_figures
from importers.setup import load_setup
from importers.tables import money
from importers.templates import (
    write_error_report,
    write_kpi_template,
    write_setup_template,
    write_usage_template,
)
from importers.usage import UsageRefused, import_file, revert_batch
from opsplatform.accounts import (
    change_role,
    create_token,
    create_user,
    list_users,
    reset_password,
    revoke_token,
    set_active,
)
from opsplatform.audit import recent, record
from opsplatform.entrypoints.app import create_app
from opsplatform.entrypoints.demo import DemoNotEmpty, load_demo
from opsplatform.entrypoints.extensions import database, throttle
from opsplatform.entrypoints.jobs import run_forever, tick
from opsplatform.errors import Refused
from opsplatform.models import ROLES
from opsplatform.periods import FinancialYear, Month, PeriodError, Quarter
from opsplatform.throttle import ACCOUNT
from sla.publication import write_publication
from sla.service import assess_quarter, month_is_final, set_commentary, unit_costs


class PeriodType(click.ParamType):
    """A month, quarter or financial year argument, parsed by its value class."""

    def __init__(self, kind) -> None:
        self.kind = kind
        self.name = kind.__name__.upper()

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind):
            return value
        try:
            return self.kind.parse(value)
        except PeriodError as error:
            self.fail(str(error), param, ctx)


MONTH = PeriodType(Month)
QUARTER = PeriodType(Quarter)
YEAR = PeriodType(FinancialYear)


def raised_by() -> str:
    """Who is acting at the command line, for the record."""
    return f"{getpass.getuser()} (command line)"


def emit(document: object) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def refusals(command):
    """Turn a refusal into messages on stderr (and a JSON document with --json) and exit 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Refused as refused:
            _refuse(refused, kwargs.get("as_json", False))
        except (OperationalError, ProgrammingError) as error:
            if "no such table" in str(error) or "does not exist" in str(error):
                _refuse(
                    Refused(
                        "the database is not at the newest schema: run `opsplatform db upgrade` first"
                    ),
                    kwargs.get("as_json", False),
                )
            raise

    return wrapper


def _refuse(refused: Refused, as_json: bool) -> None:
    if as_json:
        emit({"errors": [p.as_dict() for p in refused.problems], "error_count": refused.total})
    _print_problems(refused)
    sys.exit(1)


def _print_problems(refused: Refused) -> None:
    """One `error:` line per problem listed (at most KEPT), and one for any not listed."""
    for problem in refused.problems:
        click.echo(f"error: {problem}", err=True)
    if refused.unlisted():
        click.echo(f"error: {refused.unlisted()}", err=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
)

main = FlaskGroup(
    name="opsplatform",
    help="Recharging, statements and performance for a council shared-service centre.",
    create_app=create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
# The app is always ours: drop FlaskGroup's --app, --env-file and --debug options.
main.params = [p for p in main.params if p.name not in ("app", "env_file", "debug")]


# -- database, demo, serve ---------------------------------------------------------


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
@refusals
def db_upgrade():
    """Migrate the database to the newest schema."""
    # Alembic takes a fifth of a second to import: only this command pays for it
    import migrations

    migrations.upgrade(database().url)
    click.echo("database is at the newest schema")


@main.command()
@click.option(
    "--if-empty", is_flag=True, help="Do nothing (and succeed) if the database holds data."
)
@refusals
def demo(if_empty: bool):
    """Load a realistic demo centre into an empty database."""
    try:
        summary = load_demo(database())
    except DemoNotEmpty as not_empty:
        if if_empty:
            click.echo("the database already holds data; the demo was not loaded")
            return
        raise Refused(str(not_empty)) from None
    click.echo(summary)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int):
    """Run the web app and API (for production use `gunicorn wsgi:app`)."""
    run_simple(host, port, current_app._get_current_object(), threaded=True)


# -- setup -------------------------------------------------------------------------


@main.group()
def setup():
    """Reference data: clients, services, subscriptions, tariffs, KPIs."""


@setup.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def setup_template(out: Path):
    """Write the blank setup workbook, with headers and notes."""
    write_setup_template(out)
    click.echo(f"wrote {out}")


@setup.command("load")
@click.argument("book", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.option(
    "--rerate", is_flag=True, help="Allow tariff changes in years with issued statements."
)
@json_option
@refusals
def setup_load(book: Path, dry_run: bool, rerate: bool, as_json: bool):
    """Load reference data from a setup workbook, all or nothing."""
    with database().transaction(dry_run=dry_run) as session:
        report = load_setup(session, book, dry_run, rerate, issued_months)
        record(session, raised_by(), "setup load", book.name, rerate=rerate, sheets=report.sheets)
    if as_json:
        emit(report.as_dict())
        return
    verb = "would load" if dry_run else "loaded"
    for sheet, counts in report.sheets.items():
        click.echo(
            f"{verb} {sheet}: {counts['created']} new, {counts['updated']} changed, "
            f"{counts['unchanged']} unchanged"
        )
    if not report.sheets:
        click.echo("the workbook holds no rows")


# -- usage -------------------------------------------------------------------------


@main.group()
def usage():
    """The usage ledger: imports and reverts."""


@usage.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def usage_template(out: Path):
    """Write the blank usage workbook."""
    write_usage_template(out)
    click.echo(f"wrote {out}")


@usage.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.option(
    "--errors",
    "errors_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the list of bad rows to this workbook.",
)
@json_option
@refusals
def usage_import(file: Path, dry_run: bool, errors_out: Path | None, as_json: bool):
    """Import usage from a CSV or XLSX file, all or nothing."""
    try:
        with database().transaction(dry_run=dry_run) as session:
            report = import_file(session, file, dry_run=dry_run)
            record(
                session,
                raised_by(),
                "usage import",
                file.name,
                **report.counts(),
            )
    except Refused as refused:
        if errors_out:
            _write_errors(errors_out, refused)
        if not isinstance(refused, UsageRefused):
            raise
        if as_json:
            emit(refused.report.as_dict())
        click.echo(
            f"error: {file.name}: {refused.total:,} problem(s); nothing was imported", err=True
        )
        _print_problems(refused)
        sys.exit(1)
    if errors_out:
        _write_errors(errors_out, None)
    if as_json:
        emit(report.as_dict())
        return
    prefix = "dry run: would import" if dry_run else f"batch {report.batch}: imported"
    click.echo(
        f"{prefix} {report.inserted} of {report.rows} rows from {file.name}"
        f" ({report.skipped} already stored, skipped)"
    )


def _write_errors(path: Path, refused: Refused | None) -> None:
    """The --errors workbook; a path that cannot be written is a refusal of its own."""
    try:
        write_error_report(path, refused)
    except OSError as error:
        click.echo(f"error: {path}: cannot write the list of problems ({error.strerror})", err=True)
        sys.exit(1)


@usage.command("revert")
@click.argument("batch", type=int)
@json_option
@refusals
def usage_revert(batch: int, as_json: bool):
    """Reverse an import batch: its usage leaves the ledger (issued months are re-rated at the next close)."""
    with database().transaction() as session:
        result = revert_batch(session, batch)
        record(session, raised_by(), "usage revert", f"batch {batch}", **result)
    if as_json:
        emit(result)
        return
    click.echo(f"batch {batch} ({result['filename']}) reverted: {result['removed']} events removed")


# -- billing -----------------------------------------------------------------------


@main.group()
def billing():
    """Month close, statements and their workbooks."""


@billing.command("close")
@click.argument("month", type=MONTH)
@json_option
@refusals
def billing_close(month: Month, as_json: bool):
    """(Re)build the draft statements for MONTH; issued ones are never touched."""
    with database().transaction() as session:
        statements = close_month(session, month)
        record(
            session,
            raised_by(),
            "billing close",
            str(month),
            statements=[s.number for s in statements],
        )
        summaries = [statement_summary(s) for s in statements]
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']}  draft  net {s['net']}  VAT {s['vat']}  total {s['total']}")
    click.echo(f"{len(summaries)} draft statement(s) for {month}")


@billing.command("issue")
@click.argument("month", type=MONTH)
@json_option
@refusals
def billing_issue(month: Month, as_json: bool):
    """Issue the drafts of MONTH: numbered and immutable from now on."""
    with database().transaction() as session:
        summaries = [statement_summary(s) for s in issue_month(session, month)]
        record(
            session,
            raised_by(),
            "billing issue",
            str(month),
            statements={s["number"]: s["total"] for s in summaries},
        )
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']}  issued  total {s['total']}  due {s['due_date']}")
    click.echo(f"{len(summaries)} statement(s) issued for {month}")


@billing.command("show")
@click.argument("number")
@json_option
@refusals
def billing_show(number: str, as_json: bool):
    """One statement and its lines."""
    with database().transaction() as session:
        document = statement_document(get_statement(session, number))
    if as_json:
        emit(document)
        return
    click.echo(
        f"{document['number']}  {document['client_name']}  {document['month']}  "
        f"{document['status']}"
    )
    for line in document["lines"]:
        click.echo(f"  {line['kind']:<15} {line['description']:<50} {line['amount']:>12}")
        click.echo(f"  {'':<15} {line['basis']}")
    click.echo(f"  net {document['net']}  VAT {document['vat']}  total {document['total']}")


@billing.command("list")
@click.option("--month", type=MONTH)
@click.option("--client")
@json_option
@refusals
def billing_list(month: Month | None, client: str | None, as_json: bool):
    """Statements, optionally for one month or one client."""
    with database().transaction() as session:
        summaries = [statement_summary(s) for s in list_statements(session, month, client)]
    if as_json:
        emit(summaries)
        return
    for s in summaries:
        click.echo(f"{s['number']:<24} {s['month']}  {s['status']:<7} {s['total']:>12}")
    click.echo(f"{len(summaries)} statement(s)")


@billing.command("export")
@click.argument("number")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals
def billing_export(number: str, out: Path):
    """Write the statement workbook."""
    with database().transaction() as session:
        write_statement_workbook(session, get_statement(session, number), out)
    click.echo(f"wrote {out}")


@billing.command("adjust", context_settings={"ignore_unknown_options": True})
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
):
    """A manual credit (negative AMOUNT) or debit line on the client's next statement."""
    try:
        value = money(amount)
    except ValueError as error:
        raise Refused(f"AMOUNT: {error}") from None
    with database().transaction() as session:
        pending = adjust(
            session, client, service, value, reason, statement, raised_by(), line, approved_by
        )
        record(
            session,
            raised_by(),
            "billing adjust",
            f"{client.upper()} {service.upper()}",
            amount=value,
            reason=reason,
            corrects=pending.corrects,
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


@billing.command("estimate")
@click.argument("year", type=YEAR)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--from", "basis", type=YEAR, help="Year whose volumes to use (default: the one before)."
)
@json_option
@refusals
def billing_estimate(year: FinancialYear, out: Path, basis: FinancialYear | None, as_json: bool):
    """Each client's projected charges for a financial year (budget letters)."""
    with database().transaction() as session:
        projection = project_year(session, year, basis)
        write_budget_workbook(session, projection, out)
    totals = {
        code: f"{sum((p.net for p in services), Decimal(0)):.2f}"
        for code, services in projection.clients.items()
    }
    if as_json:
        emit({"year": str(year), "basis": str(projection.basis), "net": totals, "file": str(out)})
        return
    for code, net in totals.items():
        click.echo(f"{code:<12} {net:>14}")
    click.echo(f"wrote {out}")


# -- KPIs and SLAs -----------------------------------------------------------------


@main.group()
def kpi():
    """Submitted KPI figures."""


@kpi.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def kpi_template(out: Path):
    """Write the blank workbook for submitted KPI figures."""
    write_kpi_template(out)
    click.echo(f"wrote {out}")


@kpi.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@json_option
@refusals
def kpi_import(file: Path, dry_run: bool, as_json: bool):
    """Import submitted KPI figures (kpi, client, month, numerator, denominator)."""
    with database().transaction(dry_run=dry_run) as session:
        report = import_figures(session, file, dry_run, month_is_final)
        record(
            session,
            raised_by(),
            "kpi import",
            file.name,
            created=report.created,
            replaced=report.replaced,
        )
    if as_json:
        emit(report.as_dict())
        return
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.rows} figures: {report.created} new, {report.replaced} replaced")


@main.group()
def sla():
    """Quarterly KPI results, service credits and the performance publication."""


@sla.command("assess")
@click.argument("quarter", type=QUARTER)
@click.option("--final", is_flag=True, help="Freeze the results and raise service credits (once).")
@json_option
@refusals
def sla_assess(quarter: Quarter, final: bool, as_json: bool):
    """Compute KPI results for QUARTER, for the whole centre and each client."""
    with database().transaction() as session:
        results = [r.as_dict() for r in assess_quarter(session, quarter, final)]
        if final:
            record(session, raised_by(), "sla final", str(quarter), results=len(results))
    if as_json:
        emit(results)
        return
    for r in results:
        value = "no data" if r["value"] is None else r["value"]
        click.echo(
            f"{r['kpi']:<12} {r['client'] or 'centre':<12} {value!s:>10}  "
            f"target {r['target']!s:>6}  {r['status']}"
        )
    click.echo(f"{len(results)} result(s) for {quarter}" + (" (final)" if final else ""))


@sla.command("publish")
@click.argument("quarter", type=QUARTER)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals
def sla_publish(quarter: Quarter, out: Path):
    """Write the quarterly performance publication workbook."""
    with database().transaction() as session:
        write_publication(session, quarter, out)
    click.echo(f"wrote {out}")


@main.group()
def queries():
    """Statement queries raised by client councils, and finance's answers."""


@queries.command("raise")
@click.argument("number")
@click.option("--line", type=int, help="The line queried (counting from 1).")
@click.option("--reason", required=True)
@json_option
@refusals
def queries_raise(number: str, line: int | None, reason: str, as_json: bool):
    """Raise a query on statement NUMBER."""
    with database().transaction() as session:
        document = query_document(raise_query(session, number, line, reason, raised_by()))
        record(session, raised_by(), "query raise", number, query=document["id"], reason=reason)
    if as_json:
        emit(document)
        return
    click.echo(f"query {document['id']} raised on {document['statement']}")


@queries.command("answer")
@click.argument("query_id", type=int)
@click.option("--accept/--reject", required=True, help="Accept or reject the query.")
@click.option("--explanation", required=True, help="What the client is told.")
@click.option("--amount", help="With --accept: an adjustment (negative = credit).")
@json_option
@refusals
def queries_answer(
    query_id: int, accept: bool, explanation: str, amount: str | None, as_json: bool
):
    """Answer query QUERY_ID."""
    value = None
    if amount is not None:
        try:
            value = money(amount)
        except ValueError as error:
            raise Refused(f"--amount: {error}") from None
    with database().transaction() as session:
        query = answer_query(session, query_id, accept, explanation, raised_by(), value)
        record(
            session,
            raised_by(),
            "query answer",
            f"query {query_id}",
            status=query.status,
            answer=explanation,
            amount=value,
        )
        document = query_document(query)
    if as_json:
        emit(document)
        return
    click.echo(f"query {query_id} {document['status']}")


@queries.command("list")
@click.option("--status", type=click.Choice(["open", "accepted", "rejected"]))
@click.option("--client")
@json_option
@refusals
def queries_list(status: str | None, client: str | None, as_json: bool):
    """Statement queries, oldest first."""
    with database().transaction() as session:
        documents = [query_document(q) for q in list_queries(session, status, client)]
    if as_json:
        emit(documents)
        return
    for d in documents:
        click.echo(f"{d['id']:>5} {d['statement']:<24} {d['status']:<9} {d['reason']}")
    click.echo(f"{len(documents)} quer{'y' if len(documents) == 1 else 'ies'}")


@sla.command("comment")
@click.argument("quarter", type=QUARTER)
@click.argument("kpi_code")
@click.argument("text")
@refusals
def sla_comment(quarter: Quarter, kpi_code: str, text: str):
    """Record the commentary on a KPI for QUARTER, printed in the publication."""
    with database().transaction() as session:
        set_commentary(session, quarter, kpi_code, text, raised_by())
        record(session, raised_by(), "sla comment", f"{kpi_code.upper()} {quarter}", text=text)
    click.echo(f"commentary saved for {kpi_code.upper()} in {quarter}")


@sla.command("costs")
@click.argument("quarter", type=QUARTER)
@json_option
@refusals
def sla_costs(quarter: Quarter, as_json: bool):
    """Cost per transaction for each service in QUARTER, per client and overall."""
    with database().transaction() as session:
        rows = unit_costs(session, quarter)
    if as_json:
        emit(rows)
        return
    for r in rows:
        cost = "n/a" if r["cost_per_unit"] is None else f"£{r['cost_per_unit']:,.4f}"
        click.echo(
            f"{r['service']:<8} {r['client'] or 'centre':<10} {r['charges']:>14} "
            f"{r['units']!s:>10} {r['unit']}s  {cost} per {r['unit']}"
        )


# -- users and tokens --------------------------------------------------------------


@main.group()
def users():
    """People who sign in to the web app."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--client", help="The client council a client user belongs to.")
@json_option
@refusals
def users_create(email: str, role: str, client: str | None, as_json: bool):
    """Create a user and print a one-time password."""
    with database().transaction() as session:
        user, password = create_user(session, email, role, client)
        record(session, raised_by(), "user create", user.email, role=role, client=client)
        email = user.email
    if as_json:
        emit({"email": email, "password": password})
        return
    click.echo(f"user {email} ({role}) created; one-time password: {password}")


@users.command("list")
@json_option
@refusals
def users_list(as_json: bool):
    """Every user: e-mail, role, client council and whether it may sign in."""
    with database().transaction() as session:
        found = list_users(session)
    if as_json:
        emit(found)
        return
    for u in found:
        state = "" if u["active"] else "  (disabled)"
        click.echo(f"{u['email']:<40} {u['role']:<8} {u['client'] or '':<12}{state}")
    click.echo(f"{len(found)} user(s)")


@users.command("reset")
@click.argument("email")
@json_option
@refusals
def users_reset(email: str, as_json: bool):
    """Give EMAIL's user a new one-time password (printed once), end its sessions and lift
    any lock-out of its failed sign-ins."""
    with database().transaction() as session:
        user, password = reset_password(session, email)
        throttle().forget(session, ACCOUNT, user.email)
        record(session, raised_by(), "user reset", user.email)
        email = user.email
    if as_json:
        emit({"email": email, "password": password})
        return
    click.echo(f"user {email}: signed out everywhere; new one-time password: {password}")


@users.command("role")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--client", help="The client council a client user belongs to.")
@refusals
def users_role(email: str, role: str, client: str | None):
    """Give EMAIL's user another role, and end its sessions."""
    with database().transaction() as session:
        user = change_role(session, email, role, client)
        record(session, raised_by(), "user role", user.email, role=role, client=client)
        email = user.email
    click.echo(f"user {email} is now {role}; signed out everywhere")


@users.command("disable")
@click.argument("email")
@refusals
def users_disable(email: str):
    """Stop EMAIL's user signing in or using its API tokens, and end its sessions."""
    _set_active(email, False)


@users.command("enable")
@click.argument("email")
@refusals
def users_enable(email: str):
    """Let EMAIL's user sign in and use its API tokens again."""
    _set_active(email, True)


def _set_active(email: str, active: bool) -> None:
    action = "enable" if active else "disable"
    with database().transaction() as session:
        user = set_active(session, email, active)
        record(session, raised_by(), f"user {action}", user.email)
        email = user.email
    click.echo(f"user {email} {action}d; signed out everywhere")


@main.group()
def tokens():
    """API tokens (bearer tokens for programs)."""


@tokens.command("create")
@click.argument("email")
@json_option
@refusals
def tokens_create(email: str, as_json: bool):
    """Create an API token for EMAIL's user; it is printed once and stored hashed."""
    with database().transaction() as session:
        token_id, token = create_token(session, email)
        record(session, raised_by(), "token create", email, token=token_id)
    if as_json:
        emit({"token": token, "id": token_id})
        return
    click.echo(f"token {token_id} for {email} (shown once, keep it safe): {token}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@refusals
def tokens_revoke(token_id: int):
    """Revoke token TOKEN_ID: programs using it are refused from now on."""
    with database().transaction() as session:
        revoke_token(session, token_id)
        record(session, raised_by(), "token revoke", f"token {token_id}")
    click.echo(f"token {token_id} revoked")


# -- scheduler -----------------------------------------------------------------------


@main.command()
@click.option(
    "--once", is_flag=True, help="Run whatever is due now, then exit (for cron or tests)."
)
@click.option(
    "--every",
    default=15,
    show_default=True,
    type=click.IntRange(1, 1440),
    help="Minutes between checks for due jobs.",
)
@json_option
@refusals
def scheduler(once: bool, every: int, as_json: bool):
    """Run the scheduled jobs (monthly close, quarterly assessment) in the foreground."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    instance = Path(current_app.instance_path)
    if not once:
        click.echo(f"scheduler started: checking for due jobs every {every} minutes (Ctrl+C stops)")
        run_forever(database(), instance, every)
        return
    runs = [
        {
            "job": r.job,
            "period": r.period,
            "status": r.status,
            "attempts": r.attempts,
            "outcome": r.outcome,
        }
        for r in tick(database(), instance)
    ]
    if as_json:
        emit(runs)
        return
    for r in runs:
        click.echo(f"{r['job']} {r['period']}: {r['status']} ({r['outcome']})")
    click.echo(f"{len(runs)} run(s)")


@main.group()
def audit():
    """The audit log: who changed what, and when."""


@audit.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@refusals
def audit_list(limit: int, as_json: bool):
    """The newest audit entries first."""
    with database().transaction() as session:
        entries = recent(session, limit)
    if as_json:
        emit(entries)
        return
    for e in entries:
        click.echo(f"{e['at'][:19]}  {e['actor']:<28} {e['action']:<15} {e['subject']}")
