"""An .xlsx file's zip package, trusted no further than its bytes.

The zip's directory is read only if it is small, and refused if it names a part twice;
a part is refused if it is encrypted or compressed other than stored or deflated, and
is inflated a chunk at a time, counting the bytes that really come out (never the sizes
the zip declares) against its limit and against RATIO times its size in the file. Small
parts (relationships, the workbook, styles) are parsed whole, never with a DTD, and kept
for the readers that need them beside a sheet (importers.xlsx).
"""

from __future__ import annotations

import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from xml.parsers import expat

from opsplatform.errors import Refused

MB = 1 << 20
CHUNK = MB  # inflated at a time, and scanned
DIRECTORY_BYTES = MB  # the zip's directory: about 10,000 parts
PART_BYTES = 16 * MB  # the workbook, its relationships and its styles
RATIO = 100  # inflated / compressed: sheets measure 8-15, bombs about 1,000

NOT_A_WORKBOOK = "cannot open it as an .xlsx workbook"


class Package:
    """The parts of the zip at `path` (`infos`, by name), and the small parts read so far
    (`parts`, in pieces), which a reader of a sheet needs beside it."""

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        self.infos = _directory(path, self.name)
        self.parts: dict[str, list[bytes]] = {}

    def sheet_parts(self) -> list[tuple[str, str | None]]:
        """Each sheet's name and part (None if the workbook does not say), in the
        workbook's order, as its relationships give them."""
        package = self._relationships("_rels/.rels", "")
        book = package.get("officeDocument", [None])[0] or "xl/workbook.xml"
        folder = posixpath.dirname(book)
        rels = posixpath.join(folder, "_rels", posixpath.basename(book) + ".rels")
        targets = {
            rel["Id"]: _resolve(folder, rel["Target"])
            for rel in self._elements(rels, "Relationship")
            if "Id" in rel and "Target" in rel and rel.get("TargetMode") != "External"
        }
        return [
            (sheet.get("name", ""), targets.get(sheet.get("id", "")))
            for sheet in self._elements(book, "sheet")
        ]

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

    def small(self, part: str) -> bytes:
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
            parser.Parse(self.small(part), True)
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
