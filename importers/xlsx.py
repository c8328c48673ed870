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
"""

from __future__ import annotations

import posixpath
import re
import struct
import tempfile
import zipfile
import zlib
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from xml.parsers import expat

from python_calamine import CalamineError, CalamineWorkbook

from opsplatform.errors import Refused

EXCEL_ROWS = 1_048_576  # the most rows Excel allows in a sheet
EXCEL_CELL = 32_767  # the most characters Excel allows in a cell
MB = 1 << 20
CHUNK = MB  # inflated at a time, and scanned
DIRECTORY_BYTES = MB  # the zip's directory: about 10,000 parts
PART_BYTES = 16 * MB  # the workbook, its relationships and its styles
STRINGS_BYTES = 64 * MB  # shared strings: two unique texts in each of a million rows
STRINGS = 2 * EXCEL_ROWS
SHEET_BYTES = 1024 * MB  # a sheet: Excel writes 1,048,576 rows of eight columns in 360 MB
RATIO = 100  # inflated / compressed: sheets measure 8-15, bombs about 1,000
ROW_BYTES = 16 * MB  # one row's XML (or what follows the last row)
RUN_BYTES = MB  # text between two tags: 32,767 characters take at most 131,068 bytes
CLONES = 2  # shared text a chunk may make a reader copy, per byte of the chunk
CLONE_SLACK = MB  # and a little more, so that short chunks may refer to long texts
WINDOW_BYTES = 32 * MB  # rows handed to python-calamine at a time
WINDOW_ROWS = 131_072

NOT_A_WORKBOOK = "cannot open it as an .xlsx workbook"


@dataclass(frozen=True)
class Limits:
    """What a kind of workbook may hold: rows (row numbers up to `rows`) and values in
    columns A to the `columns`th (at most Z)."""

    rows: int
    columns: int

    @property
    def last_column(self) -> str:
        return chr(64 + self.columns)


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


class Workbook:
    """A workbook whose parts have been checked: the names of its sheets, and the rows of
    those that were checked (`sheets`), read a window at a time."""

    def __init__(self, path: Path, limits: Limits, every_sheet: bool, scan: bool = True) -> None:
        self.path, self.name, self.limits = path, path.name, limits
        self.infos = _directory(path, self.name)
        # the parts python-calamine reads beside a sheet, in pieces
        self.parts: dict[str, list[bytes]] = {}
        package = self._relationships("_rels/.rels", "")
        book = package.get("officeDocument", [None])[0] or "xl/workbook.xml"
        folder = posixpath.dirname(book)
        rels = posixpath.join(folder, "_rels", posixpath.basename(book) + ".rels")
        targets = {
            rel["Id"]: _resolve(folder, rel["Target"])
            for rel in self._elements(rels, "Relationship")
            if "Id" in rel and "Target" in rel and rel.get("TargetMode") != "External"
        }
        order = [
            (sheet.get("name", ""), targets.get(sheet.get("id", "")))
            for sheet in self._elements(book, "sheet")
        ]
        self.sheet_names = [name for name, _ in order]
        if len(set(self.sheet_names)) != len(order):
            raise Refused(f"{self.name}: {NOT_A_WORKBOOK} (it names a sheet twice)")
        chosen = order if every_sheet else order[:1]
        self.sheets = {name: part for name, part in chosen if part in self.infos}
        if "xl/styles.xml" in self.infos:  # where python-calamine looks for them
            self._small("xl/styles.xml")
        if not scan:
            return
        strings = None
        if "xl/sharedStrings.xml" in self.infos:
            strings = _Strings(self)
            self.parts["xl/sharedStrings.xml"] = strings.content
        for name, part in self.sheets.items():
            _Scan(self, name, part, strings).run()

    # -- the zip's parts -------------------------------------------------------------------

    def inflate(self, part: str, limit: int) -> Iterator[bytes]:
        """The part's bytes a chunk at a time as they really inflate: refused past `limit`
        or past RATIO times its compressed size, whatever the zip declares."""
        info = self.infos[part]
        if info.flag_bits & 1:
            raise Refused(f"{self.name}: {part} is encrypted; save the workbook without a password")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(f"{self.name}: {part} is compressed in a way Excel does not use")
        ceiling = min(limit, max(RATIO * info.compress_size, CHUNK))
        if info.file_size > ceiling:
            raise self._too_large(part, limit, info.file_size)
        with open(self.path, "rb") as handle:
            handle.seek(info.header_offset)
            header = handle.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise Refused(f"{self.name}: {NOT_A_WORKBOOK} ({part} is damaged)")
            handle.seek(info.header_offset + 30 + sum(struct.unpack_from("<HH", header, 26)))
            inflater = zlib.decompressobj(-15) if info.compress_type else None
            left, out = info.compress_size, 0
            while left > 0:
                block = handle.read(min(left, CHUNK // 4))
                if not block:
                    raise Refused(f"{self.name}: {NOT_A_WORKBOOK} ({part} is cut short)")
                left -= len(block)
                while block:
                    if inflater is None:
                        piece, block = block, b""
                    else:
                        try:
                            piece = inflater.decompress(block, CHUNK)
                        except zlib.error:
                            raise Refused(
                                f"{self.name}: {NOT_A_WORKBOOK} ({part} is damaged)"
                            ) from None
                        block = inflater.unconsumed_tail
                    out += len(piece)
                    if out > ceiling:
                        raise self._too_large(part, limit, out)
                    if piece:
                        yield piece

    def _too_large(self, part: str, limit: int, size: int) -> Refused:
        if size > limit:
            return Refused(f"{self.name}: {part} is larger than {limit // MB:,} MB")
        return Refused(
            f"{self.name}: {part} expands more than {RATIO} times its size in the file; "
            "no workbook compresses that well"
        )

    def _small(self, part: str) -> bytes:
        """A small part, whole; kept for the windows python-calamine reads."""
        data = b"".join(self.inflate(part, PART_BYTES))
        if b"<!DOCTYPE" in data:
            raise Refused(f"{self.name}: {part} declares a DTD, which workbooks never do")
        self.parts[part] = [data]
        return data

    def _elements(self, part: str, tag: str) -> list[dict[str, str]]:
        """The attributes (by local name) of each element of a small part named `tag`."""
        if part not in self.infos:
            raise Refused(f"{self.name}: {NOT_A_WORKBOOK} (it has no {part})")
        found: list[dict[str, str]] = []

        def start(name: str, attributes: dict[str, str]) -> None:
            if name.rpartition(" ")[2] == tag:
                found.append({k.rpartition(" ")[2]: v for k, v in attributes.items()})

        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = start
        try:
            parser.Parse(self._small(part), True)
        except expat.ExpatError as error:
            raise Refused(f"{self.name}: {NOT_A_WORKBOOK} ({part}: {error})") from None
        return found

    def _relationships(self, part: str, folder: str) -> dict[str, list[str]]:
        """The targets of a relationships part by the last word of their type."""
        found: dict[str, list[str]] = {}
        for rel in self._elements(part, "Relationship"):
            if "Target" in rel and rel.get("TargetMode") != "External":
                kind = rel.get("Type", "").rpartition("/")[2]
                found.setdefault(kind, []).append(_resolve(folder, rel["Target"]))
        return found

    # -- rows ------------------------------------------------------------------------------

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
            pad = [None] * left
            values = found.iter_rows()
            deque(islice(values, top), maxlen=0)  # its rows start at row 1, empty or not
            for number, row in enumerate(values, start=top + 1):
                yield number, pad + _plain(row) if pad else _plain(row)

    def _windows(self, sheet: str, part: str) -> Iterator[list[bytes]]:
        """A sheet's XML in windows of whole rows: each the sheet's head, the window's
        rows and the sheet's end, in pieces (cleared by the reader once written)."""
        pending = bytearray()
        head = tail = prefix = None
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
    first = _ROW_NUMBER.match(pending, start + len(tag))
    final = _ROW_NUMBER.match(pending, last + len(tag))
    if first and final and int(final.group(1)) - int(first.group(1)) >= WINDOW_ROWS:
        beyond = int(first.group(1)) + WINDOW_ROWS
        numbered = re.compile(re.escape(tag) + _ROW_NUMBER.pattern)
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


