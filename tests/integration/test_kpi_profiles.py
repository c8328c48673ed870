"""Cumulative in-year KPIs (`as_at`) and profiled targets (setup sheet `Profiles`), via the
command line: a quarter reads its latest month's figures to date, and is judged against the
profile of its last month with figures or events (CONTRACT.md section 10).

Worked by hand. Council tax collected to date: WYR 7.1m of 10m by October and 8.0m by
November (80%, not the 75.5% a sum of the months gives); LAN 6.0m of 8m by October only
(75%); PRS 71 of 100 by October (71%). Profiles: every council 72% in October (no amber:
as far below as the KPI's, 97 - 95, so 70%) and 80% (amber 78%) in November; LAN's own
70% (amber 65%) in October.
"""

from __future__ import annotations

from openpyxl import load_workbook

from opsplatform.periods import Quarter
from tests.integration.test_sla import (
    KPI_HEADER,
    PAY_5D,
    assess,
    centre_with,
    figures,
    public_usage,
)

Q3 = "2026-27-Q3"
CTAX = [
    "CTAX-COLL",
    "Council tax collected in year, to date",
    None,
    "percent",
    "higher",
    97,
    95,
    "as_at",
    None,
    None,
]
PROFILE_HEADER = ["kpi", "client", "month", "target", "amber"]
PROFILES = [
    PROFILE_HEADER,
    ["CTAX-COLL", None, "2026-10", 72, None],
    ["CTAX-COLL", None, "2026-11", 80, 78],
    ["CTAX-COLL", "LAN", "2026-10", 70, 65],
]
COLLECTED = [
    ["CTAX-COLL", "WYR", "2026-10", 7100000, 10000000],
    ["CTAX-COLL", "WYR", "2026-11", 8000000, 10000000],
    ["CTAX-COLL", "LAN", "2026-10", 6000000, 8000000],
    ["CTAX-COLL", "PRS", "2026-10", 71, 100],
]


def test_a_cumulative_rate_is_its_latest_months_figures_to_date(cli, tmp_path):
    centre_with(cli, tmp_path, [CTAX])
    figures(cli, tmp_path, COLLECTED)
    results = assess(cli, Q3)
    wyr = results[("CTAX-COLL", "WYR")]
    assert float(wyr["value"]) == 80  # November's 8.0m of 10m, not 75.5
    assert (float(wyr["numerator"]), float(wyr["denominator"])) == (8000000, 10000000)
    # no profile: judged against the 97% due by March
    assert (wyr["target"], wyr["status"], wyr["profile_month"]) == (97, "red", None)
    centre = results[("CTAX-COLL", None)]
    # each council's latest figures to date, added up: 8.0m + 6.0m + 71 of 10m + 8m + 100
    assert (float(centre["numerator"]), float(centre["denominator"])) == (14000071, 18000100)


def test_a_profile_judges_the_quarter_by_its_last_month_with_figures(cli, tmp_path):
    centre_with(cli, tmp_path, [CTAX], Profiles=PROFILES)
    figures(cli, tmp_path, COLLECTED)
    results = assess(cli, Q3)
    wyr = results[("CTAX-COLL", "WYR")]
    assert (wyr["target"], wyr["amber"], wyr["status"]) == (80, 78, "green")
    assert wyr["profile_month"] == "2026-11"
    lan = results[("CTAX-COLL", "LAN")]  # its own October profile beats every council's
    assert (lan["target"], lan["amber"], lan["status"], lan["profile_month"]) == (
        70,
        65,
        "green",
        "2026-10",
    )
    prs = results[("CTAX-COLL", "PRS")]  # 71% against 72%, amber from 70%
    assert (prs["target"], prs["amber"], prs["status"]) == (72, 70, "amber")
    centre = results[("CTAX-COLL", None)]  # the latest month of any council: November
    assert (centre["target"], centre["profile_month"]) == (80, "2026-11")
    assert round(float(centre["value"]), 2) == 77.78 and centre["status"] == "red"


