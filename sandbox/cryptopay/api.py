"""The Crypto Pay API surface: ``GET|POST /api/<method>``.

Authentication is the ``Crypto-Pay-API-Token`` header; a missing or wrong
token gets ``401 UNAUTHORIZED`` and an unknown method ``405 METHOD_NOT_FOUND``,
as from the real API. Implemented methods: getMe, createInvoice, getInvoices,
deleteInvoice, getExchangeRates.
"""

from __future__ import annotations

import hmac
from decimal import Decimal
from typing import TYPE_CHECKING, Awaitable, Callable

from aiohttp import web

from sandbox.cryptopay import errors, params, rates
from sandbox.cryptopay.errors import ApiError

if TYPE_CHECKING:
    from sandbox.cryptopay.standin import CryptoPayStandIn

TOKEN_HEADER = "Crypto-Pay-API-Token"


class CryptoPayApi:
    def __init__(self, standin: "CryptoPayStandIn") -> None:
        self._standin = standin
        self._methods: dict[str, Callable[[dict], Awaitable[object]]] = {
            "getMe": self.get_me,
            "createInvoice": self.create_invoice,
            "getInvoices": self.get_invoices,
            "deleteInvoice": self.delete_invoice,
            "getExchangeRates": self.get_exchange_rates,
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/api/{method}", self.handle)
        app.router.add_route("POST", "/api/{method}", self.handle)

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get(TOKEN_HEADER, "")
        return hmac.compare_digest(given.encode(), self._standin.token.encode())

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return errors.error(401, "UNAUTHORIZED")
        method = self._methods.get(request.match_info["method"])
        if method is None:
            return errors.error(405, "METHOD_NOT_FOUND")
        try:
            result = await method(await params.read_params(request))
        except ApiError as exc:
            return errors.error(exc.code, exc.name)
        return errors.ok(result)

    # ---- methods ---------------------------------------------------------
    async def get_me(self, _: dict) -> dict:
        return {
            "app_id": self._standin.app_id,
            "name": self._standin.app_name,
            "payment_processing_bot_username": "CryptoBot",
        }

    async def create_invoice(self, raw: dict) -> dict:
        spec = params.parse_new_invoice(
            raw, min_usd=self._standin.min_amount_usd, max_usd=self._standin.max_amount_usd
        )
        invoice = self._standin.store.create(spec)
        return invoice.to_api(self._standin.public_url)

    async def get_invoices(self, raw: dict) -> dict:
        found = self._standin.store.search(**params.parse_invoice_query(raw))
        return {"items": [i.to_api(self._standin.public_url) for i in found]}

    async def delete_invoice(self, raw: dict) -> bool:
        invoice_id = params.parse_invoice_id(raw)
        if not self._standin.store.delete(invoice_id):
            raise ApiError(400, "INVOICE_NOT_FOUND")
        return True

    async def get_exchange_rates(self, _: dict) -> list[dict]:
        return rates.exchange_rates()


def route_key(request: web.Request) -> str | None:
    """Fault/counter key of an API request: the method name; None otherwise."""
    if request.path.startswith("/api/"):
        return request.match_info.get("method")
    return None


DEFAULT_MIN_AMOUNT_USD = Decimal("0.01")
DEFAULT_MAX_AMOUNT_USD = Decimal("100000")
