"""The SVG bar charts of opsplatform/entrypoints/web/charts.py: well-formed, described, proportional, escaped,
and honest about missing data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from markupsafe import Markup

from opsplatform.entrypoints.web.charts import (
    Series,
    bar_chart,
    billing_comparison_chart,
    line_chart,
    no_data_chart,
    status_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def bars(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "app-chart__bar"]


def texts(root: ET.Element) -> list[str]:
    """Each text element's words, its lines (a long category name's) joined by spaces."""
    return [" ".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def height(bar: ET.Element) -> float:
    return float(bar.get("height"))


def simple(values, categories=None, **options) -> ET.Element:
    categories = categories or [f"C{i}" for i in range(len(values))]
    return parse(
        bar_chart("chart", "A title", "A description", categories, [Series("S", values)], **options)
    )


def test_a_chart_is_well_formed_svg_with_a_title_and_a_description_first():
    markup = bar_chart("sales", "Sales", "Sales by client", ["A", "B"], [Series("2026", [1, 2])])
    assert isinstance(markup, Markup)
    root = parse(markup)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = list(root)[:2]
    assert title.tag == f"{SVG}title" and title.text == "Sales"
    assert desc.tag == f"{SVG}desc" and desc.text == "Sales by client"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert title.get("id") == "sales-title" and desc.get("id") == "sales-desc"


def test_bar_heights_are_proportional_to_the_values():
    root = simple([Decimal("100.00"), Decimal("50.00"), Decimal("25.00"), Decimal("0.00")])
    heights = [height(b) for b in bars(root)]
    assert len(heights) == 4
    assert heights[0] > 0
    assert heights[1] == pytest.approx(heights[0] / 2)
    assert heights[2] == pytest.approx(heights[0] / 4)
    assert heights[3] == 0


def test_bars_stand_on_one_zero_line_and_negative_bars_hang_below_it():
    root = simple([Decimal("300"), Decimal("-100")])
    up, down = bars(root)
    assert height(up) == pytest.approx(3 * height(down))
    zero = float(root.find(f"{SVG}line").get("y1"))
    assert float(up.get("y")) + height(up) == pytest.approx(zero)
    assert float(down.get("y")) == pytest.approx(zero)


def test_every_bar_carries_its_value_as_text():
    root = simple([1234, 5], value_text=lambda v: f"£{v:,.2f}")
    assert "£1,234.00" in texts(root) and "£5.00" in texts(root)
    assert [b.get("data-value") for b in bars(root)] == ["1234", "5"]


def test_all_text_is_escaped():
    nasty = "<script>alert('x')</script> & \"quotes\""
    markup = bar_chart(
        'id"><script>',
        nasty,
        nasty,
        [nasty, "B&B"],
        [Series(nasty, [1, 2]), Series("other", [3, None])],
        value_text=lambda v: f"<{v}>",
    )
    assert "<script>" not in markup
    root = parse(markup)  # still well-formed XML
    assert root.find(f"{SVG}title").text == nasty
    assert root.find(f"{SVG}desc").text == nasty
    assert nasty in texts(root) and "B&B" in texts(root) and "<1>" in texts(root)
    assert bars(root)[0].get("data-category") == nasty


def test_a_missing_value_is_written_no_data_and_draws_no_bar():
    root = simple([Decimal(10), None])
    assert len(bars(root)) == 1
    assert "no data" in texts(root)


def test_no_categories_or_no_values_give_a_no_data_chart():
    for markup in (
        bar_chart("e", "Empty", "Nothing", [], []),
        bar_chart("e", "Empty", "Nothing", ["A", "B"], [Series("S", [None, None])]),
        no_data_chart("e", "Empty"),
        status_chart("e", "Empty", "Nothing", {"green": 0, "red": 0}),
        status_chart("e", "Empty", "Nothing", {}),
    ):
        root = parse(markup)
        assert root.get("role") == "img"
        assert root.find(f"{SVG}title").text == "Empty"
        assert root.find(f"{SVG}desc").text
        assert bars(root) == []
        assert "No data" in texts(root)


def test_a_series_must_have_a_value_for_every_category():
    with pytest.raises(ValueError, match="2 values, not 3"):
        bar_chart("x", "t", "d", ["A", "B", "C"], [Series("S", [1, 2])])


def test_comparison_chart_draws_this_year_solid_and_last_year_hollow_with_a_legend():
    root = parse(
        billing_comparison_chart(
            "billing",
            "Billing",
            "This year against last",
            ["WYR", "LAN"],
            [Decimal("200.00"), Decimal("100.00")],
            [Decimal("50.00"), None],
            "2026-27 to date",
            "Same months of 2025-26",
            value_text=lambda v: f"£{v:,.2f}",
        )
    )
    drawn = bars(root)
    assert [(b.get("data-category"), b.get("data-series")) for b in drawn] == [
        ("WYR", "2026-27 to date"),
        ("WYR", "Same months of 2025-26"),
        ("LAN", "2026-27 to date"),
    ]
    assert height(drawn[0]) == pytest.approx(4 * height(drawn[1]))
    assert height(drawn[2]) == pytest.approx(2 * height(drawn[1]))
    assert drawn[0].get("fill") != "#ffffff" and drawn[1].get("fill") == "#ffffff"
    assert {"2026-27 to date", "Same months of 2025-26", "no data", "£50.00"} <= set(texts(root))


def test_status_chart_counts_each_status_and_names_it():
    root = parse(status_chart("kpi", "KPIs", "By status", {"green": 6, "amber": 3, "red": 0}))
    drawn = {b.get("data-category"): b for b in bars(root)}
    assert list(drawn) == ["Green", "Amber", "Red", "No data"]
    assert height(drawn["Green"]) == pytest.approx(2 * height(drawn["Amber"]))
    assert height(drawn["Red"]) == 0 and height(drawn["No data"]) == 0
    assert {"Green", "Amber", "Red", "No data", "6", "3", "0"} <= set(texts(root))
    assert len({b.get("fill") for b in drawn.values()}) == 4


def test_many_categories_write_values_sideways_so_they_do_not_collide():
    root = simple(list(range(1, 21)))
    labels = [t for t in root.iter(f"{SVG}text") if t.get("transform")]
    assert len(labels) == 20
    assert all(t.get("transform").startswith("rotate(-90") for t in labels)


def test_a_line_chart_is_straight_from_zero_to_100_for_a_percentage_with_its_target_dashed():
    root = parse(
        line_chart(
            "trend",
            "Payroll: last 3 quarters",
            "Whole centre against the target of 95%",
            ["Q1", "Q2", "Q3"],
            [Decimal("90"), None, Decimal("97.5")],
            Decimal(95),
            lambda v: f"{v}%",
            top=100,
        )
    )
    assert root.find(f"{SVG}title").text == "Payroll: last 3 quarters"
    assert root.find(f"{SVG}desc").text == "Whole centre against the target of 95%"
    assert not list(root.iter(f"{SVG}path"))  # straight lines, never a curve
    segments = [x for x in root.iter(f"{SVG}line") if x.get("class") == "app-chart__line"]
    assert segments == []  # the gap (no data in Q2) breaks the line rather than bridging it
    points = [p for p in root.iter(f"{SVG}circle") if p.get("class") == "app-chart__point"]
    assert len(points) == 2
    legend, target = [x for x in root.iter(f"{SVG}line") if x.get("class") == "app-chart__target"]
    assert legend.get("stroke-dasharray") == target.get("stroke-dasharray")  # the key says so
    assert {"0%", "50%", "100%", "no data"} <= set(texts(root))  # the scale runs 0 to 100
    zero = float(next(x for x in root.iter(f"{SVG}line") if x.get("stroke-width") == "1").get("y1"))
    hundred = zero - 200  # PLOT: the 100% line sits a full plot above zero...
    y = {float(p.get("cy")) for p in points}
    assert y == {zero - 0.9 * 200, zero - 0.975 * 200}  # ...and each point in proportion
    assert float(target.get("y1")) == pytest.approx(zero - 0.95 * 200)
    assert hundred < min(y)


def test_a_line_joins_neighbouring_points_with_straight_segments():
    root = parse(line_chart("t", "T", "D", ["a", "b", "c"], [1, 2, 3], 2))
    segments = [x for x in root.iter(f"{SVG}line") if x.get("class") == "app-chart__line"]
    assert len(segments) == 2


def test_bars_against_targets_draw_each_target_as_a_dashed_line_on_an_honest_scale():
    root = parse(
        bar_chart(
            "c",
            "Councils",
            "Each council against its target",
            ["Ashvale District Council", "Wyre"],
            [Series("Result", [Decimal(50), Decimal(80)])],
            top=100,
            targets=[Decimal(95), Decimal(90)],
        )
    )
    targets = [x for x in root.iter(f"{SVG}line") if x.get("class") == "app-chart__target"]
    assert len(targets) == 2 and all(t.get("stroke-dasharray") for t in targets)
    first, second = bars(root)
    assert height(first) == pytest.approx(100)  # 50 of a scale topped at 100, not at 80
    assert height(second) == pytest.approx(160)
    assert "Ashvale District Council" in texts(root)  # a long name wraps, whole
