"""POST /webhooks/cryptobot: verify, store the claim, commit, answer.

Order matters: the body size and the time to send it are bounded, then the signature is checked on
the raw bytes before anything parses them; only then is the JSON read and validated. A forged
request gets 401 and a malformed one 400, and neither writes anything but a log line.

A valid signature proves only that someone holding the app token signed the body: a replay, a leaked
token or a forged body is signed just as well. So a valid `invoice_paid` is a claim: it is stored
(one row per distinct claim; a re-delivery of one changes nothing; claim_writer.py commits the
claims of concurrent requests together) and answered 200 after the commit, and confirmation.py settles it once Crypto Pay's getInvoices bears it out. `request_date` is
kept for the log only: Crypto Pay re-delivers for days, and an old delivery is as good as a new one.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable

import aiohttp
import orjson
from aiohttp import web
from pydantic import ValidationError

from common.db.database import DatabaseUnavailable
from services.payments.claim_writer import ClaimWriter
from services.payments.provider_models import CryptoInvoice, WebhookUpdate
from services.payments.repositories.claims import NewClaim
from services.payments.signature import HEADER, SignatureVerifier

log = logging.getLogger(__name__)
PATH = "/webhooks/cryptobot"


def _answer(http_status: int, **body: object) -> web.Response:
    return web.Response(status=http_status, body=orjson.dumps(body), content_type="application/json")


class CryptoBotWebhook:
    def __init__(self, verifier: SignatureVerifier, claims: ClaimWriter, on_claim: Callable[[], None], *,
                 max_body: int, body_timeout: float) -> None:
        self.verifier = verifier
        self.claims = claims
        self.on_claim = on_claim
        self.max_body = max_body
        self.body_timeout = body_timeout
        self._logged: dict[str, tuple[float, int]] = {}
        self.counts = {"accepted": 0, "forged": 0, "malformed": 0, "too_large": 0, "too_slow": 0, "ignored": 0,
                       "unavailable": 0}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > self.max_body:
            return self._reject("too_large", 413, request)
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await request.read()
        except TimeoutError:
            return await self._drop_slow(request)
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
            new = await self.claims.record(NewClaim(invoice.invoice_id, _digest(update.payload), invoice.summary(),
                                                    update.update_id, update.request_date))
        except DatabaseUnavailable:
            # Nothing was recorded; Crypto Pay retries, and reconciliation catches it otherwise.
            self.counts["unavailable"] += 1
            return _answer(503, ok=False, error="temporarily unavailable")
        if new:
            self.on_claim()
        self.counts["accepted"] += 1
        return _answer(200, ok=True, claim="recorded" if new else "seen")

    async def _drop_slow(self, request: web.Request) -> web.StreamResponse:
        """A client that sends its headers and then stalls or trickles the body holds a connection
        and a handler: it gets 408 and the connection is closed, without the lingering read aiohttp
        would otherwise give an unfinished body."""
        response = self._reject("too_slow", 408, request)
        response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            pass
        request.protocol.force_close()
        return response

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


def _digest(payload: dict[str, object]) -> bytes:
    """Identity of a claim: the Invoice object exactly as the update carried it (canonical JSON).
    Crypto Pay's re-deliveries of an update are one claim; a forged body differs in some field (at
    the least paid_at), so it can never stand in for the genuine update that comes later."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).digest()


def webhook_app(webhook: CryptoBotWebhook) -> web.Application:
    # client_max_size bounds what aiohttp will buffer, chunked bodies included.
    app = web.Application(client_max_size=webhook.max_body, middlewares=[_no_tracebacks])
    app.router.add_post(PATH, webhook.handle)
    return app
