"""Reading .xlsx workbooks without trusting them.

An .xlsx file is a zip of XML parts, and neither the zip nor the XML has to tell the
truth: a 1 MB file can declare small parts that inflate to gigabytes, hold one cell of a
billion characters, claim millions of rows in a few kilobytes, or have a reader copy one
long shared text into a million cells. python-calamine, the fastest reader, builds a
whole sheet in memory, so before any row of a workbook is read `open_workbook`:

1. reads the zip's directory only if it is small, and refuses repeated part names,
   encrypted parts and any compression but stored and deflate;
2. inflates each part it will read a chunk at a time, counting the bytes that really
   come out (never the sizes the zip declares), and refuses a part past its limit or
   expanding more than RATIO times its size in the file;
3. scans the shared strings and every sheet to be read as they stream, holding about a
   chunk: the rows (no more than the limit; no row over ROW_BYTES), where each cell
   stands (no value beyond the last column allowed, no cell outside its own row), text
   over Excel's 32,767 characters, and shared text referred to so often that a reader
   would multiply it.

Only then are rows read, a window at a time: each run of at most WINDOW_BYTES or
WINDOW_ROWS rows goes to python-calamine as a small workbook of its own (the sheet's own
head and the window's rows, beside the original styles and shared strings), so that no
reader ever holds a whole sheet, and memory stays within a few hundred MB whatever the
file.

The zip's parts are read by importers.xlsx_package, the XML checked by
importers.xlsx_scan; this module opens a workbook through both and reads its rows.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook

from importers.xlsx_package import MB, NOT_A_WORKBOOK, Package
from importers.xlsx_scan import (
    EXCEL_ROWS,
    ROW_BYTES,
    ROW_NUMBER,
    SHEET_BYTES,
    Limits,
    Scan,
    Strings,
)
from opsplatform.errors import Refused

# what the readers of workbooks (importers.tables, importers.setup) use
__all__ = ["EXCEL_ROWS", "Limits", "Workbook", "count_rows", "open_workbook"]

WINDOW_BYTES = 32 * MB  # rows handed to python-calamine at a time
WINDOW_ROWS = 131_072

_SHEET_DATA = re.compile(rb"<(?:([\w.-]+:))?sheetData\b[^>]*?(/?)>")
_SHEET_DATA_END = re.compile(rb"</(?:[\w.-]+:)?sheetData\s*>")
_ROOT = re.compile(rb"<(?:([\w.-]+:))?worksheet\b")


def open_workbook(path: Path, limits: Limits, every_sheet: bool) -> Workbook:
    """The workbook at `path`, checked (see the module's note) before anything is read:
    its first sheet, or with `every_sheet` all of them. Raises Refused, naming the file
    and what is wrong, for anything that is not a workbook or is over its limits."""
    return Workbook(path, limits, every_sheet)


def count_rows(path: Path, every_sheet: bool) -> int | None:
    """About how many rows the first sheet (or every sheet) holds, headers included, for
    showing progress: row elements counted in the parts as they inflate, within the same
    limits; None when the file cannot tell."""
    try:
        book = Workbook(path, Limits(EXCEL_ROWS, 26), every_sheet, scan=False)
        return sum(
            sum(chunk.count(b"<row") for chunk in book.inflate(part, SHEET_BYTES))
            for part in book.sheets.values()
        )
    except Refused:
        return None


class Workbook(Package):
    """A workbook whose parts have been checked: the names of its sheets, and the rows of
    those that were checked (`sheets`), read a window at a time."""

    def __init__(self, path: Path, limits: Limits, every_sheet: bool, scan: bool = True) -> None:
        super().__init__(path)
        self.limits = limits
        order = self.sheet_parts()
        self.sheet_names = [name for name, _ in order]
        if len(set(self.sheet_names)) != len(order):
            raise Refused(f"{self.name}: {NOT_A_WORKBOOK} (it names a sheet twice)")
        chosen = order if every_sheet else order[:1]
        self.sheets = {name: part for name, part in chosen if part in self.infos}
        if "xl/styles.xml" in self.infos:  # where python-calamine looks for them
            self.small("xl/styles.xml")
        if not scan:
            return
        strings = None
        if "xl/sharedStrings.xml" in self.infos:
            strings = Strings(self)
            self.parts["xl/sharedStrings.xml"] = strings.content
        for name, part in self.sheets.items():
            Scan(self, limits, name, part, strings).run()

    def rows(self, sheet: str) -> Iterator[tuple[int, list[object]]]:
        """(row number, values from column A) of each row of a checked sheet that holds a
        value, read a window at a time. An empty cell is None; whole numbers are ints."""
        part = self.sheets[sheet]
        for window in self._windows(sheet, part):
            # a workbook of the window's rows; on disk, so that nothing holds it twice
            with tempfile.NamedTemporaryFile(prefix="opsplatform-", suffix=".xlsx") as package:
                with zipfile.ZipFile(package, "w") as archive:
                    for name, pieces in [*self.parts.items(), (part, window)]:
                        with archive.open(name, "w") as out:
                            for piece in pieces:
                                out.write(piece)
                window.clear()
                package.flush()
                try:
                    found = CalamineWorkbook.from_path(package.name).get_sheet_by_name(sheet)
                except (CalamineError, OSError, ValueError) as error:
                    raise Refused(f"{self.name}: {NOT_A_WORKBOOK} ({error})") from None
            if found.start is None:
                continue
            top, left = found.start
            pad: list[object] = [None] * left
            values = found.iter_rows()
            deque(islice(values, top), maxlen=0)  # its rows start at row 1, empty or not
            for number, row in enumerate(values, start=top + 1):
                yield number, pad + _plain(row) if pad else _plain(row)

    def _windows(self, sheet: str, part: str) -> Iterator[list[bytes]]:
        """A sheet's XML in windows of whole rows: each the sheet's head, the window's
        rows and the sheet's end, in pieces (cleared by the reader once written)."""
        pending = bytearray()
        head: bytes | None = None
        tail = prefix = b""  # known with the head
        anchor = 0  # the number of the last row so far, for rows that do not say theirs
        rows = 0
        for chunk in self.inflate(part, SHEET_BYTES):
            start = max(len(pending) - 64, 0)
            pending += chunk
            if head is None:
                found = _SHEET_DATA.search(pending)
                if found is None:
                    continue
                if found.group(2):  # <sheetData/>: no rows
                    return
                prefix = found.group(1) or b""
                root = _ROOT.search(pending, 0, found.start())
                head = bytes(pending[: found.end()])
                tail = b"</%ssheetData></%sworksheet>" % (
                    prefix,
                    (root.group(1) if root else None) or b"",
                )
                del pending[: found.end()]
                start = 0
            end = _sheet_data_end(pending, start)
            if end >= 0:
                del pending[end:]
                break
            rows += chunk.count(b"<row")
            cut = _cut(pending, prefix, rows)
            if not cut and len(pending) > WINDOW_BYTES + ROW_BYTES:  # rows named otherwise
                raise Refused(f"{self.name}: sheet {sheet} has rows the reader cannot tell apart")
            if cut > 0:
                window = [head, _anchor(prefix, anchor), bytes(pending[:cut]), tail]
                del pending[:cut]
                rows = pending.count(b"<row")
                following = _last_row(window[2], prefix, anchor)
                yield window
                anchor = following
        if head is not None:
            yield [head, _anchor(prefix, anchor), bytes(pending), tail]


def _cut(pending: bytearray, prefix: bytes, rows: int) -> int:
    """Where the window in `pending` ends, or 0 while it may grow: before the first row
    numbered WINDOW_ROWS or more after the window's first (so that rows far apart are
    never read together), or before the last row once it holds WINDOW_BYTES or
    WINDOW_ROWS rows."""
    tag = b"<%srow" % prefix
    start, last = pending.find(tag), pending.rfind(tag)
    if last <= start:
        return 0
    first = ROW_NUMBER.match(pending, start + len(tag))
    final = ROW_NUMBER.match(pending, last + len(tag))
    if first and final and int(final.group(1)) - int(first.group(1)) >= WINDOW_ROWS:
        beyond = int(first.group(1)) + WINDOW_ROWS
        numbered = re.compile(re.escape(tag) + ROW_NUMBER.pattern)
        for found in numbered.finditer(pending, start + 1, last + 1):
            if int(found.group(1)) >= beyond:
                return found.start()
    return last if len(pending) >= WINDOW_BYTES or rows >= WINDOW_ROWS else 0


def _sheet_data_end(xml: bytearray, start: int) -> int:
    """Where the sheet's rows end (its </sheetData>) from `start` on, or -1."""
    at = xml.find(b"sheetData", start)
    while at >= 0:
        tag = xml.rfind(b"<", 0, at)
        if _SHEET_DATA_END.match(xml, tag):
            return tag
        at = xml.find(b"sheetData", at + 9)
    return -1


def _anchor(prefix: bytes, row: int) -> bytes:
    """An empty row numbered `row`, so that rows after it without a number follow it."""
    return b'<%srow r="%d"></%srow>' % (prefix, row, prefix) if row else b""


def _plain(row: Iterable[object]) -> list[object]:
    """Calamine gives '' for an empty cell and floats for whole numbers; undo both."""
    return [
        None
        if value.__class__ is str and not value
        else int(value)
        if value.__class__ is float and value.is_integer()
        else value
        for value in row
    ]


def _last_row(window: bytes, prefix: bytes, before: int) -> int:
    """The number of the last row of a window: its own, or counted on from `before`."""
    at = window.rfind(b"<%srow" % prefix)
    numbered = ROW_NUMBER.match(window, at + len(prefix) + 4) if at >= 0 else None
    if numbered:
        return int(numbered.group(1))
    return before + window.count(b"<%srow" % prefix)
