"""Workbooks written part by part, as no spreadsheet program would write them: to test
what the readers make of odd and hostile files (importers/xlsx.py).

A part is a list of (block, times): the block repeated `times` times. Each block is
deflated once and its output repeated (a full flush makes it stand alone), so that a part
of a gigabyte is written in a moment and takes about a megabyte in the file.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
RELS = "application/vnd.openxmlformats-package.relationships+xml"
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"
BOOK = f"{SPREADSHEET}.sheet.main+xml"
WORKSHEET = f"{SPREADSHEET}.worksheet+xml"
STRINGS = f"{SPREADSHEET}.sharedStrings+xml"

Part = list[tuple[bytes, int]]


def deflated(part: Part) -> tuple[bytes, int, int]:
    """A part's raw deflate stream, its CRC-32 and its inflated size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces, crc, size = [], 0, 0
    for block, times in part:
        once = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        pieces.append(once * times)
        for _ in range(times):
            crc = zlib.crc32(block, crc)
        size += len(block) * times
    pieces.append(compressor.flush())
    return b"".join(pieces), crc, size


def write_zip(path: Path, parts: dict[str, Part], declared: dict[str, int] | None = None) -> Path:
    """A zip of deflated parts; `declared` gives a part an inflated size of its own."""
    central = []
    with open(path, "wb") as out:
        for name, part in parts.items():
            data, crc, size = deflated(part)
            size = (declared or {}).get(name, size)
            fields = (0x21, crc, len(data), size, len(name.encode()))
            offset = out.tell()
            out.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, *fields, 0))
            out.write(name.encode() + data)
            entry = struct.pack(
                "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, *fields, 0, 0, 0, 0, 0, offset
            )
            central.append(entry + name.encode())
        start = out.tell()
        out.write(b"".join(central))
        count, length = len(central), out.tell() - start
        out.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, length, start, 0))
    return path


def sheet(rows: Part, head: bytes = b"") -> Part:
    """A worksheet part around rows (each a block of <row> elements)."""
    start = b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="%s">%s<sheetData>' % (
        MAIN.encode(),
        head,
    )
    return [(start, 1), *rows, (b"</sheetData></worksheet>", 1)]


def workbook(
    path: Path,
    sheets: dict[str, Part],
    strings: Part | None = None,
    declared: dict[str, int] | None = None,
) -> Path:
    """A workbook of the sheets given (name: worksheet part), with shared strings if any."""
    names = "".join(
        f'<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>'
        for n, name in enumerate(sheets, start=1)
    )
    targets = "".join(
        f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/worksheet" '
        f'Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(sheets) + 1)
    )
    if strings is not None:
        targets += (
            f'<Relationship Id="rIdS" Type="{RELATIONSHIPS}/sharedStrings" '
            'Target="sharedStrings.xml"/>'
        )
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{WORKSHEET}"/>'
        for n in range(1, len(sheets) + 1)
    )
    if strings is not None:
        types += f'<Override PartName="/xl/sharedStrings.xml" ContentType="{STRINGS}"/>'
    parts: dict[str, Part] = {
        "[Content_Types].xml": [
            (
                f'<Types xmlns="{TYPES}"><Default Extension="rels" ContentType="{RELS}"/>'
                f'<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{BOOK}"/>{types}'
                "</Types>".encode(),
                1,
            )
        ],
        "_rels/.rels": [
            (
                f'<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" '
                f'Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
                "</Relationships>".encode(),
                1,
            )
        ],
        "xl/workbook.xml": [
            (
                f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}"><sheets>{names}</sheets>'
                "</workbook>".encode(),
                1,
            )
        ],
        "xl/_rels/workbook.xml.rels": [
            (f'<Relationships xmlns="{PACKAGE}">{targets}</Relationships>'.encode(), 1)
        ],
    }
    for n, part in enumerate(sheets.values(), start=1):
        parts[f"xl/worksheets/sheet{n}.xml"] = part
    if strings is not None:
        parts["xl/sharedStrings.xml"] = [
            (b'<sst xmlns="%s">' % MAIN.encode(), 1),
            *strings,
            (b"</sst>", 1),
        ]
    return write_zip(path, parts, declared)


def cells(*values: str | int, row: int | None = None) -> bytes:
    """One row of inline strings and numbers (numbered `row` with its cells, or not)."""
    out = []
    for column, value in enumerate(values):
        where = f' r="{chr(65 + column)}{row}"' if row else ""
        if isinstance(value, str):
            out.append(f'<c{where} t="inlineStr"><is><t>{value}</t></is></c>')
        else:
            out.append(f"<c{where}><v>{value}</v></c>")
    number = f' r="{row}"' if row else ""
    return f"<row{number}>{''.join(out)}</row>".encode()


USAGE_HEADER = cells("event_id", "client", "service", "date", "quantity", row=1)


def varied(*values: str | int) -> bytes:
    """A thousand rows, each with a random code first: repeated, they inflate about sixty
    times, as a sheet may (identical rows would be refused for compressing too well)."""
    draw = random.Random(12).getrandbits
    return b"".join(cells(f"E{draw(16):04x}", *values) for _ in range(1000))
