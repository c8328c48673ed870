"""Builders the tests share: workbooks, CSV files and a small standard centre."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from opsplatform.workbooks import write_sheets

FY = "2026-27"


def write_book(path: Path, sheets: dict[str, list[list]]) -> Path:
    """A workbook with one sheet per key; the first row of each is its header."""
    return write_sheets(path, sheets)


def write_csv(path: Path, rows: list[dict]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def small_centre() -> dict[str, list[list]]:
    """Three clients, three services (graduated, fixed fee, equal apportionment) from April 2026."""
    return {
        "Settings": [
            ["key", "value"],
            ["centre_name", "Test Shared Services"],
            ["statement_prefix", "TSS"],
        ],
        "Clients": [
            ["code", "name"],
            ["WYR", "Wyre Council"],
            ["LAN", "Lancaster City Council"],
            ["PRS", "Preston City Council"],
        ],
        "Services": [
            ["code", "name", "unit"],
            ["PAY", "Payroll", "payslip"],
            ["HOST", "Systems hosting", "month"],
            ["ICT", "ICT service desk", "month"],
        ],
        "Subscriptions": [["client", "service", "start"]]
        + [[k, s, date(2026, 4, 1)] for k in ("WYR", "LAN") for s in ("PAY", "HOST", "ICT")]
        + [["PRS", "HOST", date(2026, 4, 1)], ["PRS", "ICT", date(2026, 4, 1)]],
        "Tariffs": [
            ["service", "financial_year", "rule", "bands", "annual_amount", "driver"],
            ["PAY", FY, "graduated", "500@4.00; *@3.00", None, None],
            ["HOST", FY, "fixed_fee", None, 36000, None],
            ["ICT", FY, "apportion", None, 120000, "equal"],
        ],
    }
