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
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.orm import Session

from importers import tables as cell
from importers.tables import Spilled, check_header, missing, read_rows
from importers.usage_rows import Memo
from opsplatform.audit import record
from opsplatform.errors import Problem, Problems, Refused
from opsplatform.models import CostCentreShare, CostLine
from opsplatform.money import ZERO
from opsplatform.periods import FinancialYear, Month, PeriodError
from opsplatform.vocabulary import CostKind

COLUMNS = ["cost_centre", "subjective", "month", "kind", "amount"]
WRITTEN = ("kind", "month", "cost_centre", "subjective", "amount", "source")  # the insert's order
COST_LINES = cast(Table, CostLine.__table__)  # a mapped class's Table, typed as any FromClause
KINDS = tuple(CostKind)
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


# a cell's parsed value and, if it cannot be used, why not
Checked = tuple[Any, str | None]


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
    dry run records nothing).

    A year's ledger is hundreds of thousands of lines over a few dozen cost centres,
    subjectives and months: each distinct cell of those is checked once (`Memo`), and the
    lines are written with the driver's executemany (docs/PERFORMANCE.md)."""
    if not path.is_file():
        raise Refused(f"{path}: no such file")
    report = CostReport(path.name, dry_run)
    rows_of = _RowChecker(set(session.scalars(select(CostCentreShare.cost_centre))), path.name)
    lines: list[tuple[Any, ...]] = []
    totals: dict[str, Decimal] = {}
    source = path.name[: SOURCE_LONGEST - 16]
    with read_rows(path) as (header, rows):
        problems = check_header(header, set(COLUMNS), set(COLUMNS), path.name)
        if problems:
            raise Refused(problems)
        for number, raw in rows:
            report.rows += 1
            if raw.__class__ is Spilled:
                report.errors.append(raw.problem(path.name, number))
            line = rows_of.check(number, raw, report.errors)
            if line is not None:
                totals[line[0]] = totals.get(line[0], ZERO) + line[4]
                lines.append((*line, f"{source} row {number}"))
            if progress is not None and report.rows % CHUNK == 0:
                progress(report.rows)
    if report.rows == 0:
        raise Refused(f"{path.name}: the file holds no cost lines")
    held = sorted({(line[0], line[1]) for line in lines})
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
    report.totals = totals
    replaced = delete(CostLine).where(tuple_(CostLine.kind, CostLine.month).in_(held))
    report.replaced = session.execute(replaced).rowcount  # type: ignore[attr-defined]
    _write(session, lines)
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


def _write(session: Session, lines: list[tuple[Any, ...]]) -> None:
    """Insert the lines (in WRITTEN's order, amounts in pounds) with the driver's
    executemany, CHUNK at a time, their amounts stored as the Money column stores them."""
    connection = session.connection()
    dialect = connection.dialect
    stored = COST_LINES.c.amount.type._cached_bind_processor(dialect)
    pence = cast(Callable[[Decimal], object], stored or (lambda v: v))
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {COST_LINES.name} ({', '.join(WRITTEN)}) "
        f"VALUES ({', '.join([marker] * len(WRITTEN))})"
    )
    for start in range(0, len(lines), CHUNK):
        chunk = [(*line[:4], pence(line[4]), line[5]) for line in lines[start : start + CHUNK]]
        connection.exec_driver_sql(sql, chunk)


class _RowChecker:
    """A file's rows checked into CostLine's values (kind, month, cost_centre, subjective,
    amount), each distinct cell of the first four checked once."""

    def __init__(self, centres: set[str], source: str) -> None:
        self.centres = centres
        self.source = source
        self.memos: dict[str, Memo[object, Checked]] = {
            "cost_centre": Memo(self._cost_centre),
            "subjective": Memo(self._subjective),
            "month": Memo(self._month),
            "kind": Memo(self._kind),
        }

    def check(
        self, number: int, raw: dict[str, object], problems: Problems
    ) -> tuple[Any, ...] | None:
        """The row's values, or None (its problems added to `problems`)."""
        bad = problems.total

        def problem(column: str, message: str) -> None:
            problems.append(Problem(message, self.source, number, column))

        if missing(raw, COLUMNS, problem):
            return None
        values = {}
        for column, memo in self.memos.items():
            cell_value = raw[column]
            try:
                values[column], why = memo[cell_value]
            except TypeError:  # a value no dict holds: checked afresh
                values[column], why = memo.work(cell_value)
            if why is not None:
                problem(column, why)
        try:
            amount = cell.money(raw["amount"])
        except ValueError as error:
            problem("amount", str(error))
        if problems.total > bad:
            return None
        return values["kind"], values["month"], values["cost_centre"], values["subjective"], amount

    def _cost_centre(self, value: object) -> Checked:
        text = cell.text(value)
        why = cell.unstorable("cost_centre", text, _LONGEST["cost_centre"])
        if why is None and text not in self.centres:
            why = (
                f"cost centre '{text}' is not on the CostCentres sheet: say which service "
                "its costs go to"
            )
        return text, why

    @staticmethod
    def _subjective(value: object) -> Checked:
        text = cell.text(value)
        return text, cell.unstorable("subjective", text, _LONGEST["subjective"])

    @staticmethod
    def _month(value: object) -> Checked:
        try:
            month = Month.of(value) if isinstance(value, date) else Month.parse(cell.text(value))
        except PeriodError as error:
            return None, str(error)
        return str(month), None

    @staticmethod
    def _kind(value: object) -> Checked:
        kind = cell.text(value).lower()
        if kind not in KINDS:
            return kind, f"'{cell.text(value)}' is not one of {', '.join(KINDS)}"
        return kind, None
