"""`opsplatform sla`: quarterly KPI results, commentary, unit costs and the publication."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from opsplatform.entrypoints.cli.common import QUARTER, emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import today
from opsplatform.periods import Quarter
from sla.commentary import set_commentary
from sla.pack import board_pack, pack_summary, write_pack
from sla.publication import write_publication
from sla.service import assess_quarter, finalise_quarter, unit_costs


@click.group("sla", cls=AppGroup)
def sla_commands() -> None:
    """Quarterly KPI results, service credits and the performance publication."""


@sla_commands.command("assess")
@click.argument("quarter", type=QUARTER)
@click.option("--final", is_flag=True, help="Freeze the results and raise service credits (once).")
@json_option
@refusals
def sla_assess(quarter: Quarter, final: bool, as_json: bool) -> None:
    """Compute KPI results for QUARTER, for the whole centre and each client."""
    with database().transaction() as session:
        found = (
            finalise_quarter(session, quarter, raised_by())
            if final
            else assess_quarter(session, quarter)
        )
        results = [r.as_dict() for r in found]
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


@sla_commands.command("publish")
@click.argument("quarter", type=QUARTER)
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@refusals
def sla_publish(quarter: Quarter, out: Path) -> None:
    """Write the quarterly performance publication workbook."""
    with database().transaction() as session:
        write_publication(session, quarter, out)
    click.echo(f"wrote {out}")


@sla_commands.command("comment")
@click.argument("quarter", type=QUARTER)
@click.argument("kpi_code")
@click.argument("text")
@refusals
def sla_comment(quarter: Quarter, kpi_code: str, text: str) -> None:
    """Record the commentary on a KPI for QUARTER, printed in the publication."""
    with database().transaction() as session:
        set_commentary(session, quarter, kpi_code, text, raised_by())
    click.echo(f"commentary saved for {kpi_code.upper()} in {quarter}")


@sla_commands.command("costs")
@click.argument("quarter", type=QUARTER)
@json_option
@refusals
def sla_costs(quarter: Quarter, as_json: bool) -> None:
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


@sla_commands.command("pack")
@click.argument("quarter", type=QUARTER)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the workbook here.",
)
@refusals
def sla_pack(quarter: Quarter, out: Path) -> None:
    """The joint committee's pack for QUARTER: budget against forecast outturn, partners'
    charges against their budget letters, KPIs with commentary, savings and open queries."""
    with database().reading() as session:
        pack = board_pack(session, quarter, today())
        write_pack(session, pack, out)
    click.echo(f"wrote {out}: {pack_summary(pack)}")
