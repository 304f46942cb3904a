"""Control API of the Crypto Pay stand-in (``/_control/...``, no auth).

    POST   /_control/webhook                    {"url": "http://..." | null}
    POST   /_control/invoices/{invoice_id}/pay  {"paid_asset"?, "paid_amount"?, "paid_anonymously"?, "comment"?}
    POST   /_control/invoices/{invoice_id}/forge_paid  {"paid_asset"?, "paid_amount"?, "claim"?: {field: value}}
                                                a correctly signed invoice_paid; the invoice itself stays unpaid
    GET    /_control/invoices                   every invoice (any status)
    POST   /_control/delivery                   {"mode": "normal"|"duplicate"|"drop"|"shuffle", "copies",
                                                 "batch", "seed", "max_attempts", "base_delay", "max_delay", "timeout"}
    POST   /_control/delivery/flush             deliver the updates held in shuffle mode
    GET    /_control/deliveries                 ?settled=N&timeout=S waits (deadline) for N settled deliveries
    POST   /_control/deliveries/{delivery_id}/replay  {"request_date"?} the same update sent again now
    POST   /_control/outage                     {"seconds", "kind": "refuse"|"drop"|"slow"|"error"|"rate_limit",
                                                 "latency"?, "status"?, "retry_after"?}: the API away for a while
    POST   /_control/clock                      {"advance": seconds}
    GET    /_control/stats
    POST   /_control/reset
    GET|POST|DELETE /_control/faults            see sandbox.kit.faults
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from aiohttp import web

from sandbox.cryptopay.invoices import PayError
from sandbox.kit.faults import add_fault_routes

if TYPE_CHECKING:
    from sandbox.cryptopay.standin import CryptoPayStandIn


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_object(request: web.Request) -> dict:
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def add_routes(app: web.Application, standin: "CryptoPayStandIn") -> None:
    async def set_webhook(request: web.Request) -> web.Response:
        try:
            body = await _json_object(request)
        except ValueError as exc:
            return _bad(str(exc))
        url = body.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            return _bad("url must be an http(s) URL or null")
        standin.set_webhook(url)
        return web.json_response({"url": url})

    async def pay(request: web.Request) -> web.Response:
        try:
            invoice_id = int(request.match_info["invoice_id"])
            body = await _json_object(request)
            paid_amount = body.get("paid_amount")
            paid_amount = Decimal(str(paid_amount)) if paid_amount is not None else None
        except (ValueError, InvalidOperation) as exc:
            return _bad(f"bad request: {exc}")
        try:
            invoice = await standin.pay(
                invoice_id,
                paid_asset=body.get("paid_asset"),
                paid_amount=paid_amount,
                paid_anonymously=body.get("paid_anonymously"),
                comment=body.get("comment"),
            )
        except PayError as exc:
            return _bad(exc.reason, exc.status)
        return web.json_response({"invoice": invoice})

    async def forge_paid(request: web.Request) -> web.Response:
        try:
            invoice_id = int(request.match_info["invoice_id"])
            body = await _json_object(request)
            paid_amount = body.get("paid_amount")
            paid_amount = Decimal(str(paid_amount)) if paid_amount is not None else None
            claim = body.get("claim") or {}
            if not isinstance(claim, dict):
                raise ValueError("claim must be an object of Invoice fields")
        except (ValueError, InvalidOperation) as exc:
            return _bad(f"bad request: {exc}")
        try:
            invoice = await standin.forge_paid(invoice_id, paid_asset=body.get("paid_asset"),
                                               paid_amount=paid_amount, claim=claim)
        except PayError as exc:
            return _bad(exc.reason, exc.status)
        return web.json_response({"claimed": invoice})

    async def replay(request: web.Request) -> web.Response:
        try:
            delivery_id = int(request.match_info["delivery_id"])
            body = await _json_object(request)
            request_date = body.get("request_date")
            if request_date is not None and not isinstance(request_date, str):
                raise ValueError("request_date must be a string")
        except ValueError as exc:
            return _bad(f"bad request: {exc}")
        try:
            again = await standin.replay(delivery_id, request_date)
        except KeyError:
            return _bad(f"no delivery {delivery_id}", 404)
        return web.json_response({"delivery_id": again})

    async def outage(request: web.Request) -> web.Response:
        try:
            body = await _json_object(request)
            return web.json_response(await standin.outage(**body))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))

    async def list_invoices(request: web.Request) -> web.Response:
        return web.json_response({"invoices": standin.invoices()})

    async def set_delivery(request: web.Request) -> web.Response:
        try:
            policy = standin.set_delivery(**await _json_object(request))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return web.json_response(policy)

    async def flush(request: web.Request) -> web.Response:
        return web.json_response({"flushed": standin.flush_deliveries()})

    async def deliveries(request: web.Request) -> web.Response:
        settled = request.query.get("settled")
        complete = True
        if settled is not None:
            try:
                wanted = int(settled)
                timeout = float(request.query.get("timeout", "5"))
            except ValueError:
                return _bad("settled and timeout must be numbers")
            complete = await standin.wait_for_deliveries(wanted, timeout=timeout)
        return web.json_response({"complete": complete, "deliveries": standin.deliveries()})

    async def clock(request: web.Request) -> web.Response:
        try:
            body = await _json_object(request)
            now = standin.advance_time(float(body.get("advance", 0)))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return web.json_response({"now": now})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(standin.stats())

    async def reset(request: web.Request) -> web.Response:
        await standin.reset()
        return web.json_response({"reset": True})

    app.router.add_post("/_control/webhook", set_webhook)
    app.router.add_post("/_control/invoices/{invoice_id}/pay", pay)
    app.router.add_post("/_control/invoices/{invoice_id}/forge_paid", forge_paid)
    app.router.add_get("/_control/invoices", list_invoices)
    app.router.add_post("/_control/deliveries/{delivery_id}/replay", replay)
    app.router.add_post("/_control/outage", outage)
    app.router.add_post("/_control/delivery", set_delivery)
    app.router.add_post("/_control/delivery/flush", flush)
    app.router.add_get("/_control/deliveries", deliveries)
    app.router.add_post("/_control/clock", clock)
    app.router.add_get("/_control/stats", stats)
    app.router.add_post("/_control/reset", reset)
    add_fault_routes(app, standin.faults)
