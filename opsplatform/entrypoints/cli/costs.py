"""`opsplatform costs`: the centre's cost ledger and each service's cost."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from billing.outturn import lines_behind, outturn_is_settled, service_costs, units_used
from importers.costs import import_costs
from opsplatform.entrypoints.cli.common import YEAR, emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from opsplatform.periods import FinancialYear
from opsplatform.vocabulary import CostKind


@click.group("costs", cls=AppGroup)
def costs_commands() -> None:
    """The centre's cost ledger: actual and budgeted costs, and each service's cost."""


@costs_commands.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@json_option
@refusals
def costs_import(file: Path, dry_run: bool, as_json: bool) -> None:
    """Import a ledger extract (cost_centre, subjective, month, kind, amount); its lines
    replace the stored lines of each kind and month it holds."""
    with database().transaction(dry_run=dry_run) as session:
        report = import_costs(
            session, file, actor=raised_by(), is_settled=outturn_is_settled, dry_run=dry_run
        )
    if as_json:
        emit(report.as_dict())
        return
    verb = "would import" if dry_run else "imported"
    held = "; ".join(
        f"{kind} {', '.join(months)} ({report.totals[kind]:,.2f})"
        for kind, months in report.months.items()
    )
    click.echo(f"{verb} {report.rows} cost lines: {held}; {report.replaced} earlier lines replaced")


@costs_commands.command("report")
@click.argument("year", type=YEAR)
@json_option
@refusals
def costs_report(year: FinancialYear, as_json: bool) -> None:
    """Each service's budget and actual cost for a financial year, and its cost per unit."""
    with database().reading() as session:
        actual = service_costs(session, year.months())
        budget = service_costs(session, year.months(), CostKind.BUDGET)
        units = units_used(session, year)
    rows = []
    for code, cost in actual.items():
        used = units.get(code)
        per_unit = f"{cost.amount / used:.2f}" if used else None
        rows.append(
            {
                "service": code,
                "name": cost.name,
                "funding": cost.funding,
                "budget": f"{budget[code].amount:.2f}",
                "actual": f"{cost.amount:.2f}",
                "units": None if used is None else f"{used.normalize():f}",
                "unit": cost.unit,
                "cost_per_unit": per_unit,
                "costs": [s.sentence for s in cost.sources],
            }
        )
    if as_json:
        emit({"financial_year": str(year), "services": rows})
        return
    for row in rows:
        per = f", {row['cost_per_unit']} per {row['unit']}" if row["cost_per_unit"] else ""
        click.echo(
            f"{row['service']:<12} budget {row['budget']:>14} actual {row['actual']:>14}{per}"
        )


@costs_commands.command("lines")
@click.argument("year", type=YEAR)
@click.option("--service", required=True, help="The service whose cost the lines make up.")
@click.option("--budget", is_flag=True, help="The budget's lines, not the actual costs'.")
@json_option
@refusals
def costs_lines(year: FinancialYear, service: str, budget: bool, as_json: bool) -> None:
    """The cost lines behind a service's cost for a financial year, each with the file and
    row it came from and the service's share of its cost centre."""
    kind = CostKind.BUDGET if budget else CostKind.ACTUAL
    with database().reading() as session:
        traced = lines_behind(session, service, year.months(), kind)
        rows = [
            {
                "month": t.line.month,
                "cost_centre": t.line.cost_centre,
                "subjective": t.line.subjective,
                "amount": f"{t.line.amount:.2f}",
                "share": f"{t.share.normalize():f}",
                "of": f"{t.shares.normalize():f}",
                "source": t.line.source,
            }
            for t in traced
        ]
    if as_json:
        emit(rows)
        return
    for r in rows:
        part = "all" if r["share"] == r["of"] else f"{r['share']} of {r['of']}"
        click.echo(
            f"{r['month']} {r['cost_centre']:<12} {r['subjective']:<10} {r['amount']:>14}  "
            f"{part:<16} {r['source']}"
        )
