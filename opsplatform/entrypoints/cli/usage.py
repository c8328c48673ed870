"""`opsplatform usage`: the usage ledger's imports and reverts."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from importers.templates import write_error_report, write_usage_template
from importers.usage import UsageRefused, import_file, revert_batch
from opsplatform.entrypoints.cli.common import (
    codes_if_any,
    emit,
    json_option,
    print_problems,
    raised_by,
    refusals,
)
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import Refused


@click.group("usage", cls=AppGroup)
def usage_commands() -> None:
    """The usage ledger: imports and reverts."""


@usage_commands.command("template")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def usage_template(out: Path) -> None:
    """Write the blank usage workbook, with notes and an example row; its client and
    service columns offer the centre's codes when the database holds them."""
    write_usage_template(out, codes_if_any())
    click.echo(f"wrote {out}")


@usage_commands.command("import")
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
def usage_import(file: Path, dry_run: bool, errors_out: Path | None, as_json: bool) -> None:
    """Import usage from a CSV or XLSX file, all or nothing."""
    try:
        with database().transaction(dry_run=dry_run) as session:
            report = import_file(session, file, raised_by(), dry_run=dry_run)
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
        print_problems(refused)
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


@usage_commands.command("revert")
@click.argument("batch", type=int)
@json_option
@refusals
def usage_revert(batch: int, as_json: bool) -> None:
    """Reverse an import batch: its usage leaves the ledger (issued months are re-rated at the next close)."""
    with database().transaction() as session:
        result = revert_batch(session, batch, raised_by())
    if as_json:
        emit(result)
        return
    click.echo(f"batch {batch} ({result['filename']}) reverted: {result['removed']} events removed")
