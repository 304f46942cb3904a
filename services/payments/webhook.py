"""POST /webhooks/cryptobot: verify, record, commit, answer.

Order matters: the body size is bounded, then the signature is checked on the raw bytes before
anything parses them; only then is the JSON read and validated. A forged request gets 401 and a
malformed one 400, and neither writes anything but a log line. A valid update goes through the
one settlement function in one transaction; the 200 follows the commit (a duplicate also gets 200
and changes nothing). Provisioning never happens here: the activation row is vpn_gateway's.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time

import aiohttp
import orjson
from aiohttp import web
from pydantic import ValidationError

from common.config import CryptoPaySettings
from common.db.database import DatabaseUnavailable
from services.payments.cryptobot_payment import cryptobot_payment
from services.payments.provider_models import CryptoInvoice, WebhookUpdate
from services.payments.settlement import Overloaded, Settle
from services.payments.signature import HEADER, SignatureVerifier

log = logging.getLogger(__name__)
PATH = "/webhooks/cryptobot"


def _answer(http_status: int, **body: object) -> web.Response:
    return web.Response(status=http_status, body=orjson.dumps(body), content_type="application/json")


class CryptoBotWebhook:
    def __init__(self, verifier: SignatureVerifier, settle: Settle, settings: CryptoPaySettings,
                 max_body: int) -> None:
        self.verifier = verifier
        self.settle = settle
        self.settings = settings
        self.max_body = max_body
        self._logged: dict[str, tuple[float, int]] = {}
        self.counts = {"accepted": 0, "forged": 0, "malformed": 0, "too_large": 0, "ignored": 0, "unavailable": 0}

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self.max_body:
            return self._reject("too_large", 413, request)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject("too_large", 413, request)
        except (ConnectionError, aiohttp.ClientError, asyncio.IncompleteReadError):
            return self._reject("malformed", 400, request)  # the sender went away mid-body
        if len(body) > self.max_body:
            return self._reject("too_large", 413, request)

        if not self.verifier.valid(body, request.headers.get(HEADER)):
            return self._reject("forged", 401, request)

        try:
            update = WebhookUpdate.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            return self._reject("malformed", 400, request)
        if update.update_type != "invoice_paid":
            # Signed, so it is Crypto Pay's: a type we do not handle yet must not be retried forever.
            self.counts["ignored"] += 1
            log.info("webhook update type ignored", extra={"update_type": update.update_type})
            return _answer(200, ok=True, ignored=True)
        try:
            invoice = CryptoInvoice.model_validate(update.payload)
        except ValidationError:
            return self._reject("malformed", 400, request)
        if invoice.status != "paid":
            return self._reject("malformed", 400, request)

        try:
            outcome = await self.settle(cryptobot_payment(invoice, "webhook", self.settings, update.update_id))
        except (DatabaseUnavailable, Overloaded):
            # Nothing was recorded; Crypto Pay retries, and reconciliation catches it otherwise.
            self.counts["unavailable"] += 1
            return _answer(503, ok=False, error="temporarily unavailable")
        self.counts["accepted"] += 1
        return _answer(200, ok=True, status=outcome.status)

    def _reject(self, kind: str, status: int, request: web.Request) -> web.Response:
        self.counts[kind] += 1
        # One line per reason per second at most: a flood of forged requests must not become a
        # flood of log lines (the totals are in `status`).
        now = time.monotonic()
        last, quiet = self._logged.get(kind, (0.0, 0))
        if now - last >= 1.0:
            log.warning("webhook refused", extra={"reason": kind, "status": status, "remote": request.remote,
                                                  "not_logged_since": quiet})
            self._logged[kind] = (now, 0)
        else:
            self._logged[kind] = (last, quiet + 1)
        return _answer(status, ok=False, error=kind)


@web.middleware
async def _no_tracebacks(request: web.Request, handler) -> web.StreamResponse:
    """Whatever goes wrong, the caller sees a status and an error id, never our internals."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        error_id = secrets.token_hex(4)
        log.exception("webhook handler failed", extra={"error_id": error_id})
        return _answer(500, ok=False, error=f"internal error {error_id}")


def webhook_app(webhook: CryptoBotWebhook) -> web.Application:
    # client_max_size bounds what aiohttp will buffer, chunked bodies included.
    app = web.Application(client_max_size=webhook.max_body, middlewares=[_no_tracebacks])
    app.router.add_post(PATH, webhook.handle)
    return app