def _plain(row: list[object]) -> list[object]:
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
    numbered = _ROW_NUMBER.match(window, at + len(prefix) + 4) if at >= 0 else None
    if numbered:
        return int(numbered.group(1))
    return before + window.count(b"<%srow" % prefix)


def _directory(path: Path, name: str) -> dict[str, zipfile.ZipInfo]:
    """The zip's parts by name, read only once its directory is known to be small."""
    not_zip = Refused(f"{name}: {NOT_A_WORKBOOK} (it is not a zip file)")
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(size - 22 - 0xFFFF, 0))
            tail = handle.read()
    except OSError as error:
        raise Refused(f"{name}: {NOT_A_WORKBOOK} ({error.strerror})") from None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise not_zip
    entries, directory = struct.unpack_from("<HI", tail, at + 10)
    if entries == 0xFFFF or directory > DIRECTORY_BYTES:
        raise Refused(f"{name}: it has more parts than any workbook ({entries:,} listed)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise not_zip from None
    parts = {info.filename: info for info in infos}
    if len(parts) != len(infos):
        raise Refused(f"{name}: {NOT_A_WORKBOOK} (it names a part twice)")
    return parts


def _resolve(folder: str, target: str) -> str:
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(folder, target))


# -- scanning ------------------------------------------------------------------------------

_STRINGS_ROOT = re.compile(rb"<([\w.-]+:)?sst\b")
_PREFIXED_STRING = re.compile(rb"<[\w.-]+:si[\s/>]")
_SHEET_DATA = re.compile(rb"<(?:([\w.-]+:))?sheetData\b[^>]*?(/?)>")
_SHEET_DATA_END = re.compile(rb"</(?:[\w.-]+:)?sheetData\s*>")
_ROOT = re.compile(rb"<(?:([\w.-]+:))?worksheet\b")
_ROW_NUMBER = re.compile(rb' r="(\d+)"')
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

    def __init__(self, book: Workbook, part: str, limit: int, what: str) -> None:
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


class _Strings:
    """The shared strings, checked: how many, and each one's length in bytes (what a
    reader copies, at most, into each cell referring to it), none over Excel's limit."""

    def __init__(self, book: Workbook) -> None:
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


class _Scan:
    """Checks one sheet as it streams (see the module's note)."""

    def __init__(self, book: Workbook, sheet: str, part: str, strings: _Strings | None) -> None:
        self.book, self.part, self.strings = book, part, strings
        self.what = f"{book.name}: sheet {sheet}"
        self.limits = book.limits
        self.rows = 0
        self.since_row = 0
        self.low = 1  # the lowest row a cell in the next piece may stand in
        self.exact = False  # a row or cell not saying where it stands: walk them all instead
        beyond = book.limits.columns
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
            self._copies(buffer, end)
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

    def _copies(self, buffer: bytes, end: int) -> None:
        """No shared text referred to so often that a reader would multiply it."""
        allowed = CLONES * end + CLONE_SLACK
        references = buffer.count(b't="s"', 0, end)
        if references * self.strings.longest <= allowed:
            return
        if self.strings.copied(_SHARED.findall(buffer, 0, end)) > allowed:
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
            high = max(int(_ROW_NUMBER.match(buffer, last + 4).group(1)), high)
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
