"""Checking a workbook's XML as it streams, before any reader builds a row of it.

The shared strings and every sheet to be read are scanned a chunk at a time, holding
about a chunk: the rows (no more than the limit; no row over ROW_BYTES), where each cell
stands (no value beyond the last column allowed, no cell outside its own row), text
over Excel's 32,767 characters, and shared text referred to so often that a reader
would multiply it. The parts come inflated by importers.xlsx_package; importers.xlsx
runs the checks and then reads the rows.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from importers.xlsx_package import MB, NOT_A_WORKBOOK, Package
from opsplatform.errors import Refused

EXCEL_ROWS = 1_048_576  # the most rows Excel allows in a sheet
EXCEL_CELL = 32_767  # the most characters Excel allows in a cell
STRINGS_BYTES = 64 * MB  # shared strings: two unique texts in each of a million rows
STRINGS = 2 * EXCEL_ROWS
SHEET_BYTES = 1024 * MB  # a sheet: Excel writes 1,048,576 rows of eight columns in 360 MB
ROW_BYTES = 16 * MB  # one row's XML (or what follows the last row)
RUN_BYTES = MB  # text between two tags: 32,767 characters take at most 131,068 bytes
CLONES = 2  # shared text a chunk may make a reader copy, per byte of the chunk
CLONE_SLACK = MB  # and a little more, so that short chunks may refer to long texts


@dataclass(frozen=True)
class Limits:
    """What a kind of workbook may hold: rows (row numbers up to `rows`) and values in
    columns A to the `columns`th (at most Z)."""

    rows: int
    columns: int

    @property
    def last_column(self) -> str:
        return chr(64 + self.columns)


_STRINGS_ROOT = re.compile(rb"<([\w.-]+:)?sst\b")
_PREFIXED_STRING = re.compile(rb"<[\w.-]+:si[\s/>]")
ROW_NUMBER = re.compile(rb' r="(\d+)"')
_CELL_REFERENCE = re.compile(rb'r="([A-Z]+\d+)"')
_SHARED = re.compile(rb't="s"[^>]*>\s*<(?:[\w.-]+:)?v>(\d+)<')
_TAG = re.compile(rb"<[^>]*>")
_ENTITY = re.compile(rb"&[#\w]{1,32};")
_TOKEN = re.compile(rb"<(/?)(?:[\w.-]+:)?(row|c|v|is)(?=[\s/>])([^>]*)>")
_REFERENCE = re.compile(rb'(?:^|\s)r="([A-Z]*)(\d+)"')
PROBE = 16_384  # a run of text twice this long has a probe of it with no '<'


def _too_long(what: str) -> Refused:
    return Refused(
        f"{what} has a text of more than {EXCEL_CELL:,} characters, more than Excel allows "
        "in a cell"
    )


def _characters(text: bytes) -> int:
    """Characters in XML text (each entity or character reference is one)."""
    return len(_ENTITY.sub(b"&", text).decode("utf-8", "replace"))


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _letters(column: int) -> str:
    name = ""
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


def _outside(low: int, high: int) -> bytes:
    """A pattern (matching nothing) for where a row number cannot be one from `low` to
    `high`: exactly when they differ in length, else when it has not their length and
    common leading digits (a range at most about ten times theirs, cheaper to test)."""
    first, last = str(low), str(high)
    if len(first) == len(last):
        same = next(
            (i for i, (a, b) in enumerate(zip(first, last, strict=True)) if a != b), len(last)
        )
        return rb'(?!%s\d{%d}")' % (first[:same].encode(), len(first) - same)
    return rb'(?=(?:%s|%s)")' % (_below(low), _above(high))


def _above(number: int) -> bytes:
    """A pattern for a decimal greater than `number`."""
    digits = str(number)
    size = len(digits)
    parts = [rf"[1-9]\d{{{size},}}"]
    for i, digit in enumerate(digits):
        if digit != "9":
            parts.append(rf"{digits[:i]}[{int(digit) + 1}-9]\d{{{size - i - 1}}}")
    return "|".join(parts).encode()


def _below(number: int) -> bytes:
    """A pattern for a decimal less than `number`, or written with a leading zero."""
    digits = str(number)
    size = len(digits)
    parts = [r"0\d*"]
    if size > 1:
        parts.append(rf"[1-9]\d{{0,{size - 2}}}")
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            parts.append(rf"{digits[:i]}[{low}-{int(digit) - 1}]\d{{{size - i - 1}}}")
    return "|".join(parts).encode()


class _Chunks:
    """A part's XML in pieces that each end just before a '<', so that no tag or text is
    cut (the text of the last, still open run is held back, up to RUN_BYTES)."""

    def __init__(self, book: Package, part: str, limit: int, what: str) -> None:
        self.book, self.part, self.limit, self.what = book, part, limit, what

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        """(buffer, end): the piece is buffer[:end]; buffer[end:] comes again next time."""
        carry = b""
        for chunk in self.book.inflate(self.part, self.limit):
            buffer = carry + chunk
            end = buffer.rfind(b"<")
            if end <= 0:
                end = 0
            carry = buffer[end:]
            if len(carry) > RUN_BYTES:
                raise _too_long(self.what)
            if end:
                yield buffer, end
        if carry:
            yield carry, len(carry)


class Strings:
    """The shared strings, checked: how many, and each one's length in bytes (what a
    reader copies, at most, into each cell referring to it), none over Excel's limit."""

    def __init__(self, book: Package) -> None:
        self.what = f"{book.name}: the shared strings part"
        self.lengths = array("L")
        self.content: list[bytes] = []
        opened, rest, end_tag = 0, b"", None
        for buffer, end in _Chunks(book, "xl/sharedStrings.xml", STRINGS_BYTES, self.what):
            piece = buffer[:end]
            self.content.append(piece)
            if end_tag is None:
                root = _STRINGS_ROOT.search(piece)
                end_tag = b"</%ssi>" % ((root.group(1) or b"") if root else b"")
            opened += piece.count(b"<si")  # nothing else in them starts so
            if b":si" in piece:
                opened += len(_PREFIXED_STRING.findall(piece))
            texts = (rest + piece).split(end_tag)
            rest = texts.pop()
            if max(map(len, texts), default=0) > EXCEL_CELL:
                for text in texts:
                    self._check(text)
            self.lengths.extend(map(len, texts))
            if len(rest) > RUN_BYTES:
                self._check(rest)
            if len(self.lengths) > STRINGS:
                raise Refused(f"{self.what} has more than {STRINGS:,} texts")
        if opened != len(self.lengths):
            raise Refused(f"{book.name}: {NOT_A_WORKBOOK} (its shared strings are malformed)")
        self.longest = max(self.lengths, default=0)

    def _check(self, text: bytes) -> None:
        if len(text) > EXCEL_CELL and _characters(_TAG.sub(b"", text)) > EXCEL_CELL:
            raise _too_long(self.what)

    def copied(self, indices: list[bytes]) -> int:
        """The bytes a reader copies for cells referring to these texts."""
        lengths, count, longest = self.lengths, len(self.lengths), self.longest
        return sum(lengths[i] if i < count else longest for i in map(int, indices))


