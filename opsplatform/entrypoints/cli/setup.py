"""`opsplatform setup`: the setup workbook of reference data."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from billing.effects import effect_of
from billing.issue import ISSUED
from importers.setup import check_setup, load_setup
from importers.setup_export import centre_codes, setup_rows
from importers.setup_loader import LoadReport
from importers.templates import write_setup_template
from opsplatform.entrypoints.cli.common import (
    codes_if_any,
    emit,
    json_option,
    raised_by,
    refusals,
)
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.formats import money_text


@click.group("setup", cls=AppGroup)
def setup_commands() -> None:
    """Reference data: clients, services, subscriptions, tariffs, KPIs."""


@setup_commands.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def setup_template(out: Path) -> None:
    """Write the blank setup workbook, with headers, notes and an example of each sheet;
    its drop-down lists offer the centre's codes when the database holds them."""
    write_setup_template(out, codes=codes_if_any())
    click.echo(f"wrote {out}")


@setup_commands.command("export")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@refusals
def setup_export(out: Path) -> None:
    """Write the centre's current reference data as a setup workbook, to edit and load
    again: every sheet, with the template's headers and notes."""
    with database().reading() as session:
        write_setup_template(out, setup_rows(session), centre_codes(session))
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
    if dry_run:
        _print_changes(report)
    for e in effects.changes:
        click.echo(
            f"{e.client} {e.service} {effects.year}: {money_text(e.before)} -> "
            f"{money_text(e.after)} ({money_text(e.change, signed=True)})"
        )
    if effects.unknown:
        click.echo(f"the effect on {effects.year} charges is not known: {effects.unknown}")


def _print_changes(report: LoadReport) -> None:
    """Each new or changed row the report lists, a line each: its sheet, row and key, and
    each changed column's old and new value (a new row's values); then how many more
    there are per sheet."""
    for sheet, found in report.changes_document().items():
        for change in found["rows"]:
            key = ", ".join(f"{k} {v}" for k, v in change["key"].items())
            new = change["outcome"] == "created"
            columns = "; ".join(
                f"{name} {pair['new']}"
                if new
                else f"{name}: {_cell(pair['old'])} -> {_cell(pair['new'])}"
                for name, pair in change["columns"].items()
            )
            word = {"created": "new", "updated": "changed", "removed": "removed"}[change["outcome"]]
            where = "" if change["row"] is None else f" row {change['row']}"
            click.echo(f"{word} {sheet}{where} ({key})" + (f": {columns}" if columns else ""))
        if found["unlisted"]:
            click.echo(f"... and {found['unlisted']:,} more new or changed rows in {sheet}")


def _cell(value: str | None) -> str:
    """A value of a change as the command line says it: a blank cell as (blank)."""
    return "(blank)" if value is None else value
