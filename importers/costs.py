"""The centre's cost ledger: actual and budgeted costs by cost centre, subjective and
month, from a CSV or XLSX extract of the host council's ledger, all or nothing.

A file's lines replace every stored line of each (kind, month) it holds, so a month
extracted again (with late journals) is counted once: what the file says of that month is
the month. Every cost centre must be on the CostCentres sheet (where its costs go), so no
cost is left out of a service's outturn unseen. Months of a year whose outturn is approved
are refused: that year's cost is settled. An import records its own audit entry in the
session's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import Spilled, check_header, missing, read_rows
from opsplatform.audit import record
from opsplatform.errors import Problem, Problems, Refused
from opsplatform.models import CostCentreShare, CostLine
from opsplatform.money import ZERO
from opsplatform.periods import FinancialYear, Month, PeriodError
from opsplatform.vocabulary import CostKind

COLUMNS = ["cost_centre", "subjective", "month", "kind", "amount"]
CHUNK = 5000  # lines inserted a statement at a time
_LONGEST = {"cost_centre": 40, "subjective": 40}
SOURCE_LONGEST = 255


@dataclass
class CostReport:
    filename: str
    dry_run: bool
    rows: int = 0
    replaced: int = 0  # stored lines the file's months replace
    months: dict[str, list[str]] = field(default_factory=dict)  # kind -> months it holds
    totals: dict[str, Decimal] = field(default_factory=dict)  # kind -> sum of amounts
    errors: Problems = field(default_factory=Problems)

    def as_dict(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "replaced": self.replaced,
            "months": self.months,
            "totals": {kind: str(total) for kind, total in self.totals.items()},
            "errors": [p.as_dict() for p in self.errors],
            "error_count": self.errors.total,
        }


def import_costs(
    session: Session,
    path: Path,
    *,
    actor: str,
    is_settled: Callable[[Session, FinancialYear], bool],
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CostReport:
    """Load a cost ledger file into the session's transaction for `actor`; raise Refused
    naming every bad row. `is_settled(session, year)` says whether a year's outturn is
    approved (billing's, which importers may not import); `progress`, if given, is told
    the rows read every CHUNK rows. The caller commits (or, for a dry run, rolls back; a
    dry run records nothing)."""
    if not path.is_file():
        raise Refused(f"{path}: no such file")
    report = CostReport(path.name, dry_run)
    centres = set(session.scalars(select(CostCentreShare.cost_centre)))
    lines: list[dict[str, Any]] = []
    source = path.name[: SOURCE_LONGEST - 16]
    with read_rows(path) as (header, rows):
        problems = check_header(header, set(COLUMNS), set(COLUMNS), path.name)
        if problems:
            raise Refused(problems)
        for number, raw in rows:
            report.rows += 1
            if raw.__class__ is Spilled:
                report.errors.append(raw.problem(path.name, number))
            line = _validate(number, raw, path.name, centres, report.errors)
            if line is not None:
                line["source"] = f"{source} row {number}"
                lines.append(line)
            if progress is not None and report.rows % CHUNK == 0:
                progress(report.rows)
    if report.rows == 0:
        raise Refused(f"{path.name}: the file holds no cost lines")
    held = sorted({(line["kind"], line["month"]) for line in lines})
    years = sorted({FinancialYear.of(Month.parse(m).first_day) for k, m in held if k == "actual"})
    for year in years:
        if is_settled(session, year):
            report.errors.append(
                Problem(
                    f"the outturn of {year} is approved, so its actual costs are settled: "
                    "correct them in the next year's ledger",
                    path.name,
                    None,
                    "month",
                )
            )
    if report.errors:
        raise Refused(report.errors)
    for kind, month in held:
        report.months.setdefault(kind, []).append(month)
    for line in lines:
        report.totals[line["kind"]] = report.totals.get(line["kind"], ZERO) + line["amount"]
    replaced = delete(CostLine).where(tuple_(CostLine.kind, CostLine.month).in_(held))
    report.replaced = session.execute(replaced).rowcount  # type: ignore[attr-defined]
    for start in range(0, len(lines), CHUNK):
        session.execute(insert(CostLine), lines[start : start + CHUNK])
    if not dry_run:
        record(
            session,
            actor,
            "costs import",
            path.name,
            rows=report.rows,
            replaced=report.replaced,
            **{kind: str(total) for kind, total in report.totals.items()},
        )
    return report


def _validate(
    number: int,
    raw: dict[str, object],
    source: str,
    centres: set[str],
    problems: Problems,
) -> dict[str, Any] | None:
    """A row as CostLine's values, or None (its problems added to `problems`)."""
    bad = problems.total

    def problem(column: str, message: str) -> None:
        problems.append(Problem(message, source, number, column))

    if missing(raw, COLUMNS, problem):
        return None
    values: dict[str, Any] = {}
    for column, longest in _LONGEST.items():
        values[column] = text = cell.text(raw[column])
        unstorable = cell.unstorable(column, text, longest)
        if unstorable:
            problem(column, unstorable)
    if values["cost_centre"] not in centres and problems.total == bad:
        problem(
            "cost_centre",
            f"cost centre '{values['cost_centre']}' is not on the CostCentres sheet: say "
            "which service its costs go to",
        )
    try:
        month = raw["month"]
        values["month"] = str(
            Month.of(month) if isinstance(month, date) else Month.parse(cell.text(month))
        )
    except PeriodError as error:
        problem("month", str(error))
    kind = cell.text(raw["kind"]).lower()
    if kind not in set(CostKind):
        problem("kind", f"'{cell.text(raw['kind'])}' is not one of {', '.join(CostKind)}")
    values["kind"] = kind
    try:
        values["amount"] = cell.money(raw["amount"])
    except ValueError as error:
        problem("amount", str(error))
    return values if problems.total == bad else None
