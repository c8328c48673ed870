"""Submitted KPI figures: monthly numerators and denominators per client, all or nothing.

A figure for a (KPI, client, month) already stored is replaced, so a corrected
return can be loaded again; months of a finalised quarter are refused. An import records
its own audit entry in the session's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import Spilled, check_header, missing, read_rows
from opsplatform.audit import record
from opsplatform.errors import Problem, Problems, Refused
from opsplatform.models import Client, Kpi, KpiFigure
from opsplatform.periods import Month, PeriodError
from opsplatform.vocabulary import FIGURE_METHODS

COLUMNS = ["kpi", "client", "month", "numerator", "denominator"]


@dataclass
class FigureReport:
    filename: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    replaced: int = 0
    errors: Problems = field(default_factory=Problems)  # the first KEPT, and how many

    def as_dict(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "replaced": self.replaced,
            "errors": [p.as_dict() for p in self.errors],
            "error_count": self.errors.total,
        }


def import_figures(
    session: Session,
    path: Path,
    *,
    actor: str,
    is_final: Callable[[Session, Month], bool],
    dry_run: bool = False,
) -> FigureReport:
    """Load a figures file into the session's transaction for `actor` (the audit log names
    them); raise Refused on any problem. `is_final(session, month)` says whether a month's
    quarter is frozen (sla's, which importers may not import). The caller commits (or,
    for a dry run, rolls back; a dry run records nothing)."""
    if not path.is_file():
        raise Refused(f"{path}: no such file")
    with read_rows(path) as (header, rows):
        problems = check_header(header, set(COLUMNS), set(COLUMNS), path.name)
        if problems:
            raise Refused(problems)
        kpis = {k.code: k for k in session.scalars(select(Kpi))}
        clients = dict(session.execute(select(Client.code, Client.id)).all())
        report = FigureReport(path.name, dry_run)
        seen: dict[tuple[int, int, str], int] = {}
        for number, raw in rows:
            report.rows += 1
            if raw.__class__ is Spilled:
                report.errors.append(raw.problem(path.name, number))
            values = _validate(number, raw, path.name, kpis, clients, report.errors)
            if values is None:
                continue
            key = (values["kpi_id"], values["client_id"], values["month"])
            if key in seen:
                report.errors.append(Problem(f"repeats row {seen[key]}", path.name, number))
                continue
            seen[key] = number
            if is_final(session, Month.parse(values["month"])):
                report.errors.append(
                    Problem(
                        f"the quarter of {values['month']} is final", path.name, number, "month"
                    )
                )
                continue
            existing = session.scalars(
                select(KpiFigure).filter_by(kpi_id=key[0], client_id=key[1], month=key[2])
            ).one_or_none()
            if existing is None:
                session.add(KpiFigure(**values))
                report.created += 1
            else:
                existing.numerator, existing.denominator = (
                    values["numerator"],
                    values["denominator"],
                )
                report.replaced += 1
    if report.errors:
        raise Refused(report.errors)
    if report.rows == 0:
        raise Refused(f"{path.name}: the file holds no figures")
    session.flush()
    if not dry_run:
        record(
            session,
            actor,
            "kpi import",
            path.name,
            created=report.created,
            replaced=report.replaced,
        )
    return report


def _validate(
    number: int,
    raw: dict[str, object],
    source: str,
    kpis: dict[str, Kpi],
    clients: dict[str, int],
    problems: Problems,
) -> dict[str, Any] | None:
    """A row's figure as KpiFigure's values, or None (its problems added to `problems`)."""
    bad = problems.total

    def problem(column: str, message: str) -> None:
        problems.append(Problem(message, source, number, column))

    if missing(raw, COLUMNS, problem):
        return None
    kpi = kpis.get(cell.text(raw["kpi"]).upper())
    if kpi is None:
        problem("kpi", f"unknown KPI '{cell.text(raw['kpi'])}'")
    elif kpi.method not in FIGURE_METHODS:
        problem("kpi", f"{kpi.code} is measured from usage ({kpi.method}), not submitted")
    client_id = clients.get(cell.text(raw["client"]).upper())
    if client_id is None:
        problem("client", f"unknown client '{cell.text(raw['client'])}'")
    month = None
    try:
        month = (
            Month.of(raw["month"])
            if isinstance(raw["month"], date)
            else Month.parse(cell.text(raw["month"]))
        )
    except PeriodError as error:
        problem("month", str(error))
    values = {}
    for column in ("numerator", "denominator"):
        try:
            values[column] = cell.decimal(raw[column])
            if values[column] < 0:
                problem(column, f"{column} must not be negative")
        except ValueError as error:
            problem(column, str(error))
    if (
        problems.total == bad
        and kpi is not None  # so when no problem is found
        and kpi.unit == "percent"
        and values["numerator"] > values["denominator"]
    ):
        problem("numerator", "a percentage's numerator cannot be more than its denominator")
    if problems.total == bad and values["denominator"] == 0 and values["numerator"] != 0:
        problem("denominator", "the denominator is 0 but the numerator is not")
    if problems.total > bad or kpi is None:
        return None
    return {"kpi_id": kpi.id, "client_id": client_id, "month": str(month), **values}
