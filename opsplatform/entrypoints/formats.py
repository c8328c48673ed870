"""How figures read on pages and in downloads: money, quantities, measures, London times,
dates, months, VAT rates and codes, status tags, pages of a long list and workbook downloads.

One module, so that a figure reads the same on every page; the text helpers are also
template globals (registered in app.py), so templates call `money_text(x)` rather than
formatting numbers themselves.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from flask import Response, abort, request, send_file
from markupsafe import Markup, escape

from billing.rules import format_gbp_rate
from opsplatform.money import format_gbp
from opsplatform.periods import LONDON, Month, Quarter
from opsplatform.vocabulary import Term, VatCode

NO_DATA = "no data"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def money_text(amount: Decimal | str | None, missing: str = NO_DATA, signed: bool = False) -> str:
    """`£1,234.56`, `-£3.00` (`+£3.00` if `signed`); `missing` when there is no figure. A
    sum kept as text (`"1234.56"`, as an upload's report keeps it) reads the same."""
    if amount is None:
        return missing
    value = Decimal(amount)
    return ("+" if signed and value > 0 else "") + format_gbp(value)


def quantity_text(value: Decimal | None) -> str:
    """A quantity without trailing zeros, with thousands separators: `1,234.5`."""
    if value is None:
        return "–"
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value.normalize():,f}"


def measure_text(value: Decimal | None, unit: str, missing: str = NO_DATA) -> str:
    """A KPI value in its unit, `98.5%`, `3.2 days`; `missing` when nothing was measured."""
    if value is None:
        return missing
    number = f"{round(value, 1):,.1f}".removesuffix(".0")
    return {
        "percent": f"{number}%",
        "days": f"{number} days",
        "seconds": f"{number} seconds",
    }.get(unit, number)


def one_place_text(value: float | None, unit: str = "") -> str:
    """`2.5`, `33.3%`; "no data" when there is no figure."""
    return NO_DATA if value is None else f"{value:,.1f}{unit}"


def days_text(days: float | None) -> str:
    """`1 day`, `4.5 days`; "no data" when there is no figure."""
    if days is None:
        return NO_DATA
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def london_text(moment: datetime | None, with_time: bool = True) -> str:
    """`3 Jun 2026 14:05` in London time (`3 Jun 2026` without the time); `–` for none."""
    if moment is None:
        return "–"
    return moment.astimezone(LONDON).strftime("%-d %b %Y %H:%M" if with_time else "%-d %b %Y")


def date_text(day: date | None, missing: str = "–") -> str:
    """`4 January 2027`; `missing` when there is no date."""
    return missing if day is None else f"{day:%-d %B %Y}"


def unit_price_text(rate: Decimal) -> str:
    """A unit price to as many places as it has, at least two: `£4.00`, `£0.3914`."""
    return format_gbp_rate(rate)


def vat_text(code: str, rate: Decimal) -> str:
    """A line's VAT in a few words, with its code: `20% (S)`, `0% (Z)`, `No VAT (O)` (the
    vocabulary's VatCode labels say what each code is)."""
    term = VatCode(code)
    if term in (VatCode.STANDARD, VatCode.ZERO):
        return f"{quantity_text(rate)}% ({term})"
    return f"No VAT ({term})"


def address_lines(address: str | None) -> list[str]:
    """An address's lines as typed (none when there is no address)."""
    return [line.strip() for line in (address or "").splitlines() if line.strip()]


def today() -> date:
    """Today's date in London."""
    return datetime.now(LONDON).date()


def months_text(first: Month, last: Month) -> str:
    """`May 2026`, `April to June 2026`, `March 2026 to April 2026`."""
    if first == last:
        return first.label
    if first.year == last.year:
        return f"{first.first_day:%B} to {last.label}"
    return f"{first.label} to {last.label}"


def month_text(code: str | Month) -> str:
    """A month in words, `October 2026`, from its code `2026-10` (as statements keep it)."""
    return (code if isinstance(code, Month) else Month.parse(code)).label


def quarter_text(quarter: Quarter | str) -> str:
    """A quarter in words, `Q2 2026-27, July to September 2026`, from the quarter or its code
    `2026-27-Q2` (codes stay in addresses and JSON; pages say this)."""
    return (quarter if isinstance(quarter, Quarter) else Quarter.parse(quarter)).label


def tag(term: Term, text: str | None = None) -> Markup:
    """A GOV.UK tag for a coded value in its one colour, reading its label (or `text`)."""
    return Markup('<strong class="govuk-tag govuk-tag--{}">{}</strong>').format(
        term.colour, escape(term.label if text is None else text)
    )


@dataclass(frozen=True)
class Page:
    """Page `number` of `pages` of a list of `count` rows, `size` rows a page."""

    number: int
    pages: int
    size: int
    count: int

    @property
    def offset(self) -> int:
        """How many rows come before this page."""
        return (self.number - 1) * self.size

    @property
    def first(self) -> int:
        """The row number (from 1) this page starts at."""
        return self.offset + 1

    @property
    def last(self) -> int:
        """The row number this page ends at."""
        return min(self.offset + self.size, self.count)

    def numbers(self) -> list[int | None]:
        """The page links to show: first, last and those around this one (None = a gap)."""
        wanted = {1, self.pages, self.number - 1, self.number, self.number + 1}
        shown: list[int | None] = []
        for number in sorted(n for n in wanted if 1 <= n <= self.pages):
            if shown and shown[-1] is not None and number > shown[-1] + 1:
                shown.append(None)
            shown.append(number)
        return shown


def page_of(count: int, size: int, number: int) -> Page | None:
    """Page `number` of `count` rows, or None if there is no such page (the first page of
    an empty list exists)."""
    pages = max(1, -(-count // size))
    return Page(number, pages, size, count) if 1 <= number <= pages else None


def requested_page(count: int, size: int) -> Page:
    """The page of `count` rows that the request's `?page=` asks for (the first if none);
    404 for a page that does not exist."""
    found = page_of(count, size, request.args.get("page", 1, type=int))
    if found is None:
        abort(404)
    return found


def written_workbook(write: Callable[[Path], None], name: str) -> Response:
    """A workbook that `write` saves to a file, sent as a download named `name`; written
    afresh for each download in a folder of its own, gone once it is read."""
    with tempfile.TemporaryDirectory(prefix="opsplatform-") as folder:
        path = Path(folder) / name
        write(path)
        content = path.read_bytes()
    return workbook_download(content, name)


def workbook_download(content: BytesIO | bytes, name: str) -> Response:
    """A workbook sent as a download named `name`."""
    body = BytesIO(content) if isinstance(content, bytes) else content
    return send_file(body, as_attachment=True, download_name=name, mimetype=XLSX)
