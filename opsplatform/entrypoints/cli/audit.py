"""`opsplatform audit`: the audit log."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from opsplatform.audit import recent
from opsplatform.entrypoints.cli.common import emit, json_option, refusals
from opsplatform.entrypoints.extensions import database


@click.group("audit", cls=AppGroup)
def audit_commands() -> None:
    """The audit log: who changed what, and when."""


@audit_commands.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@refusals
def audit_list(limit: int, as_json: bool) -> None:
    """The newest audit entries first."""
    with database().transaction() as session:
        entries = recent(session, limit)
    if as_json:
        emit(entries)
        return
    for e in entries:
        click.echo(f"{e['at'][:19]}  {e['actor']:<28} {e['action']:<15} {e['subject']}")
