"""Server-rendered SVG bar charts for the pages: plain functions that return SVG markup.

No JavaScript and no inline styles (the Content-Security-Policy forbids both): every
colour, font and line is a presentation attribute. Each chart is an image with a
`<title>` and a `<desc>` that screen readers announce; the page puts the same figures
in a table beside it, so nothing is told by picture or colour alone. Every piece of
text is escaped. A value of None means "no data", which is drawn as words, never as a
bar of zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

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
) -> Markup:
    """Vertical bars, one group per category and one bar per series in each group.

    Bar heights are proportional to the values, measured from a zero line (negative
    values hang below it). Each bar carries its value as text; a missing value is
    written "no data". `category_fills` colours a single series' bars by category
    (with the category's name below, so the colour is never the only clue). With no
    categories, or no values at all, the chart says "No data".
    """
    values = [v for s in series for v in s.values if v is not None]
    if not categories or not series or not values:
        return no_data_chart(ident, title, description)
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values, not {len(categories)}")
    top_value = max(max(values), 0)
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
    height = int(plot_top + PLOT + footroom + LABELS_BELOW)

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
        body.append(
            f'<text x="{_number(SIDE + c * slot + slot / 2)}" y="{height - LABELS_BELOW + 24}" '
            f'text-anchor="middle">{escape(category)}</text>'
        )
    body.append(
        f'<line x1="{SIDE}" y1="{_number(zero)}" x2="{WIDTH - SIDE}" y2="{_number(zero)}" '
        f'stroke="{TEXT}" stroke-width="1"/>'
    )
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
