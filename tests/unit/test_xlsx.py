"""The workbook guard and reader (importers/xlsx.py) on workbooks written part by part."""

from __future__ import annotations

import struct
import warnings
import zipfile
from datetime import date

import pytest
from python_calamine import CalamineWorkbook

import importers.xlsx
from importers.xlsx import EXCEL_ROWS, Limits, open_workbook
from opsplatform.errors import Refused
from tests.crafted import MAIN, USAGE_HEADER, cells, sheet, workbook, write_zip

LIMITS = Limits(rows=EXCEL_ROWS, columns=8)


def read(path, limits: Limits = LIMITS) -> dict[str, list[tuple[int, list]]]:
    book = open_workbook(path, limits, every_sheet=True)
    return {name: list(book.rows(name)) for name in book.sheets}


def refusal(path, limits: Limits = LIMITS) -> str:
    with pytest.raises(Refused) as caught:
        read(path, limits)
    return str(caught.value)


def calamine(path) -> list[tuple[int, list]]:
    """What python-calamine reads from the whole sheet at once, numbered as the reader's."""
    found = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    top, left = found.start
    return [
        (top + 1 + n, [None] * left + [None if v == "" else v for v in row])
        for n, row in enumerate(found.to_python())
    ]


def trimmed(rows: list[tuple[int, list]]) -> list[tuple[int, list]]:
    """Rows that hold a value, without the empty cells at their end (a window's rows are
    as wide as the window)."""
    out = []
    for number, values in rows:
        while values and values[-1] is None:
            values = values[:-1]
        if values:
            out.append((number, values))
    return out


def one_sheet(path, *rows: bytes, strings=None, head: bytes = b""):
    return workbook(path, {"Usage": sheet([(row, 1) for row in rows], head)}, strings)


# -- the zip --------------------------------------------------------------------------------


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "usage.xlsx"
    path.write_bytes(b"event_id,client\n" * 100)
    assert "usage.xlsx: cannot open it as an .xlsx workbook (it is not a zip file)" in refusal(path)


def test_a_zip_directory_larger_than_any_workbooks_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "parts.xlsx"
    path.write_bytes(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 60_000, 60_000, 2**30, 0, 0))
    assert "it has more parts than any workbook (60,000 listed)" in refusal(path)


def test_a_part_named_twice_is_refused(tmp_path):
    path = tmp_path / "twice.xlsx"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    assert "it names a part twice" in refusal(path)


def test_compression_excel_does_not_use_is_refused(tmp_path):
    path = one_sheet(tmp_path / "bz.xlsx", USAGE_HEADER)
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    while entry >= 0:  # every part "compressed with bzip2"
        data[entry + 10 : entry + 12] = struct.pack("<H", 12)
        entry = data.find(b"PK\x01\x02", entry + 4)
    path.write_bytes(data)
    assert "is compressed in a way Excel does not use" in refusal(path)


def test_a_part_expanding_far_more_than_a_workbook_does_is_refused(tmp_path):
    path = workbook(tmp_path / "ratio.xlsx", {"Usage": sheet([(USAGE_HEADER, 1)])})
    with zipfile.ZipFile(path, "a") as archive:  # 10 MB of spaces in 10 KB
        archive.writestr("xl/styles.xml", b" " * 10_000_000, zipfile.ZIP_DEFLATED)
    assert "xl/styles.xml expands more than 100 times its size in the file" in refusal(path)


def test_what_a_part_really_inflates_to_counts_not_what_it_declares(tmp_path):
    styles = [(b"<styleSheet/>" + b" " * (1 << 20), 20)]  # 20 MB, declared as 100 bytes
    path = write_zip(
        tmp_path / "liar.xlsx",
        {
            "_rels/.rels": [(b"<Relationships/>", 1)],
            "xl/workbook.xml": [(b'<workbook xmlns="%s"/>' % MAIN.encode(), 1)],
            "xl/_rels/workbook.xml.rels": [(b"<Relationships/>", 1)],
            "xl/styles.xml": styles,
        },
        declared={"xl/styles.xml": 100},
    )
    assert "xl/styles.xml expands more than 100 times" in refusal(path)


