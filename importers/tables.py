"""Reading CSV and XLSX files as rows of named cells, and parsing the cells people type.

Headers are matched case-insensitively with surrounding spaces ignored (inner spaces
count as underscores). Rows stream: nothing reads a whole file into memory, nor a whole
sheet of a workbook.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from importers.xlsx import EXCEL_ROWS, Limits, Workbook, count_rows, open_workbook
from opsplatform.db import storable
from opsplatform.errors import Problem, Refused

CODE = re.compile(r"^[A-Z0-9-]{2,12}$")


def normalise_header(name: object) -> str:
    return re.sub(r"\s+", "_", str(name if name is not None else "").strip().lower())


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# A usage or figures workbook: every row Excel allows, values in columns A to J (the
# usage file's ten columns; a figures file has five).
TABLE = Limits(rows=EXCEL_ROWS, columns=10)
LINE_CHARACTERS = 1 << 20  # a CSV line: a usage row takes a few hundred
BEYOND_HEADER = "a value stands in a column with no header"


class Spilled(dict[str, object]):
    """A row with a value in a column that has no header (left out of the row itself)."""

    def problem(self, source: str, number: int) -> Problem:
        return Problem(BEYOND_HEADER, source, number)


@contextmanager
def read_rows(path: Path) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, object]]]]]:
    """The normalised header and an iterator of (spreadsheet row number, row) for a file,
    open for the `with` block and closed when it ends, however it ends.

    Row numbers count the header as row 1, as the spreadsheet shows them. Wholly blank
    rows are passed over; a row with a value beyond the header's columns is a Spilled.
    A workbook is checked before it is read, and read a window at a time (importers.xlsx).
    """
    suffix = path.suffix.lower()
    raw: Generator[tuple[int, list[Any]]]
    is_blank: Callable[[list[Any]], bool]
    if suffix == ".csv":
        raw, is_blank, margin = _read_csv(path), _all_blank_text, False
    elif suffix in (".xlsx", ".xlsm"):
        book = open_workbook(path, TABLE, every_sheet=False)
        raw, is_blank, margin = _read_sheets(book), _all_blank, True
    else:
        raise Refused(f"{path.name}: a usage file must be .csv or .xlsx")
    try:
        header, rows = named_rows(raw, is_blank, margin)
        if header is None:
            raise Refused(f"{path.name}: the file is empty; row 1 must hold the column headers")
        yield header, rows
    finally:
        raw.close()  # the file, or the workbook's window, wherever reading stopped


def _read_sheets(book: Workbook) -> Generator[tuple[int, list[object]]]:
    for sheet in book.sheets:
        yield from book.rows(sheet)


def _all_blank(values: list[object]) -> bool:
    return all(blank(v) for v in values)


def _all_blank_text(values: list[str]) -> bool:
    """A CSV row's cells are all text: join them and look once, at C speed."""
    return not "".join(values).strip()


def named_rows(
    raw: Iterator[tuple[int, list[Any]]],  # a CSV's cells are text, a workbook's any value
    is_blank: Callable[[list[Any]], bool] = _all_blank,
    margin: bool = False,
) -> tuple[list[str] | None, Iterator[tuple[int, dict[str, object]]]]:
    """The normalised header (row 1; None when there are no rows at all) and each row
    after it that is not wholly blank, as (row number, cells by header). With `margin`,
    blank header cells before the first header are columns left empty on purpose, as a
    table may start in column B."""
    first = next(raw, None)
    if first is None:
        return None, iter(())
    number, values = first
    header = [normalise_header(cell) for cell in values] if number == 1 else []
    while header and not header[-1]:
        header.pop()
    lead = 0
    while margin and lead < len(header) and not header[lead]:
        lead += 1
    del header[:lead]
    width = lead + len(header)
    body = raw if number == 1 else chain([first], raw)

    def rows() -> Iterator[tuple[int, dict[str, object]]]:
        for number, values in body:
            if is_blank(values):
                continue
            row = dict(zip(header, values[lead:] if lead else values, strict=False))
            if (len(values) > width and not is_blank(values[width:])) or (
                lead and not is_blank(values[:lead])
            ):
                row = Spilled(row)
            yield number, row

    return header, rows()


def _read_csv(path: Path) -> Generator[tuple[int, list[str]]]:
    """(line's record number, cells) of a CSV file; a line longer than LINE_CHARACTERS is
    refused before the csv module builds its cells."""
    handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115  (closed by the generator)
    try:
        handle.read(1 << 16)
        handle.seek(0)
    except UnicodeDecodeError:
        handle.close()
        raise Refused(f"{path.name}: the file is not UTF-8 text; save it as CSV UTF-8") from None

    def lines() -> Iterator[str]:
        read = partial(handle.readline, LINE_CHARACTERS + 1)
        for number, line in enumerate(iter(read, ""), start=1):
            if len(line) > LINE_CHARACTERS:
                raise Refused(
                    f"{path.name}: line {number:,} is longer than {LINE_CHARACTERS:,} "
                    "characters; no usage row is"
                )
            yield line

    def raw() -> Generator[tuple[int, list[str]]]:
        with handle:
            try:
                yield from enumerate(csv.reader(lines()), start=1)
            except (UnicodeDecodeError, csv.Error) as error:
                raise Refused(f"{path.name}: cannot read the file as CSV UTF-8 ({error})") from None

    return raw()


