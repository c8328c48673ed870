"""An outturn's surplus or deficit shared in proportion to what each partner was charged,
to the penny (billing.outturn.share_difference)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing.outturn import share_difference

D = Decimal


def test_a_deficit_of_37500_01_on_40_35_25_gives_the_odd_penny_to_the_largest_remainder():
    charged = {"ASH": D("480000.00"), "BRK": D("420000.00"), "CLD": D("300000.00")}
    assert share_difference(D("37500.01"), charged) == {
        "ASH": D("15000.01"),  # 15,000.004: the largest remainder
        "BRK": D("13125.00"),  # 13,125.0035
        "CLD": D("9375.00"),  # 9,375.0025
    }


def test_a_surplus_is_refunded_on_the_same_shares():
    charged = {"ASH": D("480000.00"), "BRK": D("420000.00"), "CLD": D("300000.00")}
    assert share_difference(D("-100.00"), charged) == {
        "ASH": D("-40.00"),
        "BRK": D("-35.00"),
        "CLD": D("-25.00"),
    }


def test_a_partner_charged_nothing_or_a_net_credit_shares_nothing():
    charged = {"ASH": D("900.00"), "BRK": D("0.00"), "CLD": D("-50.00")}
    assert share_difference(D("10.00"), charged) == {
        "ASH": D("10.00"),
        "BRK": D("0.00"),
        "CLD": D("0.00"),
    }


pence = st.integers(min_value=-(10**11), max_value=10**11).map(lambda p: D(p) / 100)
charges = st.dictionaries(
    st.sampled_from(["ASH", "BRK", "CLD", "HOLM", "WEX"]),
    st.integers(min_value=1, max_value=10**10).map(lambda p: D(p) / 100),
    min_size=1,
)


@given(pence, charges)
def test_the_shares_add_up_to_the_difference_and_each_is_within_a_penny_of_its_proportion(
    difference, charged
):
    shares = share_difference(difference, charged)
    assert sum(shares.values(), D(0)) == difference
    whole = sum(charged.values(), D(0))
    for client, share in shares.items():
        assert share == share.quantize(D("0.01"))
        assert abs(share - difference * charged[client] / whole) < D("0.01")
