"""The human pay page behind ``bot_invoice_url`` (``<base>/pay/<hash>``).

In production the invoice link opens Crypto Bot in Telegram. Here it opens a
tiny HTML page with a Pay button, so a person clicking through the offline
demo (or a browser test) can pay; paying sends the webhook like
``POST /_control/invoices/{id}/pay`` does.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.cryptopay.invoices import PayError

if TYPE_CHECKING:
    from sandbox.cryptopay.standin import CryptoPayStandIn

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crypto Pay stand-in: invoice {hash}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}button{{font-size:1.2rem;padding:.5rem 2rem}}</style>
</head><body>
<h1>Invoice #{invoice_id}</h1>
<p id="description">{description}</p>
<p>Amount: <strong id="amount">{amount} {currency}</strong></p>
<p>Status: <strong id="status">{status}</strong></p>
{action}
<p><small>Local stand-in of Crypto Pay. No real money moves.</small></p>
</body></html>
"""


def add_routes(app: web.Application, standin: "CryptoPayStandIn") -> None:
    async def show(request: web.Request) -> web.Response:
        invoice = standin.store.by_hash(request.match_info["hash"])
        if invoice is None:
            return web.Response(status=404, text="Invoice not found")
        spec = invoice.spec
        if invoice.status == "active":
            action = (
                f'<form method="post" action="/pay/{html.escape(invoice.hash)}">'
                '<button id="pay" type="submit">Pay</button></form>'
            )
        elif invoice.status == "paid":
            action = '<p id="result">Paid. Thank you!</p>'
        else:
            action = '<p id="result">This invoice has expired.</p>'
        page = _PAGE.format(
            hash=html.escape(invoice.hash),
            invoice_id=invoice.invoice_id,
            description=html.escape(spec.description or ""),
            amount=html.escape(invoice.to_api(standin.public_url)["amount"]),
            currency=html.escape(spec.asset or spec.fiat or ""),
            status=html.escape(invoice.status),
            action=action,
        )
        return web.Response(text=page, content_type="text/html")

    async def pay(request: web.Request) -> web.Response:
        invoice = standin.store.by_hash(request.match_info["hash"])
        if invoice is None:
            return web.Response(status=404, text="Invoice not found")
        try:
            await standin.pay(invoice.invoice_id)
        except PayError as exc:
            return web.Response(status=exc.status, text=f"Cannot pay: {exc.reason}")
        # Post/redirect/get: reloading the result page must not pay twice.
        raise web.HTTPSeeOther(f"/pay/{invoice.hash}")

    app.router.add_get("/pay/{hash}", show)
    app.router.add_post("/pay/{hash}", pay)
