"""The `opsplatform` command: a Flask CLI group over the service functions, one module per
command group.

Exit 0 = done; 1 = refused (every problem on stderr, nothing written); 2 = wrong usage.
With `--json`, exactly one JSON document goes to stdout, refusals included.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from opsplatform.entrypoints.app import create_app
from opsplatform.entrypoints.cli.audit import audit_commands
from opsplatform.entrypoints.cli.billing import billing_commands
from opsplatform.entrypoints.cli.costs import costs_commands
from opsplatform.entrypoints.cli.kpi import kpi_commands
from opsplatform.entrypoints.cli.queries import queries_commands
from opsplatform.entrypoints.cli.setup import setup_commands
from opsplatform.entrypoints.cli.sla import sla_commands
from opsplatform.entrypoints.cli.system import (
    db_commands,
    demo_command,
    scheduler_command,
    serve_command,
)
from opsplatform.entrypoints.cli.usage import usage_commands
from opsplatform.entrypoints.cli.users import tokens_commands, users_commands


def _app_for_command() -> Flask:
    """The app a command runs in; its database connections are closed when the command
    ends, for a process may run many commands (tests do), not only one."""
    app = create_app()
    engine = app.extensions["opsplatform.db"].engine
    click.get_current_context().call_on_close(engine.dispose)
    return app


main = FlaskGroup(
    name="opsplatform",
    help="Recharging, statements and performance for a council shared-service centre.",
    create_app=_app_for_command,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
# The app is always ours: drop FlaskGroup's --app, --env-file and --debug options.
main.params = [p for p in main.params if p.name not in ("app", "env_file", "debug")]

for group in (
    db_commands,
    demo_command,
    serve_command,
    setup_commands,
    usage_commands,
    billing_commands,
    costs_commands,
    kpi_commands,
    sla_commands,
    queries_commands,
    users_commands,
    tokens_commands,
    scheduler_command,
    audit_commands,
):
    main.add_command(group)
