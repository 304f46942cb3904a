"""Property tests of the plan-change arithmetic (issue 12.4): what is left is never worth more
than was paid for it, free days are worth nothing, the charge is never negative nor more than the
new plan's price, a change that costs nothing never gives money back (only days), and cents and
days are whole."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from common.shop.plans import Plan
from common.shop.proration import CENT, Segment, convert, left_of

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
plans = st.builds(Plan, id=st.integers(1, 10), code=st.just("p"), days=st.integers(1, 3650), price=money,
                  stars_price=st.integers(1, 10_000_000), traffic_gb=st.integers(0, 1000))
segments = st.lists(st.builds(Segment, days=st.integers(1, 3650).map(Decimal),
                              value=st.one_of(st.just(Decimal(0)), money)), max_size=12)
left = st.decimals(min_value=Decimal(0), max_value=Decimal(20000), places=4)


@settings(max_examples=1500, deadline=None)
@given(segments, left)
def test_value_left_is_at_most_what_was_paid_and_free_days_are_worth_nothing(grants: list[Segment], days: Decimal):
    result = left_of(grants, days)
    assert Decimal(0) <= result.value <= sum((s.value for s in grants), Decimal(0))
    assert result.value == result.value.quantize(CENT)
    assert result.paid_days + result.free_days == days
    free_only = [Segment(days=s.days, value=Decimal(0)) for s in grants]
    assert left_of(free_only, days).value == 0


@given(segments, left, left)
def test_more_time_left_is_never_worth_less(grants: list[Segment], a: Decimal, b: Decimal):
    low, high = sorted((a, b))
    assert left_of(grants, low).value <= left_of(grants, high).value


@settings(max_examples=1500, deadline=None)
@given(st.decimals(min_value=Decimal(0), max_value=Decimal("1000000"), places=2), plans)
def test_a_change_charges_the_difference_or_gives_days_never_money(value: Decimal, plan: Plan):
    result = convert(value, plan)
    assert Decimal(0) <= result.charge <= plan.price and result.charge == result.charge.quantize(CENT)
    assert isinstance(result.days, int) and result.days >= plan.days
    if result.charge > 0:
        assert result.days == plan.days and result.charge == plan.price - value
    else:
        # The days bought are worth no more than the value (whole days, rounded down).
        assert result.days * plan.price <= max(value, plan.price) * plan.days


def test_known_changes():
    quarter = Plan(id=2, code="month_3", days=90, price=Decimal("8.00"), stars_price=400, traffic_gb=300)
    month = Plan(id=1, code="month_1", days=30, price=Decimal("3.00"), stars_price=150, traffic_gb=100)
    # 45 of 90 paid days left: 4.00 left, which buys 40 days of the 3.00/30-day plan.
    half = left_of([Segment(Decimal(90), Decimal("8.00"))], Decimal(45))
    assert half.value == Decimal("4.00") and convert(half.value, month).days == 40
    # 15 of 30 paid days left, behind 30 gift days already used: 1.50 left; the quarter costs 6.50 more.
    mixed = left_of([Segment(Decimal(30), Decimal("3.00")), Segment(Decimal(30), Decimal(0))], Decimal(15))
    assert (mixed.value, mixed.free_days) == (Decimal("1.50"), Decimal(0))
    assert convert(mixed.value, quarter).charge == Decimal("6.50")
    # 45 days left of a 30-day purchase on top of 30 gift days: the gift's last 15 are free, the 30 paid intact.
    both = left_of([Segment(Decimal(30), Decimal("3.00")), Segment(Decimal(30), Decimal(0))], Decimal(45))
    assert (both.value, both.paid_days, both.free_days) == (Decimal("3.00"), Decimal(30), Decimal(15))