def test_a_dtd_is_refused(tmp_path):
    path = one_sheet(tmp_path / "dtd.xlsx", USAGE_HEADER)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/workbook.xml"] = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + parts["xl/workbook.xml"]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert "xl/workbook.xml declares a DTD" in refusal(path)


# -- text over Excel's limit ------------------------------------------------------------------


def test_a_cell_over_32767_characters_is_refused_and_one_at_the_limit_is_read(tmp_path):
    longest = one_sheet(tmp_path / "ok.xlsx", USAGE_HEADER, cells("x" * 32_767, row=2))
    assert read(longest)["Usage"][1][1][0] == "x" * 32_767
    wide = one_sheet(tmp_path / "wide.xlsx", USAGE_HEADER, cells("é" * 20_000, row=2))
    assert read(wide)["Usage"][1][1][0] == "é" * 20_000  # 40,000 bytes, 20,000 characters
    too_long = one_sheet(tmp_path / "long.xlsx", USAGE_HEADER, cells("x" * 32_768, row=2))
    assert "sheet Usage has a text of more than 32,767 characters" in refusal(too_long)


def test_a_shared_text_over_the_limit_is_refused_even_in_short_runs(tmp_path):
    runs = b"".join(b"<r><t>" + b"y" * 10_000 + b"</t></r>" for _ in range(4))
    path = one_sheet(
        tmp_path / "runs.xlsx",
        USAGE_HEADER,
        b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>',
        strings=[(b"<si>" + runs + b"</si>", 1)],
    )
    assert "the shared strings part has a text of more than 32,767 characters" in refusal(path)


