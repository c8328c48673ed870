"""Server-rendered SVG charts for the pages (bars, and straight lines over quarters): plain
functions that return SVG markup.

No JavaScript and no inline styles (the Content-Security-Policy forbids both): every
colour, font and line is a presentation attribute. Each chart is an image with a
`<title>` and a `<desc>` that screen readers announce; the page puts the same figures
in a table beside it, so nothing is told by picture or colour alone. Every piece of
text is escaped. A value of None means "no data", which is drawn as words, never as a
bar of zero. Axes are honest: bars start at zero, a percentage runs from 0 to 100, and
a target is drawn as a dashed line, never as a bar.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from markupsafe import Markup, escape

from opsplatform.vocabulary import KpiStatus

Number = Decimal | int
FONT = "arial, sans-serif"
TEXT = "#0b0c0c"
MUTED = "#505a5f"
BLUE = "#1d70b8"
# the tag colours of opsplatform.vocabulary, as GOV.UK's palette draws them
FILLS = {"green": "#00703c", "orange": "#f47738", "red": "#d4351c", "grey": "#b1b4b6"}

WIDTH = 640
SIDE = 16  # space left and right of the bars
LABELS_BELOW = 40  # room for the category names under the bars
LINE = 16  # height of a further line of a category's name
LEGEND = 28  # room for the legend above the plot
PLOT = 200  # height of the bars' area
NARROW = 64  # bars narrower than this get their value written sideways


@dataclass(frozen=True)
class Series:
    """One set of bars: a value (or None for no data) per category, drawn alike.

    `fill` and `stroke` draw the bars; a hollow series (fill white, coloured stroke)
    tells two series apart without relying on colour.
    """

    name: str
    values: Sequence[Number | None]
    fill: str = BLUE
    stroke: str = BLUE


def _number(value: float) -> str:
    """A coordinate, short and exact enough: `12.5`, `40`."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _frame(ident: str, title: str, description: str, height: int, body: list[str]) -> Markup:
    ident = escape(ident)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="app-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="{FONT}" font-size="14" fill="{TEXT}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))


def no_data_chart(ident: str, title: str, description: str = "There is no data to show.") -> Markup:
    """A chart that says, in words, that there is nothing to draw."""
    height = 80
    body = [
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{height - 1}" fill="#ffffff" '
        f'stroke="{MUTED}" stroke-dasharray="4 4"/>',
        f'<text class="app-chart__no-data" x="{WIDTH // 2}" y="{height // 2 + 6}" '
        f'text-anchor="middle" font-size="18" fill="{MUTED}">No data</text>',
    ]
    return _frame(ident, title, description, height, body)


