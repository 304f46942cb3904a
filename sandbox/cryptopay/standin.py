"""``CryptoPayStandIn``: a local Crypto Pay API (Crypto Bot) on loopback.

URL layout (``<base>`` is ``.url``):

    <base>/api/<method>          the API, as https://pay.crypt.bot/api/<method>
    <base>/pay/<hash>            pay page (the invoices' bot/mini-app/web-app URLs)
    <base>/_control/...          control API, see sandbox.cryptopay.control

The payments service is configured with ``<base>`` (or ``.api_url``) instead
of ``https://pay.crypt.bot``; nothing in ``services`` imports this module.

Direct Python methods mirror the control API so in-process tests need no HTTP
round trip to steer the stand-in.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Optional

from aiohttp import web

from sandbox.cryptopay import control, paypage
from sandbox.cryptopay.api import (
    DEFAULT_MAX_AMOUNT_USD,
    DEFAULT_MIN_AMOUNT_USD,
    CryptoPayApi,
    route_key,
)
from sandbox.cryptopay.errors import fault_error
from sandbox.cryptopay.invoices import InvoiceStore
from sandbox.cryptopay.outage import Outages
from sandbox.cryptopay.webhooks import DeliveryPolicy, WebhookDispatcher
from sandbox.kit.clock import Clock, iso_ms
from sandbox.kit.counters import RequestCounters, counting_middleware
from sandbox.kit.faults import FaultRegistry, fault_middleware
from sandbox.kit.server import StandInServer


class CryptoPayStandIn(StandInServer):
    def __init__(
        self,
        token: str = "1234:AAsandboxCryptoPayToken",
        webhook_url: Optional[str] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: Optional[str] = None,
        app_id: int = 1234,
        app_name: str = "ATCS sandbox",
        min_amount_usd: Decimal = DEFAULT_MIN_AMOUNT_USD,
        max_amount_usd: Decimal = DEFAULT_MAX_AMOUNT_USD,
        delivery: Optional[DeliveryPolicy] = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.app_id = app_id
        self.app_name = app_name
        self.min_amount_usd = min_amount_usd
        self.max_amount_usd = max_amount_usd
        self._public_url = public_url
        self.clock = Clock()
        self.store = InvoiceStore(self.clock)
        self.faults = FaultRegistry()
        self.counters = RequestCounters()
        self.webhooks = WebhookDispatcher(token, self.clock, webhook_url, delivery or DeliveryPolicy())
        self.outages = Outages(self.faults, self.clock, self._close_listener, self._reopen_listener)
        self._bound_port: Optional[int] = None

    # ---- server ----------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                counting_middleware(self.counters, route_key),
                fault_middleware(self.faults, route_key, fault_error),
            ]
        )
        CryptoPayApi(self).add_routes(app)
        paypage.add_routes(app, self)
        control.add_routes(app, self)
        return app

    async def on_started(self) -> None:
        self._bound_port = int(self.url.rsplit(":", 1)[1])
        await self.webhooks.start()

    async def on_stopping(self) -> None:
        await self.outages.end_all()
        await self.webhooks.stop()

    async def _close_listener(self) -> None:
        assert self._runner is not None
        for site in list(self._runner.sites):
            await site.stop()

    async def _reopen_listener(self) -> None:
        if self._runner is not None and not self._runner.sites:
            await web.TCPSite(self._runner, self.host, self._bound_port).start()

    @property
    def public_url(self) -> str:
        """Base URL put into invoice links (defaults to the bound URL)."""
        return (self._public_url or self.url).rstrip("/")

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    # ---- control, mirrored from the HTTP control API ----------------------
    def set_webhook(self, url: Optional[str]) -> None:
        self.webhooks.url = url

    async def pay(
        self,
        invoice_id: int,
        *,
        paid_asset: Optional[str] = None,
        paid_amount: Optional[Decimal] = None,
        paid_anonymously: Optional[bool] = None,
        comment: Optional[str] = None,
    ) -> dict:
        """Pay an invoice and publish its ``invoice_paid`` update. Returns the
        paid Invoice object. Raises ``PayError`` if it is not active."""
        invoice = self.store.pay(
            invoice_id,
            paid_asset=paid_asset,
            paid_amount=paid_amount,
            paid_anonymously=paid_anonymously,
            comment=comment,
        )
        data = invoice.to_api(self.public_url)
        await self.webhooks.publish_invoice_paid(data)
        return data

    async def forge_paid(
        self,
        invoice_id: int,
        *,
        paid_asset: Optional[str] = None,
        paid_amount: Optional[Decimal] = None,
        claim: Optional[dict] = None,
    ) -> dict:
        """Publish a correctly signed ``invoice_paid`` for an invoice without paying it: what a
        replay, a leaked token or a forged body looks like. The invoice stays as it is (active,
        expired, or paid as it was), and getInvoices keeps telling the truth. ``claim`` overrides
        fields of the Invoice in the update (e.g. ``{"amount": "0.01"}``). Returns the claimed
        Invoice object."""
        data = self.store.as_if_paid(invoice_id, paid_asset=paid_asset, paid_amount=paid_amount).to_api(
            self.public_url)
        data.update(claim or {})
        await self.webhooks.publish_invoice_paid(data)
        return data

    async def replay(self, delivery_id: int, request_date: Optional[str] = None) -> int:
        """Deliver an earlier delivery's update again (see WebhookDispatcher.replay)."""
        return await self.webhooks.replay(delivery_id, request_date)

    async def outage(self, seconds: float, kind: str = "refuse", **options) -> dict:
        """The API unreachable or slow for ``seconds``, then back by itself (see outage.py)."""
        return await self.outages.start(seconds, kind, **options)

    def invoices(self) -> list[dict]:
        return [i.to_api(self.public_url) for i in self.store.search(count=10**9)]

    def set_delivery(self, **settings) -> dict:
        """Change the delivery mode/retry policy, e.g. ``set_delivery(mode="duplicate", copies=3)``."""
        return asdict(self.webhooks.configure(**settings))

    def flush_deliveries(self) -> int:
        return self.webhooks.flush()

    def deliveries(self) -> list[dict]:
        return self.webhooks.deliveries()

    async def wait_for_deliveries(self, settled: int, timeout: float = 5.0) -> bool:
        return await self.webhooks.wait_settled(settled, timeout)

    def add_fault(self, **spec) -> dict:
        return self.faults.add(**spec).to_json()

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance_time(self, seconds: float) -> str:
        return iso_ms(self.clock.advance(seconds))

    def stats(self) -> dict:
        by_status: dict[str, int] = {}
        for invoice in self.store.search(count=10**9):
            by_status[invoice.status] = by_status.get(invoice.status, 0) + 1
        return {
            "invoices": self.store.count(),
            "invoices_by_status": by_status,
            "requests": self.counters.snapshot(),
            "create_attempts": self.counters.count("createInvoice"),
            "deliveries": len(self.webhooks.deliveries()),
            "outages": self.outages.active,
        }

    async def reset(self) -> None:
        """Forget invoices, deliveries, faults, outages, counters and clock offset."""
        await self.outages.end_all()
        self.store.reset()
        self.faults.clear()
        self.counters.clear()
        self.clock.reset()
        await self.webhooks.reset()