def test_a_gigabyte_cell_is_refused_whatever_size_it_declares(tmp_path):
    sheets = {
        "Usage": sheet([(USAGE_HEADER, 1), (b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>', 1)])
    }
    bomb = [(b"<si><t>", 1), (b"a" * (1 << 20), 1100), (b"</t></si>", 1)]
    honest = workbook(tmp_path / "bomb.xlsx", sheets, bomb)
    assert honest.stat().st_size < 2_000_000
    assert "xl/sharedStrings.xml is larger than 64 MB" in refusal(honest)
    lying = workbook(tmp_path / "liar.xlsx", sheets, bomb, {"xl/sharedStrings.xml": 1000})
    assert "has a text of more than 32,767 characters" in refusal(lying)


def test_long_shared_text_in_too_many_cells_is_refused(tmp_path):
    rows = [
        (
            b"".join(
                b'<row r="%d"><c r="A%d" t="s"><v>0</v></c></row>' % (n, n)
                for n in range(1, 50_000)
            ),
            1,
        )
    ]
    strings = [(b"<si><t>" + b"z" * 30_000 + b"</t></si>", 1)]
    path = workbook(tmp_path / "copies.xlsx", {"Usage": sheet(rows)}, strings)
    assert "refers to long shared text so often" in refusal(path)


# -- rows and cells -------------------------------------------------------------------------


def test_more_rows_than_allowed_are_refused_by_count_and_by_number(tmp_path):
    small = Limits(rows=5, columns=8)
    many = workbook(tmp_path / "many.xlsx", {"Usage": sheet([(cells(1, 2), 6)])})
    assert "sheet Usage has more than 5 rows; at most 5 rows are allowed" in refusal(many, small)
    far = one_sheet(tmp_path / "far.xlsx", USAGE_HEADER, cells(1, row=6))
    assert "sheet Usage has a row numbered 6" in refusal(far, small)
    excel = one_sheet(tmp_path / "excel.xlsx", USAGE_HEADER, cells(1, row=EXCEL_ROWS + 1))
    assert "at most 1,048,576 rows are allowed, as in Excel" in refusal(excel)


def test_a_cell_outside_its_row_is_refused(tmp_path):
    far = one_sheet(
        tmp_path / "far.xlsx", USAGE_HEADER, b'<row r="2"><c r="H900000"><v>1</v></c></row>'
    )
    assert "places cell H900000 outside its row" in refusal(far)
    unnumbered = one_sheet(
        tmp_path / "walk.xlsx", USAGE_HEADER, b'<row><c r="A9"><v>1</v></c></row>'
    )
    assert "places cell A9 outside its row" in refusal(unnumbered)


def test_a_row_numbered_in_other_than_digits_is_refused_as_no_workbook(tmp_path):
    odd = one_sheet(
        tmp_path / "odd.xlsx", USAGE_HEADER, b'<row r="2x"><c r="A2"><v>1</v></c></row>'
    )
    assert "cannot open it as an .xlsx workbook" in refusal(odd)


def test_a_value_beyond_the_last_column_is_refused_but_formatting_there_is_not(tmp_path):
    value = one_sheet(
        tmp_path / "value.xlsx", USAGE_HEADER, b'<row r="2"><c r="J2"><v>1</v></c></row>'
    )
    assert "has a value in J2, beyond column H: use columns A to H only" in refusal(value)
    styled = one_sheet(
        tmp_path / "styled.xlsx",
        USAGE_HEADER,
        b'<row r="2"><c r="A2"><v>1</v></c><c r="J2" s="1"/><c r="AB2" s="1"/></row>',
    )
    assert trimmed(read(styled)["Usage"])[1] == (2, [1])
    implicit = one_sheet(
        tmp_path / "implicit.xlsx", USAGE_HEADER, b"<row>" + b"<c><v>1</v></c>" * 9 + b"</row>"
    )
    assert "has a value in I2, beyond column H" in refusal(implicit)


# -- reading --------------------------------------------------------------------------------


def test_rows_read_a_window_at_a_time_are_the_rows_of_the_whole_sheet(tmp_path, monkeypatch):
    monkeypatch.setattr(importers.xlsx, "WINDOW_ROWS", 2)
    rows = [
        USAGE_HEADER,
        cells("E1", "WYR", "PAY", "2026-05-01", 3, row=2),
        b'<row r="3"><c r="C3" t="inlineStr"><is><t>only C</t></is></c></row>',  # A and B empty
        cells("E3", "LAN", "PAY", "2026-05-02", 2.5, row=4),
        b'<row r="5"><c r="A5" s="1"><v>46143</v></c></row>',  # a date cell
        cells("E5", row=40_000),  # far below the others
        cells("E6", row=40_001),
    ]
    styles = (
        b'<styleSheet xmlns="%s"><numFmts count="1"><numFmt numFmtId="164" '
        b'formatCode="yyyy-mm-dd"/></numFmts><cellXfs count="2"><xf numFmtId="0"/>'
        b'<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>'
    ) % MAIN.encode()
    path = one_sheet(tmp_path / "windows.xlsx", *rows)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("xl/styles.xml", styles)
    whole = trimmed(calamine(path))
    read_rows = trimmed(read(path)["Usage"])
    assert read_rows == whole
    assert read_rows[2] == (3, [None, None, "only C"])
    assert read_rows[4] == (5, [date(2026, 5, 1)])
    assert [n for n, _ in read_rows][-2:] == [40_000, 40_001]


def test_rows_and_cells_not_saying_where_they_stand_are_read_as_excel_places_them(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(importers.xlsx, "WINDOW_ROWS", 2)
    path = workbook(
        tmp_path / "unnumbered.xlsx",
        {"Usage": sheet([(b"<row><c><v>1</v></c><c><v>2</v></c></row>", 5)])},
    )
    assert read(path)["Usage"] == [(n, [1, 2]) for n in range(1, 6)]


def test_a_sheet_written_with_a_namespace_prefix_is_read(tmp_path):
    xml = (
        b'<x:worksheet xmlns:x="%s"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr">'
        b'<x:is><x:t>client</x:t></x:is></x:c></x:row><x:row r="2"><x:c r="A2"><x:v>7</x:v>'
        b"</x:c></x:row></x:sheetData></x:worksheet>"
    ) % MAIN.encode()
    path = workbook(tmp_path / "prefixed.xlsx", {"Usage": [(xml, 1)]})
    assert read(path)["Usage"] == [(1, ["client"]), (2, [7])]


def test_every_sheet_or_the_first_is_checked_and_read(tmp_path):
    path = workbook(
        tmp_path / "two.xlsx",
        {"Usage": sheet([(USAGE_HEADER, 1)]), "Other": sheet([(cells("x" * 40_000), 1)])},
    )
    first = open_workbook(path, LIMITS, every_sheet=False)
    assert first.sheet_names == ["Usage", "Other"]
    assert list(first.sheets) == ["Usage"]
    assert "sheet Other has a text of more than 32,767 characters" in refusal(path)