def bar_chart(
    ident: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    value_text: Callable[[Number], str] = str,
    category_fills: Sequence[str] | None = None,
    top: Number | None = None,
    targets: Sequence[Number] | None = None,
) -> Markup:
    """Vertical bars, one group per category and one bar per series in each group.

    Bar heights are proportional to the values, measured from a zero line (negative
    values hang below it). Each bar carries its value as text; a missing value is
    written "no data". `category_fills` colours a single series' bars by category
    (with the category's name below, so the colour is never the only clue). `top` fixes
    the scale's top (100 for a percentage); `targets` draws each category's target as a
    dashed line across its group. With no categories, or no values at all, the chart says
    "No data".
    """
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not series or not values:
        return no_data_chart(ident, title, description)
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values, not {len(categories)}")
    top_value = max(max(values), 0, top or 0, *(targets or ()))
    bottom_value = min(min(values), 0)
    span = Decimal(top_value - bottom_value) or Decimal(1)
    slot = (WIDTH - 2 * SIDE) / len(categories)
    gap = min(slot * 0.2, 24)
    bar_width = (slot - gap) / len(series)
    sideways = bar_width < NARROW
    headroom = 110 if sideways else 30  # room for the value labels above the tallest bar
    footroom = 110 if sideways and bottom_value < 0 else (30 if bottom_value < 0 else 0)
    legend = LEGEND if len(series) > 1 else 0
    plot_top = legend + headroom
    zero = plot_top + float(Decimal(top_value) / span * PLOT)
    names = [_wrapped(category, slot) for category in categories]
    below = LABELS_BELOW + LINE * (max(len(n) for n in names) - 1)
    height = int(plot_top + PLOT + footroom + below)

    body: list[str] = []
    if legend:
        x: float = SIDE
        for s in series:
            body.append(
                f'<rect x="{x}" y="6" width="16" height="16" fill="{escape(s.fill)}" '
                f'stroke="{escape(s.stroke)}" stroke-width="2"/>'
            )
            body.append(f'<text x="{x + 22}" y="19">{escape(s.name)}</text>')
            x += 22 + 8 * len(s.name) + 24
    for c, category in enumerate(categories):
        left = SIDE + c * slot + gap / 2
        for n, s in enumerate(series):
            value = s.values[c]
            x = left + n * bar_width
            middle = x + bar_width / 2
            fill = category_fills[c] if category_fills and len(series) == 1 else s.fill
            stroke = category_fills[c] if category_fills and len(series) == 1 else s.stroke
            if value is None:
                body.append(_label(middle, zero - 6, "no data", sideways, above=True, muted=True))
                continue
            size = float(abs(Decimal(value)) / span * PLOT)
            y = zero - size if value >= 0 else zero
            body.append(
                f'<rect class="app-chart__bar" x="{_number(x + 1)}" y="{_number(y)}" '
                f'width="{_number(bar_width - 2)}" height="{_number(size)}" '
                f'fill="{escape(fill)}" stroke="{escape(stroke)}" stroke-width="2" '
                f'data-category="{escape(category)}" data-series="{escape(s.name)}" '
                f'data-value="{escape(value)}"/>'
            )
            if value >= 0:
                body.append(_label(middle, y - 6, value_text(value), sideways, above=True))
            else:
                body.append(_label(middle, y + size + 16, value_text(value), sideways, above=False))
        body.append(_category(SIDE + c * slot + slot / 2, height - below + 24, names[c]))
        if targets:
            y = zero - float(Decimal(targets[c]) / span * PLOT)
            body.append(_target(left - gap / 4, left + slot - gap * 3 / 4, y))
    body.append(
        f'<line x1="{SIDE}" y1="{_number(zero)}" x2="{WIDTH - SIDE}" y2="{_number(zero)}" '
        f'stroke="{TEXT}" stroke-width="1"/>'
    )
    return _frame(ident, title, description, height, body)


def _wrapped(text: str, width: float) -> list[str]:
    """`text` in lines that fit `width` (at about 8 units a character of 14-unit text)."""
    return textwrap.wrap(text, max(int(width / 8), 4)) or [""]


def _category(x: float, y: float, lines: list[str]) -> str:
    """A category's name under its bars, a line at a time."""
    spans = "".join(
        f'<tspan x="{_number(x)}" dy="{0 if n == 0 else LINE}">{escape(line)}</tspan>'
        for n, line in enumerate(lines)
    )
    return f'<text x="{_number(x)}" y="{_number(y)}" text-anchor="middle">{spans}</text>'


def _target(x1: float, x2: float, y: float) -> str:
    """A target: a dashed black line, told apart from the data by its dashes, not colour."""
    return (
        f'<line class="app-chart__target" x1="{_number(x1)}" y1="{_number(y)}" '
        f'x2="{_number(x2)}" y2="{_number(y)}" stroke="{TEXT}" stroke-width="2" '
        f'stroke-dasharray="6 4"/>'
    )