def test_a_profile_of_a_month_after_the_figures_does_not_apply(cli, tmp_path):
    later = [PROFILE_HEADER, ["CTAX-COLL", None, "2026-12", 85, 83]]
    centre_with(cli, tmp_path, [CTAX], Profiles=later)
    figures(cli, tmp_path, COLLECTED)
    wyr = assess(cli, Q3)[("CTAX-COLL", "WYR")]
    assert (wyr["target"], wyr["profile_month"]) == (97, None)


def test_an_event_kpi_is_judged_by_the_profile_of_its_last_month_with_events(cli, tmp_path):
    # WYR's payroll queries complete on 8 May and 1 June (twice): 2 of 3 within 5 working
    # days, 66.7%; June is the quarter's last month with events, so June's profile applies
    profiles = [
        PROFILE_HEADER,
        ["PAY-5D", None, "2026-05", 99, 98],
        ["PAY-5D", None, "2026-06", 60, 50],
    ]
    centre_with(cli, tmp_path, [[*PAY_5D, None]], public_usage(), Profiles=profiles)
    wyr = assess(cli, "2026-27-Q1")[("PAY-5D", "WYR")]
    assert round(float(wyr["value"]), 1) == 66.7
    assert (wyr["target"], wyr["status"], wyr["profile_month"]) == (60, "green", "2026-06")


def test_a_final_result_keeps_its_profile_and_the_publication_names_it(cli, tmp_path):
    centre_with(cli, tmp_path, [CTAX], Profiles=PROFILES)
    figures(cli, tmp_path, COLLECTED)
    cli("sla", "assess", Q3, "--final")
    # a profile changed after finalising changes nothing
    changed = [PROFILE_HEADER, ["CTAX-COLL", None, "2026-11", 60, 50]]
    cli("setup", "load", _book(tmp_path, changed))
    wyr = assess(cli, Q3)[("CTAX-COLL", "WYR")]
    assert (wyr["final"], wyr["target"], wyr["profile_month"]) == (True, 80, "2026-11")
    out = tmp_path / "publication.xlsx"
    cli("sla", "publish", Q3, "-o", out)
    sheet = load_workbook(out)["KPIs"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[1] == "CTAX-COLL")
    assert row[header.index("target set by")] == "The profile for November 2026"
    assert row[header.index("target")] == 80


def test_bad_profiles_are_refused_naming_the_row_and_nothing_is_written(cli, tmp_path):
    bad = [
        PROFILE_HEADER,
        ["CTAX-COLL", None, "2026-13", 80, 78],
        ["NOPE", None, "2026-11", 80, 78],
        ["CTAX-COLL", "XYZ", "2026-11", 80, 78],
        ["CTAX-COLL", None, "2026-11", 80, 85],
    ]
    centre_with(cli, tmp_path, [CTAX])
    result = cli("setup", "load", _book(tmp_path, bad), expect=1)
    out = result.stdout + result.stderr
    assert "Profiles" in out
    for problem in ("2026-13", "unknown KPI 'NOPE'", "unknown client 'XYZ'", "amber must not"):
        assert problem in out, problem
    figures(cli, tmp_path, COLLECTED)
    assert assess(cli, Q3)[("CTAX-COLL", "WYR")]["profile_month"] is None


def test_a_rate_to_date_is_compared_with_the_same_quarter_last_year_not_the_last(
    cli, database, tmp_path
):
    from sla.publication import trend
    from sla.service import assess_quarter

    centre_with(cli, tmp_path, [CTAX])
    figures(
        cli,
        tmp_path,
        [
            ["CTAX-COLL", "WYR", "2026-06", 29, 100],  # last quarter: earlier in the year
            ["CTAX-COLL", "WYR", "2025-09", 57, 100],  # the same quarter last year
            ["CTAX-COLL", "WYR", "2026-09", 56, 100],
        ],
    )
    with database.transaction() as session:
        wyr = next(r for r in assess_quarter(session, Quarter.parse("2026-27-Q2")) if r.client)
    assert (wyr.previous, wyr.last_year) == (29, 57)
    assert trend(wyr) == "▼ worsening on last year"  # not "improving" on June's 29%


def _book(tmp_path, profiles):
    from tests.support import write_book

    return write_book(tmp_path / "profiles.xlsx", {"Profiles": profiles})


assert KPI_HEADER[-2:] == ["method", "limit"]  # the KPIs above add the calendar after them