def check_header(
    header: list[str], allowed: set[str], required: set[str], sheet: str
) -> list[Problem]:
    problems = []
    for index, name in enumerate(header, start=1):
        if not name:
            problems.append(Problem(f"column {index} has no header", sheet, 1))
        elif name not in allowed:
            problems.append(
                Problem(
                    f"unknown column '{name}'; expected {', '.join(sorted(allowed))}",
                    sheet,
                    1,
                    name,
                )
            )
    seen = set()
    for name in header:
        if name and name in seen:
            problems.append(Problem(f"column '{name}' appears twice", sheet, 1, name))
        seen.add(name)
    for name in sorted(required - set(header)):
        problems.append(Problem(f"required column '{name}' is missing", sheet, 1, name))
    return problems


def missing(
    raw: dict[str, object], columns: Iterable[str], report: Callable[[str, str], None]
) -> bool:
    """Report (column, message) for each of `columns` left blank in a row; whether any was."""
    blanks = [column for column in columns if blank(raw.get(column))]
    for column in blanks:
        report(column, f"{column} is required")
    return bool(blanks)


def unstorable(column: str, text: str, longest: int | None) -> str | None:
    """Why a text cannot be stored as it is, if it cannot: longer than its column in the
    database (which PostgreSQL refuses and SQLite does not), or not storable at all."""
    if longest is not None and len(text) > longest:
        return f"{column} is longer than {longest} characters"
    if not storable(text):
        return f"{column} holds a NUL character or a lone surrogate"
    return None


# Cell parsers: each returns the value or raises ValueError with a message for people.


def text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def code(value: object) -> str:
    result = text(value).upper()
    if not CODE.match(result):
        raise ValueError(f"'{text(value)}' is not a code: use 2 to 12 of A-Z, 0-9 and -")
    return result


def decimal(value: object, places: int = 6) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a number")
    if isinstance(value, float):
        value = repr(value)
    cleaned = text(value).replace(",", "").replace("£", "")
    try:
        result = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"'{text(value)}' is not a number") from None
    if not result.is_finite():
        raise ValueError(f"'{text(value)}' is not a number")
    if result and result.adjusted() >= 18 - places:  # what a 64-bit scaled integer holds
        raise ValueError(f"'{text(value)}' is too large")
    if result != result.quantize(Decimal(1).scaleb(-places), rounding="ROUND_DOWN"):
        raise ValueError(f"'{text(value)}' has more than {places} decimal places")
    return result


def whole(value: object) -> int:
    """A whole number, zero or more."""
    result = decimal(value)
    if result != result.to_integral_value() or result < 0:
        raise ValueError(f"'{text(value)}' is not a whole number of zero or more")
    return int(result)


def money(value: object) -> Decimal:
    return decimal(value, places=2)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
_DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M%z",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)


def day(value: object) -> date:
    """A date: an Excel date, `YYYY-MM-DD` or `DD/MM/YYYY`."""
    if isinstance(value, datetime):
        if value.time() != time(0):
            raise ValueError(f"'{value}' has a time; a date is wanted")
        return value.date()
    if isinstance(value, date):
        return value
    raw = text(value)
    try:
        return date.fromisoformat(raw)  # the common case, parsed in C
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{raw}' is not a date: write YYYY-MM-DD, e.g. 2026-05-01")


def moment(value: object) -> datetime | date:
    """A date or datetime: ISO 8601 (with or without an offset), or an Excel date or time."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value
    raw = text(value)
    if len(raw) == 10:
        return day(raw)
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        pass
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise ValueError(
        f"'{raw}' is not a date or datetime: write e.g. 2026-05-01 or 2026-05-01T09:30:00"
    )


def file_blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes in blocks, for hashing without loading it."""
    with open(path, "rb") as handle:
        yield from iter(lambda: handle.read(1 << 20), b"")


def estimate_rows(path: Path, every_sheet: bool = False) -> int | None:
    """About how many rows under the header a file holds, for showing progress.

    A CSV's line count (a quoted value may span lines) or the row elements of a
    workbook's first sheet (or, with `every_sheet`, of all its sheets; blank rows count);
    None when the file cannot tell.
    """
    if path.suffix.lower() == ".csv":
        lines = sum(block.count(b"\n") for block in file_blocks(path))
        return max(lines - 1, 0)
    rows = count_rows(path, every_sheet)
    return None if rows is None else max(rows - 1, 0)
