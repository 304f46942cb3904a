"""Property tests of the promo price arithmetic (issue 12, acceptance): for every plan and code,
the price is never negative, never more than the list price, in whole cents and whole Stars, and
free in one currency exactly when it is free in the other."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from common.shop.plans import Plan
from common.shop.pricing import CENT, Discount, quote

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=2)
plans = st.builds(Plan, id=st.integers(1, 10), code=st.just("p"), days=st.integers(1, 3650), price=prices,
                  stars_price=st.integers(1, 10_000_000), traffic_gb=st.integers(0, 1000))
discounts = st.one_of(
    st.none(),
    st.builds(Discount, kind=st.just("percent"), value=st.integers(1, 100).map(Decimal)),
    st.builds(Discount, kind=st.just("amount"), value=prices),
    st.builds(Discount, kind=st.just("days"), value=st.integers(1, 3650).map(Decimal)),
    st.builds(Discount, kind=st.just("free_plan"), value=st.just(Decimal(0))),
)


@settings(max_examples=2000, deadline=None)
@given(plans, discounts)
def test_a_price_stays_between_free_and_the_list_price(plan: Plan, discount: Discount | None):
    price = quote(plan, discount)
    assert Decimal(0) <= price.amount <= plan.price
    assert price.amount == price.amount.quantize(CENT)
    assert isinstance(price.stars, int) and 0 <= price.stars <= plan.stars_price
    assert price.free == (price.amount == 0) == (price.stars == 0)
    assert (price.list_amount, price.list_stars) == (plan.price, plan.stars_price)
    assert price.days >= plan.days
    if discount is None or discount.kind == "days":
        assert (price.amount, price.stars) == (plan.price, plan.stars_price)


@given(plans, st.integers(1, 100))
def test_percent_off_is_that_share_of_the_price_rounded_half_up_to_the_cent(plan: Plan, percent: int):
    price = quote(plan, Discount("percent", Decimal(percent)))
    exact = plan.price * (100 - percent) / 100
    assert abs(price.amount - exact) <= Decimal("0.005")
    assert price.free == (percent == 100 or exact < Decimal("0.005"))


@given(plans, prices)
def test_an_amount_off_takes_exactly_that_amount_or_makes_it_free(plan: Plan, off: Decimal):
    price = quote(plan, Discount("amount", off))
    assert price.amount == max(plan.price - off, Decimal(0))


def test_known_prices():
    month = Plan(id=1, code="month_1", days=30, price=Decimal("3.00"), stars_price=150, traffic_gb=100)
    assert (quote(month, Discount("percent", Decimal(20))).amount, quote(month, Discount("percent", Decimal(20))).stars) \
        == (Decimal("2.40"), 120)
    assert quote(month, Discount("percent", Decimal(99))).stars == 2            # 1.5 Stars rounds half up
    assert quote(month, Discount("amount", Decimal("2.99"))).stars == 1         # 0.01 USD is never 0 Stars
    assert quote(month, Discount("amount", Decimal("5.00"))).free
    assert quote(month, Discount("days", Decimal(7))).days == 37