def line_chart(
    ident: str,
    title: str,
    description: str,
    categories: Sequence[str],
    values: Sequence[Number | None],
    target: Number,
    value_text: Callable[[Number], str] = str,
    top: Number | None = None,
) -> Markup:
    """A value over periods as straight lines between its points (a curve would invent
    values between them), each point labelled, with the target as a dashed line across.
    The scale runs from zero to `top` (100 for a percentage) or to the largest figure; a
    gap in the data breaks the line and is written "no data"."""
    known = [v for v in values if v is not None]
    if not categories or not known:
        return no_data_chart(ident, title, description)
    span = Decimal(max(*known, target, top or 0, 0)) or Decimal(1)
    plot_top, left, right = LEGEND + 24, SIDE + 40, WIDTH - SIDE
    zero = plot_top + PLOT
    height = int(zero + LABELS_BELOW)
    slot = (right - left) / len(categories)

    def y_of(value: Number) -> float:
        return zero - float(Decimal(value) / span * PLOT)

    body = [
        f'<line x1="{SIDE}" y1="14" x2="{SIDE + 24}" y2="14" stroke="{BLUE}" stroke-width="3"/>',
        f'<circle cx="{SIDE + 12}" cy="14" r="4" fill="{BLUE}"/>',
        f'<text x="{SIDE + 30}" y="19">Result</text>',
        _target(SIDE + 110, SIDE + 134, 14),
        f'<text x="{SIDE + 140}" y="19">Target ({escape(value_text(target))})</text>',
    ]
    for tick in (Decimal(0), span / 2, span):
        y = y_of(tick)
        body.append(
            f'<line x1="{left}" y1="{_number(y)}" x2="{right}" y2="{_number(y)}" '
            f'stroke="{MUTED}" stroke-width="{1 if tick == 0 else 0.5}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{_number(y + 4)}" text-anchor="end" font-size="12" '
            f'fill="{MUTED}">{escape(value_text(tick))}</text>'
        )
    body.append(_target(left, right, y_of(target)))
    points: list[tuple[float, float] | None] = []
    for c, (category, value) in enumerate(zip(categories, values, strict=True)):
        x = left + slot * (c + 0.5)
        body.append(
            f'<text x="{_number(x)}" y="{height - LABELS_BELOW + 24}" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
        if value is None:
            body.append(_label(x, zero - 6, "no data", False, above=True, muted=True))
            points.append(None)
            continue
        points.append((x, y_of(value)))
        body.append(_label(x, y_of(value) - 10, value_text(value), False, above=True))
    for start, end in pairwise(points):
        if start and end:
            body.append(
                f'<line class="app-chart__line" x1="{_number(start[0])}" y1="{_number(start[1])}" '
                f'x2="{_number(end[0])}" y2="{_number(end[1])}" stroke="{BLUE}" stroke-width="3"/>'
            )
    body += [
        f'<circle class="app-chart__point" cx="{_number(p[0])}" cy="{_number(p[1])}" r="5" '
        f'fill="{BLUE}"/>'
        for p in points
        if p
    ]
    return _frame(ident, title, description, height, body)


def _label(x: float, y: float, text: str, sideways: bool, above: bool, muted: bool = False) -> str:
    colour = f' fill="{MUTED}"' if muted else ""
    if sideways:
        anchor = "start" if above else "end"
        return (
            f'<text x="{_number(x + 5)}" y="{_number(y)}" text-anchor="{anchor}" '
            f'font-size="12"{colour} transform="rotate(-90 {_number(x + 5)} {_number(y)})">'
            f"{escape(text)}</text>"
        )
    return (
        f'<text x="{_number(x)}" y="{_number(y)}" text-anchor="middle" font-size="12"{colour}>'
        f"{escape(text)}</text>"
    )


def billing_comparison_chart(
    ident: str,
    title: str,
    description: str,
    categories: Sequence[str],
    this_year: Sequence[Number | None],
    last_year: Sequence[Number | None],
    this_label: str,
    last_label: str,
    value_text: Callable[[Number], str] = str,
) -> Markup:
    """This period's amount beside the same period last year's, per category.

    This year's bars are solid and last year's hollow, so the two differ in shape as
    well as colour.
    """
    return bar_chart(
        ident,
        title,
        description,
        categories,
        [
            Series(this_label, this_year, fill=BLUE, stroke=BLUE),
            Series(last_label, last_year, fill="#ffffff", stroke=MUTED),
        ],
        value_text,
    )


def status_chart(ident: str, title: str, description: str, counts: dict[str, int]) -> Markup:
    """How many results are green, amber, red and without data: one bar per status, named
    below and counted above. No results at all gives a "No data" chart."""
    if not sum(counts.values()):
        return no_data_chart(ident, title, description)
    statuses = list(KpiStatus)
    return bar_chart(
        ident,
        title,
        description,
        [s.word for s in statuses],
        [Series("Results", [counts.get(s, 0) for s in statuses])],
        value_text=lambda n: f"{n:,}",
        category_fills=[FILLS[s.colour] for s in statuses],
    )
