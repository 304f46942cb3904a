"""Acceptance: thousands of malformed or forged webhook requests -> never a 5xx, nothing credited.

Real paid invoices exist at the stand-in for real pending purchases, but their genuine updates are
never delivered. Hypothesis then sends: those genuine bodies with forged signatures; arbitrary
bytes and headers; properly signed JSON of every shape; and properly signed updates each broken
in one field. The webhook must answer 400/401/413 (or 200 for well-formed, signed updates, which are
stored as claims: unknown invoice, mismatched amount), and no purchase may be paid, while the
confirmation worker asks Crypto Pay about every claim.
"""
from __future__ import annotations

from decimal import Decimal

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.payments.conftest import CRYPTOPAY_TOKEN, Harness
from tests.payments.webhooks import post, sign, update_body
from tests.support.wait import wait_for

EXAMPLES = 2500

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=12)
not_a_decimal_string = (st.floats() | st.booleans() | st.none() | st.lists(st.integers(), max_size=2)
                        | st.sampled_from(["NaN", "Infinity", "-1", "1e999999999", "", " ", "1,5", "0x10",
                                           "1" * 60, "3.0000000000000000000001", "\x00", "½"]))
# One invalid value per field of an update; each makes the update unusable as a payment.
BREAKERS = {
    "update_id": st.text(max_size=5) | st.floats() | st.none() | st.just(2**70) | st.booleans(),
    "update_type": st.integers() | st.none() | st.lists(st.text(), max_size=2),
    "request_date": st.integers() | st.lists(st.integers(), max_size=2) | st.text(min_size=65, max_size=80),
    "payload": json_scalars | st.lists(json_scalars, max_size=3),
    "invoice_id": st.integers(max_value=0) | st.just(2**64) | st.text(max_size=8) | st.floats() | st.booleans()
    | st.none(),
    "status": st.text(max_size=12).filter(lambda s: s != "paid") | st.integers() | st.none(),
    "currency_type": st.text(max_size=8).filter(lambda s: s not in ("crypto", "fiat")) | st.integers(),
    "fiat": st.text(min_size=17, max_size=20) | st.sampled_from(["", "U$D", "usd\x00"]) | st.integers(),
    "amount": not_a_decimal_string,
    "paid_asset": st.sampled_from(["", "US DT", "USDT\n", "ÜSDT"]) | st.integers() | st.lists(st.text(), max_size=2),
    "paid_amount": not_a_decimal_string,
    "accepted_assets": st.text(max_size=10) | st.lists(st.integers(), min_size=1, max_size=3),
}
UPDATE_FIELDS = ("update_id", "update_type", "request_date", "payload")


@pytest.fixture
async def fuzz_target(payments: Harness):
    """Paid invoices whose genuine updates we keep, never delivered; one shared HTTP session."""
    payments.cryptopay.set_webhook(None)
    genuine = []
    for plan in (1, 2):
        user = await payments.user()
        invoice = await payments.invoice(user, plan_id=plan)
        genuine.append(await payments.cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id)))
    async with aiohttp.ClientSession() as session:
        yield payments, genuine, session

    # Every claim the storm left is judged by Crypto Pay in the end, and none of them paid for anything.
    async def all_judged() -> bool:
        return await payments.fetchval("SELECT count(*) FROM payment_claims WHERE state = 'pending'") == 0
    await wait_for(all_judged, timeout=30, message="every stored claim confirmed or contradicted")
    assert await credited(payments) == 0
    assert await payments.fetchval("SELECT count(*) FROM payment_claims WHERE state = 'confirmed'") == 0


def _mutated(genuine: dict, field: str, value: object) -> bytes:
    update = orjson.loads(update_body(genuine))
    if field in UPDATE_FIELDS:
        update[field] = value
    else:
        update["payload"][field] = value
    return orjson.dumps(update, option=orjson.OPT_NON_STR_KEYS) if _dumpable(update) else b"{"


def _dumpable(value: object) -> bool:
    try:
        orjson.dumps(value)
        return True
    except (TypeError, orjson.JSONEncodeError):
        return False


# What an HTTP client can put in a header value at all (no control characters), non-ASCII included.
header_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=70)
requests = st.one_of(
    # A genuine body whose signature is not the one for it.
    st.tuples(st.just("forged_genuine"), st.integers(0, 1), header_text | st.just(sign(b"x"))
              | st.just(sign(b"", CRYPTOPAY_TOKEN + "!"))),
    # Arbitrary bytes, signed or not.
    st.tuples(st.just("bytes"), st.binary(max_size=300), st.booleans()),
    # Any JSON at all, properly signed.
    st.tuples(st.just("json"), json_values, st.just(True)),
    # A genuine update broken in exactly one field, properly signed.
    st.sampled_from(sorted(BREAKERS)).flatmap(
        lambda field: st.tuples(st.just("broken"), st.integers(0, 1), st.tuples(st.just(field), BREAKERS[field]))),
    # Well-formed, signed, and still not a valid payment for anything of ours.
    st.tuples(st.just("not_ours"), st.integers(0, 1), st.integers(min_value=10**6, max_value=2**62)),
    st.tuples(st.just("wrong_amount"), st.integers(0, 1),
              st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False)),
)
headers = st.dictionaries(st.sampled_from(["Content-Type", "X-Forwarded-For", "Content-Encoding", "Accept"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
                          max_size=2)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(request=requests, extra_headers=headers)
async def test_no_malformed_or_forged_request_gets_a_5xx_or_credits_anything(fuzz_target, request, extra_headers):
    payments, genuine, session = fuzz_target
    kind = request[0]
    if kind == "forged_genuine":
        body = update_body(genuine[request[1]])
        signature = request[2]
    elif kind == "bytes":
        body = request[1]
        signature = sign(body) if request[2] else None
    elif kind == "json":
        body = orjson.dumps(request[1], option=orjson.OPT_NON_STR_KEYS) if _dumpable(request[1]) else b"["
        signature = sign(body)
    elif kind == "broken":
        body = _mutated(genuine[request[1]], *request[2])
        signature = sign(body)
    elif kind == "not_ours":
        body = update_body({**genuine[request[1]], "invoice_id": request[2], "payload": "elsewhere"})
        signature = sign(body)
    else:
        price = genuine[request[1]]["amount"]
        # Numerically: "8.00" for an 8 invoice is the right amount, which Crypto Pay bears out.
        amount = str(request[2]) if request[2] != Decimal(price) else "0.01"
        body = update_body({**genuine[request[1]], "amount": amount})
        signature = sign(body)

    status, answer = await post(payments.webhook_url, body, signature, headers=extra_headers, session=session)
    assert status < 500, (kind, body[:200], answer)
    event(f"{kind} -> {status}")
    if kind == "forged_genuine" or signature is None:
        assert status == 401
    if status == 200:
        assert answer.get("ignored") or answer.get("claim") in ("recorded", "seen"), answer
    assert await credited(payments) == 0, (kind, body[:200], answer)


async def credited(payments: Harness) -> int:
    return await payments.fetchval(
        """SELECT (SELECT count(*) FROM purchases WHERE status = 'paid') + (SELECT count(*) FROM activations)
                  + (SELECT count(*) FROM balance_ledger) + (SELECT count(*) FROM subscriptions)""")
