"""Crypto Pay stand-in: the API surface (auth, methods, validation, expiry, pay page)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from sandbox.cryptopay import CryptoPayStandIn
from sandbox.cryptopay.invoices import NewInvoice

TOKEN = "4321:AAtestTokenForCryptoPay"


@pytest.fixture
async def cryptopay():
    async with CryptoPayStandIn(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, cp, method, *, token=TOKEN, verb="POST", **kwargs):
    headers = {"Crypto-Pay-API-Token": token} if token is not None else {}
    async with http.request(verb, f"{cp.url}/api/{method}", headers=headers, **kwargs) as response:
        return response.status, await response.json()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- auth and envelope -------------------------------------------------------
async def test_missing_token_gets_the_real_401_envelope(cryptopay, http):
    status, body = await call(http, cryptopay, "getMe", token=None, verb="GET")
    assert status == 401
    assert body == {"ok": False, "error": {"code": 401, "name": "UNAUTHORIZED"}}


async def test_wrong_token_is_unauthorized_for_every_method(cryptopay, http):
    for method in ("getMe", "createInvoice", "getInvoices", "deleteInvoice"):
        status, body = await call(http, cryptopay, method, token=TOKEN + "x", json={"asset": "USDT", "amount": "1"})
        assert (status, body["error"]["name"]) == (401, "UNAUTHORIZED"), method
    assert cryptopay.store.count() == 0


async def test_unknown_method_is_405_method_not_found(cryptopay, http):
    status, body = await call(http, cryptopay, "createCheckk", verb="GET")
    assert status == 405
    assert body == {"ok": False, "error": {"code": 405, "name": "METHOD_NOT_FOUND"}}


async def test_get_me(cryptopay, http):
    status, body = await call(http, cryptopay, "getMe", verb="GET")
    assert status == 200 and body["ok"] is True
    assert set(body["result"]) == {"app_id", "name", "payment_processing_bot_username"}


# ---- createInvoice -----------------------------------------------------------
async def test_create_crypto_invoice_has_the_real_fields(cryptopay, http):
    status, body = await call(
        http,
        cryptopay,
        "createInvoice",
        json={"asset": "USDT", "amount": "12.50", "description": "VPN 30 days", "payload": "order:77", "expires_in": 900},
    )
    assert status == 200 and body["ok"] is True
    invoice = body["result"]
    assert isinstance(invoice["invoice_id"], int)
    assert invoice["currency_type"] == "crypto"
    assert invoice["asset"] == "USDT"
    assert invoice["amount"] == "12.5"  # a decimal string, never a float
    assert invoice["status"] == "active"
    assert invoice["payload"] == "order:77"
    assert invoice["description"] == "VPN 30 days"
    assert invoice["allow_comments"] is True and invoice["allow_anonymous"] is True
    assert invoice["bot_invoice_url"] == f"{cryptopay.url}/pay/{invoice['hash']}"
    assert invoice["mini_app_invoice_url"].startswith(invoice["bot_invoice_url"])
    assert invoice["web_app_invoice_url"].startswith(invoice["bot_invoice_url"])
    created = parse_iso(invoice["created_at"])
    assert parse_iso(invoice["expiration_date"]) - created == timedelta(seconds=900)
    for absent in ("paid_at", "paid_asset", "paid_amount", "fee_amount", "fiat", "accepted_assets"):
        assert absent not in invoice, absent


async def test_parameters_arrive_by_query_string_or_form(cryptopay, http):
    status, body = await call(
        http, cryptopay, "createInvoice", verb="GET",
        params={"asset": "TON", "amount": "3", "allow_comments": "false", "expires_in": "60"},
    )
    assert status == 200, body
    assert body["result"]["allow_comments"] is False and body["result"]["asset"] == "TON"
    status, body = await call(
        http, cryptopay, "createInvoice", data={"asset": "BTC", "amount": "0.0001", "allow_anonymous": "false"}
    )
    assert status == 200, body
    assert body["result"]["allow_anonymous"] is False and body["result"]["amount"] == "0.0001"


async def test_fiat_invoice_takes_accepted_assets_as_a_comma_separated_string(cryptopay, http):
    status, body = await call(
        http, cryptopay, "createInvoice",
        json={"currency_type": "fiat", "fiat": "RUB", "amount": "299", "accepted_assets": "USDT,TON"},
    )
    assert status == 200, body
    invoice = body["result"]
    assert (invoice["fiat"], invoice["accepted_assets"], invoice["amount"]) == ("RUB", ["USDT", "TON"], "299")
    assert "asset" not in invoice
    # The real API fails with 500 APP_ERROR when the list is sent as a JSON array.
    status, body = await call(
        http, cryptopay, "createInvoice",
        json={"currency_type": "fiat", "fiat": "RUB", "amount": "299", "accepted_assets": ["USDT"]},
    )
    assert (status, body["error"]) == (500, {"code": 500, "name": "APP_ERROR"})


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"asset": "USDT", "amount": "0.001"}, "AMOUNT_TOO_SMALL"),
        ({"asset": "BTC", "amount": "100"}, "AMOUNT_TOO_BIG"),
        ({"asset": "USDT", "amount": "-1"}, "AMOUNT_INVALID"),
        ({"asset": "USDT", "amount": "ten"}, "AMOUNT_INVALID"),
        ({"asset": "USDT"}, "AMOUNT_INVALID"),
        ({"asset": "DOGE", "amount": "1"}, "ASSET_INVALID"),
        ({"amount": "1"}, "ASSET_INVALID"),
        ({"currency_type": "gold", "amount": "1"}, "CURRENCY_TYPE_INVALID"),
        ({"currency_type": "fiat", "fiat": "XXX", "amount": "1"}, "FIAT_INVALID"),
        ({"currency_type": "fiat", "fiat": "USD", "amount": "1", "accepted_assets": "USDT,DOGE"}, "ACCEPTED_ASSETS_INVALID"),
        ({"asset": "USDT", "amount": "1", "expires_in": 0}, "EXPIRES_IN_INVALID"),
        ({"asset": "USDT", "amount": "1", "expires_in": 2678401}, "EXPIRES_IN_INVALID"),
        ({"asset": "USDT", "amount": "1", "description": "d" * 1025}, "DESCRIPTION_TOO_LONG"),
        ({"asset": "USDT", "amount": "1", "hidden_message": "h" * 2049}, "HIDDEN_MESSAGE_TOO_LONG"),
        ({"asset": "USDT", "amount": "1", "paid_btn_name": "viewItem"}, "PAID_BTN_URL_INVALID"),
        ({"asset": "USDT", "amount": "1", "paid_btn_name": "pressMe", "paid_btn_url": "https://x"}, "PAID_BTN_NAME_INVALID"),
    ],
)
async def test_create_invoice_validation_errors(cryptopay, http, params, name):
    status, body = await call(http, cryptopay, "createInvoice", json=params)
    assert status == 400
    assert body == {"ok": False, "error": {"code": 400, "name": name}}
    assert cryptopay.store.count() == 0


async def test_payload_limit_is_4kb_of_utf8(cryptopay, http):
    exactly_4kb = "я" * 2048  # two bytes each
    status, body = await call(http, cryptopay, "createInvoice", json={"asset": "USDT", "amount": "1", "payload": exactly_4kb})
    assert status == 200 and body["result"]["payload"] == exactly_4kb
    status, body = await call(
        http, cryptopay, "createInvoice", json={"asset": "USDT", "amount": "1", "payload": exactly_4kb + "x"}
    )
    assert (status, body["error"]["name"]) == (400, "PAYLOAD_TOO_LONG")


# ---- getInvoices / deleteInvoice -----------------------------------------------
async def test_get_invoices_filters_and_pages(cryptopay, http):
    ids = []
    for amount in ("1", "2", "3"):
        _, body = await call(http, cryptopay, "createInvoice", json={"asset": "USDT", "amount": amount})
        ids.append(body["result"]["invoice_id"])
    await cryptopay.pay(ids[1])

    status, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"invoice_ids": f"{ids[0]},{ids[2]}"})
    assert status == 200
    assert [i["invoice_id"] for i in body["result"]["items"]] == [ids[2], ids[0]]  # newest first

    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"status": "paid"})
    assert [i["invoice_id"] for i in body["result"]["items"]] == [ids[1]]
    assert body["result"]["items"][0]["paid_amount"] == "2"

    _, body = await call(http, cryptopay, "getInvoices", json={"offset": 1, "count": 1})
    assert [i["invoice_id"] for i in body["result"]["items"]] == [ids[1]]

    for params, name in (({"count": 0}, "COUNT_INVALID"), ({"status": "expired"}, "STATUS_INVALID"),
                         ({"invoice_ids": "1,x"}, "INVOICE_IDS_INVALID")):
        status, body = await call(http, cryptopay, "getInvoices", verb="GET", params=params)
        assert (status, body["error"]["name"]) == (400, name)


async def test_get_invoices_by_ids_keeps_the_count_limit(cryptopay, http):
    """A client confirming many invoices in one call gets at most `count` of them (100 unless it says
    otherwise), and `count` is at most 1000, as with the real API."""
    ids = [cryptopay.store.create(NewInvoice(currency_type="crypto", amount=Decimal(1), asset="USDT")).invoice_id
           for _ in range(150)]
    listed = ",".join(map(str, ids))
    _, body = await call(http, cryptopay, "getInvoices", json={"invoice_ids": listed})
    assert len(body["result"]["items"]) == 100
    _, body = await call(http, cryptopay, "getInvoices", json={"invoice_ids": listed, "count": 150})
    assert sorted(i["invoice_id"] for i in body["result"]["items"]) == ids
    for count in (1001, 0):
        status, body = await call(http, cryptopay, "getInvoices", json={"invoice_ids": listed, "count": count})
        assert (status, body["error"]["name"]) == (400, "COUNT_INVALID")


async def test_delete_invoice(cryptopay, http):
    _, body = await call(http, cryptopay, "createInvoice", json={"asset": "USDT", "amount": "1"})
    invoice_id = body["result"]["invoice_id"]
    status, body = await call(http, cryptopay, "deleteInvoice", json={"invoice_id": invoice_id})
    assert (status, body) == (200, {"ok": True, "result": True})
    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"invoice_ids": str(invoice_id)})
    assert body["result"]["items"] == []
    status, body = await call(http, cryptopay, "deleteInvoice", json={"invoice_id": invoice_id})
    assert (status, body["error"]["name"]) == (400, "INVOICE_NOT_FOUND")


# ---- expiry and the pay page ---------------------------------------------------
async def test_invoice_expires_after_expires_in(cryptopay, http):
    _, body = await call(http, cryptopay, "createInvoice", json={"asset": "USDT", "amount": "1", "expires_in": 60})
    invoice_id = body["result"]["invoice_id"]
    async with http.post(f"{cryptopay.url}/_control/clock", json={"advance": 59}) as response:
        assert response.status == 200
    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"invoice_ids": str(invoice_id)})
    assert body["result"]["items"][0]["status"] == "active"
    cryptopay.advance_time(1)
    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"invoice_ids": str(invoice_id)})
    assert body["result"]["items"][0]["status"] == "expired"
    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"status": "active"})
    assert body["result"]["items"] == []
    async with http.post(f"{cryptopay.url}/_control/invoices/{invoice_id}/pay") as response:
        assert response.status == 409  # an expired invoice cannot be paid


async def test_pay_page_pays_once(cryptopay, http):
    _, body = await call(http, cryptopay, "createInvoice", json={"asset": "TON", "amount": "2", "description": "<b>30 days</b>"})
    invoice = body["result"]
    async with http.get(invoice["bot_invoice_url"]) as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
    assert 'id="pay"' in page and "&lt;b&gt;30 days&lt;/b&gt;" in page  # escaped
    async with http.post(invoice["bot_invoice_url"]) as response:  # follows the 303
        page = await response.text()
    assert 'id="result">Paid' in page
    _, body = await call(http, cryptopay, "getInvoices", verb="GET", params={"invoice_ids": str(invoice["invoice_id"])})
    assert body["result"]["items"][0]["status"] == "paid"
    async with http.post(invoice["bot_invoice_url"]) as response:
        assert response.status == 409
    async with http.get(f"{cryptopay.url}/pay/IVnope") as response:
        assert response.status == 404
