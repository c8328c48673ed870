"""The setup workbook: reference data upserted by natural key, all or nothing.

Every sheet is optional. Each row is parsed cell by cell (importers.setup_sheets), then
checked against the rows already loaded, from this workbook or earlier ones
(importers.setup_loader); any problem anywhere rolls the whole workbook back and is
reported with sheet, row and column. The workbook is checked before it is read
(importers.xlsx), each sheet holds at most SETUP_ROWS rows, and rows are read as they
are loaded, so that no sheet is ever held whole.

The business actions here, loading a workbook and changing a KPI (a KPIs row checked
as the workbook's), record their own audit entry in the session's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from importers.setup_loader import Issued, LoadReport, load_sheets
from importers.setup_sheets import NOT_LOADED, SHEETS, SHEETS_BY_NAME, Sheet
from importers.tables import Spilled, check_header, named_rows
from importers.xlsx import Limits, open_workbook
from opsplatform.audit import record
from opsplatform.errors import Problem, Problems
from opsplatform.models import Kpi

SETUP_ROWS = 20_000  # rows under a sheet's header: ten years of a 50-council centre's
SETUP = Limits(rows=SETUP_ROWS + 1, columns=26)


def read_workbook(
    path: Path, problems: Problems
) -> dict[str, Iterator[tuple[int, dict[str, object]]]]:
    """Every known sheet's rows as (row number, raw cells), read as they are loaded; the
    problems of sheet names, headers and values beyond them go to `problems` (beside the
    rows' own, sheet by sheet)."""
    book = open_workbook(path, SETUP, every_sheet=True)
    sheets = {}
    for title in book.sheet_names:
        sheet = SHEETS_BY_NAME.get(title.strip().lower())
        if sheet is None:
            if title.strip().lower() not in NOT_LOADED:
                problems.append(
                    Problem(f"unknown sheet; expected {', '.join(s.name for s in SHEETS)}", title)
                )
        elif title in book.sheets:
            sheets[sheet.name] = _sheet_rows(book.rows(title), sheet, problems)
    return sheets


def _sheet_rows(
    raw: Iterator[tuple[int, list[object]]], sheet: Sheet, problems: Problems
) -> Iterator[tuple[int, dict[str, object]]]:
    header, rows = named_rows(raw, margin=True)
    required = {c.name for c in sheet.columns if c.required}
    problems += check_header(header or [], sheet.column_names(), required, sheet.name)
    for number, row in rows:
        if row.__class__ is Spilled:
            problems.append(row.problem(sheet.name, number))
        yield number, row


def load_setup(
    session: Session,
    path: Path,
    *,
    actor: str,
    issued: Issued,
    rerate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load a setup workbook into the session's transaction for `actor` (the audit log
    names them); raise Refused on any problem. The caller commits.

    `issued` tells what issued statements hold: a tariff that would change one may
    change only with `rerate` (see importers.setup_loader.load_sheets). `progress`, if
    given, is told the number of rows loaded every PROGRESS_ROWS rows.
    """
    report = _load(session, path, issued, False, rerate, progress)
    record(session, actor, "setup load", path.name, rerate=rerate, sheets=report.sheets)
    return report


def check_setup(
    session: Session,
    path: Path,
    *,
    issued: Issued,
    rerate: bool = False,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """A dry run of `load_setup`: the same checks and writes, reported as what the load
    would do, for the caller to roll back; nothing is recorded, as nothing stays."""
    return _load(session, path, issued, True, rerate, progress)


def _load(
    session: Session,
    path: Path,
    issued: Issued,
    dry_run: bool,
    rerate: bool,
    progress: Callable[[int], None] | None,
) -> LoadReport:
    problems = Problems()
    sheets = read_workbook(path, problems)
    return load_sheets(
        session,
        sheets,
        issued=issued,
        problems=problems,
        dry_run=dry_run,
        rerate=rerate,
        progress=progress,
    )


def kpi_values(kpi: Kpi, fields: Iterable[str]) -> dict[str, str]:
    """The KPI's `fields` as a form shows them: text as it is, numbers plainly (`95`, not
    `95.000000`), and nothing as ''."""
    values = {}
    for name in fields:
        value = getattr(kpi, name)
        values[name] = (
            value if isinstance(value, str) else "" if value is None else f"{value.normalize():f}"
        )
    return values


def change_kpi(
    session: Session,
    kpi: Kpi,
    form: dict[str, str],
    *,
    actor: str,
    issued: Issued,
) -> list[str] | None:
    """Change the fields of `kpi` that `form` gives (as typed), checked exactly as a row
    of the workbook's KPIs sheet; raise Refused on any problem. Return the fields whose
    values changed, or None if the KPI is unchanged; a change is recorded for `actor`
    with those fields' values before and after, as `kpi_values` shows them."""
    before = kpi_values(kpi, form)
    row: dict[str, object] = {
        "code": kpi.code,
        "service": kpi.service.code if kpi.service else None,
        "unit": kpi.unit,
        "direction": kpi.direction,
        "method": kpi.method,
        "calendar": kpi.calendar,
        **form,
    }
    report = load_sheets(session, {"KPIs": [(2, row)]}, issued=issued)
    if not report.sheets["KPIs"]["updated"]:
        return None
    after = kpi_values(kpi, form)
    changed = [name for name in form if before[name] != after[name]]
    record(
        session,
        actor,
        "kpi change",
        kpi.code,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    return changed
