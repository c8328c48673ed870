"""`opsplatform setup`: the setup workbook of reference data."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from billing.effects import effect_of
from billing.issue import ISSUED
from importers.setup import check_setup, load_setup
from importers.templates import write_setup_template
from opsplatform.entrypoints.cli.common import emit, json_option, raised_by, refusals
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import money_text


@click.group("setup", cls=AppGroup)
def setup_commands() -> None:
    """Reference data: clients, services, subscriptions, tariffs, KPIs."""


@setup_commands.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def setup_template(out: Path) -> None:
    """Write the blank setup workbook, with headers and notes."""
    write_setup_template(out)
    click.echo(f"wrote {out}")


@setup_commands.command("load")
@click.argument("book", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
@click.option(
    "--rerate", is_flag=True, help="Allow tariff changes in years with issued statements."
)
@json_option
@refusals
def setup_load(book: Path, dry_run: bool, rerate: bool, as_json: bool) -> None:
    """Load reference data from a setup workbook, all or nothing; say how it moves each
    client's charges for the year in hand (with --dry-run, before anything is written)."""
    with database().transaction(dry_run=dry_run) as session:
        if dry_run:
            report, effects = effect_of(
                session, lambda: check_setup(session, book, issued=ISSUED, rerate=rerate)
            )
        else:
            report, effects = effect_of(
                session,
                lambda: load_setup(session, book, actor=raised_by(), issued=ISSUED, rerate=rerate),
            )
    if as_json:
        emit({**report.as_dict(), "effects": effects.document()})
        return
    verb = "would load" if dry_run else "loaded"
    for sheet, counts in report.sheets.items():
        click.echo(
            f"{verb} {sheet}: {counts['created']} new, {counts['updated']} changed, "
            f"{counts['unchanged']} unchanged"
        )
    if not report.sheets:
        click.echo("the workbook holds no rows")
    for e in effects.changes:
        click.echo(
            f"{e.client} {e.service} {effects.year}: {money_text(e.before)} -> "
            f"{money_text(e.after)} ({money_text(e.change, signed=True)})"
        )
    if effects.unknown:
        click.echo(f"the effect on {effects.year} charges is not known: {effects.unknown}")
