"""Running the platform: the database schema, the demo centre, the web server and the
scheduler."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo, pass_script_info, with_appcontext
from werkzeug.serving import run_simple

from opsplatform.entrypoints.cli.common import emit, json_option, refusals
from opsplatform.entrypoints.demo import DemoNotEmpty, load_demo
from opsplatform.entrypoints.extensions import database
from opsplatform.entrypoints.jobs import run_forever, tick
from opsplatform.errors import Refused


@click.group("db", cls=AppGroup)
def db_commands() -> None:
    """Database schema."""


@db_commands.command("upgrade")
@refusals
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    # Alembic takes a fifth of a second to import: only this command pays for it
    import migrations

    migrations.upgrade(database().url)
    click.echo("database is at the newest schema")


@click.command("demo")
@click.option(
    "--if-empty", is_flag=True, help="Do nothing (and succeed) if the database holds data."
)
@with_appcontext
@refusals
def demo_command(if_empty: bool) -> None:
    """Load a realistic demo centre into an empty database."""
    try:
        summary = load_demo(database())
    except DemoNotEmpty as not_empty:
        if if_empty:
            click.echo("the database already holds data; the demo was not loaded")
            return
        raise Refused(str(not_empty)) from None
    click.echo(summary)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
@pass_script_info
def serve_command(info: ScriptInfo, host: str, port: int) -> None:
    """Run the web app and API (for production use `gunicorn wsgi:app`)."""
    run_simple(host, port, info.load_app(), threaded=True)


@click.command("scheduler")
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
@with_appcontext
@refusals
def scheduler_command(once: bool, every: int, as_json: bool) -> None:
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