class Scan:
    """Checks one sheet as it streams (see the module's note)."""

    def __init__(
        self, book: Package, limits: Limits, sheet: str, part: str, strings: Strings | None
    ) -> None:
        self.book, self.part, self.strings = book, part, strings
        self.what = f"{book.name}: sheet {sheet}"
        self.limits = limits
        self.rows = 0
        self.since_row = 0
        self.low = 1  # the lowest row a cell in the next piece may stand in
        self.exact = False  # a row or cell not saying where it stands: walk them all instead
        beyond = limits.columns
        self.wide = rb"[A-Z]{2,}" if beyond >= 26 else rb"[%c-Z]|[A-Z]{2,}" % (65 + beyond)

    def run(self) -> None:
        for buffer, end in _Chunks(self.book, self.part, SHEET_BYTES, self.what):
            self._piece(buffer, end)
        if self.exact:
            self._walk()

    def _too_many(self, found: str) -> Refused:
        limit = self.limits.rows
        excel = ", as in Excel" if limit == EXCEL_ROWS else ""
        return Refused(f"{self.what} has {found}; at most {limit:,} rows are allowed{excel}")

    def _piece(self, buffer: bytes, end: int) -> None:
        rows = buffer.count(b"<row", 0, end)
        self.rows += rows
        if self.rows > self.limits.rows:
            raise self._too_many(f"more than {self.limits.rows:,} rows")
        last = max(buffer.rfind(b"<row", 0, end), buffer.rfind(b":row", 0, end))
        self.since_row = self.since_row + end if last < 0 else end - last
        if self.since_row > ROW_BYTES:
            raise Refused(f"{self.what} has a row of more than {ROW_BYTES // MB} MB")
        self._runs(buffer, end)
        if self.strings is not None and self.strings.longest:
            self._copies(self.strings, buffer, end)
        if not self.exact and (
            # a row not saying where it stands, or a cell named with a prefix
            b":c>" in buffer
            or buffer.count(b'<row r="', 0, end) + buffer.count(b"<rowBreaks", 0, end) < rows
        ):
            self.exact = True
        if not self.exact:
            self._places(buffer, end)

    def _runs(self, buffer: bytes, end: int) -> None:
        """No text (what stands between two tags) over Excel's limit for a cell."""
        at = 0
        while at < end:
            if buffer.find(b"<", at, min(at + PROBE, end)) >= 0:
                at += PROBE
                continue
            start = max(buffer.rfind(b"<", 0, at), 0)
            stop = buffer.find(b"<", at, end + 1)
            stop = end if stop < 0 else stop
            text = buffer[buffer.find(b">", start, stop) + 1 : stop]
            if stop - start > RUN_BYTES or _characters(text) > EXCEL_CELL:
                raise _too_long(self.what)
            at = stop

    def _copies(self, strings: Strings, buffer: bytes, end: int) -> None:
        """No shared text referred to so often that a reader would multiply it."""
        allowed = CLONES * end + CLONE_SLACK
        references = buffer.count(b't="s"', 0, end)
        if references * strings.longest <= allowed:
            return
        if strings.copied(_SHARED.findall(buffer, 0, end)) > allowed:
            raise Refused(
                f"{self.what} refers to long shared text so often that reading it would "
                f"take more than {CLONES} times the sheet's own size"
            )

    def _places(self, buffer: bytes, end: int) -> None:
        """Every cell in a row from the last numbered before this piece to the last in it,
        and no value beyond the last column allowed; a cell not saying where it stands
        leaves all that to `_walk`. (Every row here says where it stands.)"""
        last = buffer.rfind(b'<row r="', 0, end)
        high = self.low
        if last >= 0:
            number = ROW_NUMBER.match(buffer, last + 4)
            if number is None:  # a row saying where it stands in other than digits
                self.exact = True
                return
            high = max(int(number.group(1)), high)
        if high > self.limits.rows:
            raise self._too_many(f"a row numbered {high:,}")
        cells = re.compile(
            rb'<c(?:(?=[\s/>])(?! r=")| r="(?:(%s)\d|[A-Z]{1,3}+%s))'
            % (self.wide, _outside(self.low, high))
        )
        for found in cells.finditer(buffer, 0, end):
            if len(found.group()) == 2:
                self.exact = True
                return
            reference = _CELL_REFERENCE.match(buffer, found.start() + 3)
            where = reference.group(1).decode() if reference else found.group().decode()
            if found.group(1) is None:
                raise Refused(f"{self.what} places cell {where} outside its row")
            tag_end = buffer.find(b">", found.end())
            if buffer[tag_end - 1 : tag_end] != b"/":
                close = buffer.find(b"</c>", tag_end)
                content = buffer[tag_end:close] if close >= 0 else buffer[tag_end:]
                if b"<v" in content or b"<is" in content:
                    self._beyond(where)
        self.low = high

    def _beyond(self, reference: str) -> None:
        last = self.limits.last_column
        raise Refused(
            f"{self.what} has a value in {reference}, beyond column {last}: "
            f"use columns A to {last} only"
        )

    def _walk(self) -> None:
        """Every row and cell element in turn, placed as python-calamine places them: a
        row or cell not saying where it stands follows the one before."""
        row = column = 0  # python-calamine's row and column, from 0
        cell, valued = None, False
        for buffer, end in _Chunks(self.book, self.part, SHEET_BYTES, self.what):
            for closing, name, attributes in _TOKEN.findall(buffer, 0, end):
                number = _REFERENCE.search(attributes)
                if name == b"row":
                    if not closing and number:
                        row = int(number.group(2)) - 1
                    if not closing and row >= self.limits.rows:
                        raise self._too_many(f"a row numbered {row + 1:,}")
                    if closing or attributes.endswith(b"/"):
                        row, column = row + 1, 0
                elif name == b"c" and not closing:
                    if number:
                        where = (number.group(1) + number.group(2)).decode()
                        if not number.group(1) or int(number.group(2)) - 1 != row:
                            raise Refused(f"{self.what} places cell {where} outside its row")
                        column = _column(number.group(1)) - 1
                    cell, valued = column, False
                    column += 1
                    if attributes.endswith(b"/"):
                        cell = None
                elif name == b"c":
                    if cell is not None and valued and cell >= self.limits.columns:
                        self._beyond(f"{_letters(cell + 1)}{row + 1}")
                    cell = None
                elif not closing:
                    valued = True
