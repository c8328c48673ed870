"""What every command group shares: the period argument types, who is acting, the
`--json` option and document, and turning a refusal into `error:` lines and exit 1."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import NoReturn, ParamSpec, TypeVar

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from importers.setup_export import centre_codes
from importers.templates import Codes
from opsplatform.entrypoints.extensions import database
from opsplatform.errors import CLIENT_NEEDED, TARIFF_FROZEN, TARIFFS_UNSET, Problem, Refused
from opsplatform.periods import FinancialYear, Month, PeriodError, Quarter

Period = TypeVar("Period", Month, Quarter, FinancialYear)
Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")


class PeriodType(click.ParamType[Period, str | Period]):
    """A month, quarter or financial year argument, parsed by its value class."""

    def __init__(self, kind: type[Period]) -> None:
        self.kind: type[Period] = kind
        self.name = kind.__name__.upper()

    def convert(
        self, value: str | Period, param: click.Parameter | None, ctx: click.Context | None
    ) -> Period:
        if not isinstance(value, str):
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


def codes_if_any() -> Codes | None:
    """The centre's codes for a template's drop-down lists, if its database answers; None
    where it has no tables yet (a fresh install writes blank templates all the same)."""
    try:
        with database().reading() as session:
            return centre_codes(session)
    except (OperationalError, ProgrammingError):
        return None


def emit(document: object) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def refusals(command: Callable[Arguments, Result]) -> Callable[Arguments, Result]:
    """Turn a refusal into messages on stderr (and a JSON document with --json) and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Arguments.args, **kwargs: Arguments.kwargs) -> Result:
        try:
            return command(*args, **kwargs)
        except Refused as refused:
            _refuse(refused, bool(kwargs.get("as_json", False)))
        except (OperationalError, ProgrammingError) as error:
            if "no such table" in str(error) or "does not exist" in str(error):
                _refuse(
                    Refused(
                        "the database is not at the newest schema: run `opsplatform db upgrade` first"
                    ),
                    bool(kwargs.get("as_json", False)),
                )
            raise

    return wrapper


def _refuse(refused: Refused, as_json: bool) -> NoReturn:
    if as_json:
        emit(
            {
                "errors": [worded(p).as_dict() for p in refused.problems],
                "error_count": refused.total,
            }
        )
    print_problems(refused)
    sys.exit(1)


# What the command line adds to a problem it answers with an option of its own.
HINTS = {
    TARIFF_FROZEN: "load with --rerate to change them and bill the difference as "
    "prior-period lines",
    CLIENT_NEEDED: "name it with --client CODE",
    TARIFFS_UNSET: "or give --inflation PERCENT to price it at the latest earlier year's "
    "tariffs raised by that percent (0 for the same prices)",
}


def worded(problem: Problem) -> Problem:
    """The problem as the command line says it: with its hint, if it has one."""
    hint = HINTS.get(problem.code or "")
    return replace(problem, message=f"{problem.message}; {hint}") if hint else problem


def print_problems(refused: Refused) -> None:
    """One `error:` line per problem listed (at most KEPT), and one for any not listed."""
    for problem in refused.problems:
        click.echo(f"error: {worded(problem)}", err=True)
    if refused.unlisted():
        click.echo(f"error: {refused.unlisted()}", err=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
)
