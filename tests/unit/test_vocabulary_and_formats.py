"""The vocabulary (one label and one colour per code) and the shared formatting helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from opsplatform.entrypoints.formats import (
    london_text,
    measure_text,
    money_text,
    month_text,
    page_of,
    quantity_text,
    quarter_text,
    tag,
)
from opsplatform.entrypoints.web.charts import FILLS as CHART_FILLS
from opsplatform.periods import Quarter
from opsplatform.vocabulary import (
    ImportStatus,
    KpiStatus,
    LineKind,
    QueryStatus,
    Role,
    Rule,
    RunStatus,
    StatementStatus,
)
from sla.publication import FILLS as WORKBOOK_FILLS

TERMS = (ImportStatus, KpiStatus, LineKind, QueryStatus, Role, Rule, RunStatus, StatementStatus)


def test_each_code_is_its_stored_text_with_one_label_and_is_found_by_its_code():
    for term in TERMS:
        labels = [member.label for member in term]
        assert all(labels) and len(set(labels)) == len(labels), term.__name__
        for member in term:
            assert term(member.value) is member
            assert member == member.value and f"{member}" == member.value


def test_amber_is_one_colour_on_pages_charts_and_workbooks():
    assert tag(KpiStatus.AMBER) == (
        '<strong class="govuk-tag govuk-tag--orange">Amber: near target</strong>'
    )
    for status in KpiStatus:
        assert status.colour in CHART_FILLS and status.colour in WORKBOOK_FILLS
    assert [s.word for s in KpiStatus] == ["Green", "Amber", "Red", "No data"]


def test_labels_are_escaped_in_a_tag():
    assert "&lt;" in tag(LineKind.CHARGE, "<b>")


def test_figures_read_the_same_everywhere():
    assert money_text(Decimal("-1234.5")) == "-£1,234.50"
    assert money_text(None) == "no data"
    assert quantity_text(Decimal("1234.500")) == "1,234.5"
    assert measure_text(Decimal("98.04"), "percent") == "98%"
    summer = datetime(2026, 6, 3, 13, 5, tzinfo=UTC)
    assert london_text(summer) == "3 Jun 2026 14:05"
    assert london_text(summer, with_time=False) == "3 Jun 2026"


def test_money_puts_the_minus_before_the_pound_and_periods_read_in_words():
    assert money_text(Decimal("-888")) == "-£888.00"
    assert money_text(Decimal("-226.08"), signed=True) == "-£226.08"
    assert money_text(Decimal("226.08"), signed=True) == "+£226.08"
    assert month_text("2026-10") == "October 2026"
    assert quarter_text("2026-27-Q2") == "Q2 2026-27, July to September 2026"
    assert quarter_text(Quarter.parse("2026-27-Q4")) == "Q4 2026-27, January to March 2027"


def test_there_is_no_page_past_the_last_or_before_the_first():
    assert page_of(0, 50, 1) is not None
    assert page_of(0, 50, 2) is None
    assert page_of(100, 50, 2) is not None
    assert page_of(101, 50, 3) is not None
    assert page_of(100, 50, 3) is None
    assert page_of(100, 50, 0) is None


@given(count=st.integers(0, 5000), size=st.integers(1, 200))
def test_the_pages_of_a_list_show_every_row_exactly_once(count, size):
    rows = []
    number = 1
    while (page := page_of(count, size, number)) is not None:
        rows.extend(range(page.first, page.last + 1))
        assert page.numbers()[0] == 1 and page.numbers()[-1] == page.pages
        number += 1
    assert rows == list(range(1, count + 1))
