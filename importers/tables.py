"""Reading CSV and XLSX files as rows of named cells, and parsing the cells people type.

Headers are matched case-insensitively with surrounding spaces ignored (inner spaces
count as underscores). Rows stream: nothing reads a whole file into memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from opsplatform.errors import Problem, Refused

CODE = re.compile(r"^[A-Z0-9-]{2,12}$")


def normalise_header(name: object) -> str:
    return re.sub(r"\s+", "_", str(name if name is not None else "").strip().lower())


def blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, object]]]]:
    """The normalised header and an iterator of (spreadsheet row number, row) for a file.

    Row numbers count the header as row 1, as the spreadsheet shows them. Wholly
    blank rows are passed over.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise Refused(f"{path.name}: a usage file must be .csv or .xlsx")


def _all_blank(values: list[object]) -> bool:
    return all(blank(v) for v in values)


def _all_blank_text(values: list[str]) -> bool:
    """A CSV row's cells are all text: join them and look once, at C speed."""
    return not "".join(values).strip()


def _rows_from(
    raw: Iterator[list[object]], name: str, is_blank: Callable[[list], bool] = _all_blank
):
    try:
        header = [normalise_header(cell) for cell in next(raw)]
    except StopIteration:
        raise Refused(f"{name}: the file is empty; row 1 must hold the column headers") from None
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, dict[str, object]]]:
        for number, values in enumerate(raw, start=2):
            if is_blank(values):
                continue
            yield number, dict(zip(header, values, strict=False))

    return header, rows()


def _read_csv(path: Path):
    handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115  (closed by the generator)
    try:
        handle.read(1 << 16)
        handle.seek(0)
    except UnicodeDecodeError:
        handle.close()
        raise Refused(f"{path.name}: the file is not UTF-8 text; save it as CSV UTF-8") from None

    def raw() -> Iterator[list[object]]:
        with handle:
            try:
                yield from csv.reader(handle)
            except (UnicodeDecodeError, csv.Error) as error:
                raise Refused(f"{path.name}: cannot read the file as CSV UTF-8 ({error})") from None

    return _rows_from(raw(), path.name, _all_blank_text)


def _read_xlsx(path: Path):
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
        raw = sheet.iter_rows()
    except (CalamineError, OSError, ValueError) as error:
        raise Refused(f"{path.name}: cannot read the workbook ({error})") from None
    return _rows_from(map(_calamine_row, raw), path.name)


def _calamine_row(row: list[object]) -> list[object]:
    """Calamine gives '' for an empty cell and floats for whole numbers; undo both."""
    return [
        None
        if value.__class__ is str and not value
        else int(value)
        if value.__class__ is float and value.is_integer()
        else value
        for value in row
    ]


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


def estimate_rows(path: Path) -> int | None:
    """About how many rows under the header a usage file holds, for showing progress.

    A CSV's line count (a quoted value may span lines) or a workbook's first sheet's
    height (blank rows count); None when the file cannot tell.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        lines = sum(block.count(b"\n") for block in file_blocks(path))
        return max(lines - 1, 0)
    try:
        from python_calamine import CalamineWorkbook

        return max(CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).height - 1, 0)
    except Exception:  # an unreadable workbook is reported by the check itself
        return None
