"""Small pieces on their own: the signature check, the payload, amount parsing, nudges."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from decimal import Decimal

import pytest
from pydantic import ValidationError

from common.ipc.errors import RpcError
from common.ipc.nudges import PeerNudges
from services.payments import payload
from services.payments.provider_models import CryptoInvoice
from services.payments.signature import SignatureVerifier
from tests.support.wait import wait_for

TOKEN = "1234:AAtoken"
BODY = b'{"update_id":1}'
GOOD = hmac.new(hashlib.sha256(TOKEN.encode()).digest(), BODY, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("body, signature, valid", [
    (BODY, GOOD, True),
    (BODY + b" ", GOOD, False),
    (BODY, GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1"), False),
    (BODY, GOOD.upper(), False),
    (BODY, None, False),
    (BODY, "", False),
    (BODY, GOOD + "00", False),
    (BODY, "é" * 64, False),
    (BODY, hmac.new(TOKEN.encode(), BODY, hashlib.sha256).hexdigest(), False),  # key must be sha256(token)
])
def test_the_signature_is_the_hmac_of_the_raw_body_keyed_by_the_token_digest(body, signature, valid):
    assert SignatureVerifier(TOKEN).valid(body, signature) is valid


def test_without_a_token_nothing_is_valid():
    assert not SignatureVerifier(None).valid(BODY, GOOD)


@pytest.mark.parametrize("text, expected", [
    ("atcs:1", 1), ("atcs:123456789", 123456789), ("atcs:0", None), ("atcs:01", None), ("atcs:", None),
    ("atcs:1 ", None), ("x:1", None), (None, None), (7, None), ("atcs:" + "9" * 19, None),
])
def test_only_payloads_we_wrote_name_a_purchase(text, expected):
    assert payload.decode(text) == expected
    if expected:
        assert payload.encode(expected) == text


def invoice(**changes):
    base = {"invoice_id": 1, "status": "paid", "amount": "3.00", "paid_amount": "0.00005"}
    return CryptoInvoice.model_validate({**base, **changes})


def test_amounts_are_exact_decimals():
    parsed = invoice()
    assert parsed.amount == Decimal("3.00") and parsed.paid_amount == Decimal("0.00005")
    assert invoice(amount=3).amount == Decimal(3)


@pytest.mark.parametrize("amount", [3.0, True, None, "NaN", "inf", "-1", "1e20", "1" * 50, "0." + "0" * 30 + "1",
                                    "", "abc", [], {}])
def test_amounts_that_are_not_exact_bounded_decimals_are_refused(amount):
    with pytest.raises(ValidationError):
        invoice(amount=amount)


class Client:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls: list[float] = []

    async def call(self, method, body=None, *, timeout=None):
        self.calls.append(time.monotonic())
        await asyncio.sleep(0.01)  # the round trip being simulated
        if self.fail:
            raise RpcError("deadline_exceeded", "no answer")
        return method.result.model_validate({"pending": 0})


async def test_pokes_are_coalesced_and_a_silent_peer_is_left_alone_for_a_while():
    up, down = Client(fail=False), Client(fail=True)
    nudger = PeerNudges(lambda peer: up if peer == "bot" else down, 0.1, ("vpn_gateway", "bot"))
    task = asyncio.create_task(nudger.run())
    try:
        for _ in range(100):
            nudger.nudge("vpn_gateway", "bot")
        await wait_for(lambda: len(up.calls) >= 1 and len(down.calls) >= 1)
        for _ in range(100):
            nudger.nudge("vpn_gateway", "bot")
            await asyncio.sleep(0)
        await wait_for(lambda: nudger.failed >= 2, timeout=3)
        assert len(up.calls) <= 3                       # 200 pokes, a few calls
        assert down.calls[1] - down.calls[0] >= 0.45    # the failed peer waited out its backoff
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
