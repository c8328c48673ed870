"""`opsplatform kpi`: submitted KPI figures."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from importers.kpi import import_figures
from importers.templates import write_kpi_template
from opsplatform.entrypoints.cli.common import emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from sla.service import month_is_final


@click.group("kpi", cls=AppGroup)
def kpi_commands() -> None:
    """Submitted KPI figures."""


@kpi_commands.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def kpi_template(out: Path) -> None:
    """Write the blank workbook for submitted KPI figures."""
    write_kpi_template(out)
    click.echo(f"wrote {out}")


@kpi_commands.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@json_option
@refusals
def kpi_import(file: Path, dry_run: bool, as_json: bool) -> None:
    """Import submitted KPI figures (kpi, client, month, numerator, denominator)."""
    with database().transaction(dry_run=dry_run) as session:
        report = import_figures(
            session, file, actor=raised_by(), is_final=month_is_final, dry_run=dry_run
        )
    if as_json:
        emit(report.as_dict())
        return
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.rows} figures: {report.created} new, {report.replaced} replaced")
