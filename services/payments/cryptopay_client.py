"""A thin Crypto Pay API client: `POST <base>/api/<method>` with the app token in the
`Crypto-Pay-API-Token` header; answers are `{"ok": true, "result": ...}` or
`{"ok": false, "error": {"code": <http status>, "name": "<NAME>"}}`.

Every request has a timeout. Reads (getInvoices, getMe) are retried with backoff on transport
failures, 429 and 5xx; writes (createInvoice, deleteInvoice) never are, since a retried write can
make a second invoice. The token never reaches a log line or an exception message.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from pydantic import ValidationError

from common.http_session import HttpSession, Unreachable
from services.payments.provider_models import CryptoInvoice
from services.payments.read_retry import read_with_retries

log = logging.getLogger(__name__)
TOKEN_HEADER = "Crypto-Pay-API-Token"
MAX_IDS_PER_CALL = 1000  # getInvoices `count` is at most 1000


@dataclass
class InvoiceRead:
    """What getInvoices gave: the invoices we could read, and the ids of those we could not.
    An unreadable invoice still exists (it may be paid): it must not count as gone."""
    invoices: list[CryptoInvoice] = field(default_factory=list)
    unreadable: set[int] = field(default_factory=set)


class CryptoPayError(Exception):
    """The API answered with an error envelope (a refusal: retrying the same call will not help)."""

    def __init__(self, status: int, name: str, method: str) -> None:
        super().__init__(f"Crypto Pay {method}: {status} {name}")
        self.status = status
        self.name = name


class CryptoPayUnavailable(Exception):
    """No usable answer: connection failure, timeout, 429, 5xx or a body that is not the envelope."""


class CryptoPayClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, read_attempts: int = 3,
                 backoff: float = 0.2) -> None:
        self._api = f"{base_url.rstrip('/')}/api/"
        self._headers = {TOKEN_HEADER: token}
        self._http = HttpSession(timeout=timeout)
        self._read_attempts = read_attempts
        self._backoff = backoff

    async def close(self) -> None:
        await self._http.close()

    async def _once(self, method: str, params: dict[str, Any]) -> Any:
        try:
            status, raw = await self._http.post(self._api + method, json=params, headers=self._headers)
        except Unreachable as exc:
            raise CryptoPayUnavailable(f"Crypto Pay {method}: {exc}") from None
        if status == 429 or status >= 500:
            raise CryptoPayUnavailable(f"Crypto Pay {method}: HTTP {status}")
        try:
            envelope = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise CryptoPayUnavailable(f"Crypto Pay {method}: HTTP {status}, body is not JSON") from None
        if not isinstance(envelope, dict):
            raise CryptoPayUnavailable(f"Crypto Pay {method}: unexpected answer")
        if envelope.get("ok") is True and "result" in envelope:
            return envelope["result"]
        error = envelope.get("error") if isinstance(envelope.get("error"), dict) else {}
        name = str(error.get("name") or "UNKNOWN")[:64]
        code = error.get("code") if isinstance(error.get("code"), int) else status
        raise CryptoPayError(code, name, method)

    async def _read(self, method: str, params: dict[str, Any]) -> Any:
        return await read_with_retries(lambda: self._once(method, params), name=method,
                                       attempts=self._read_attempts, backoff=self._backoff,
                                       retryable=lambda exc: isinstance(exc, CryptoPayUnavailable))

    # ---- methods ---------------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        result = await self._read("getMe", {})
        return result if isinstance(result, dict) else {}

    async def create_invoice(self, *, amount: Decimal, currency_type: str, asset: str | None, fiat: str | None,
                             accepted_assets: list[str] | None, description: str, payload: str,
                             expires_in: int) -> dict[str, Any]:
        params: dict[str, Any] = {"currency_type": currency_type, "amount": str(amount),
                                  "description": description[:1024], "payload": payload,
                                  "expires_in": expires_in, "allow_comments": False}
        if currency_type == "fiat":
            params["fiat"] = fiat
            if accepted_assets:
                # The API wants a comma-separated string here (a JSON array is refused).
                params["accepted_assets"] = ",".join(accepted_assets)
        else:
            params["asset"] = asset
        result = await self._once("createInvoice", params)
        if not isinstance(result, dict) or not isinstance(result.get("invoice_id"), int):
            raise CryptoPayUnavailable("Crypto Pay createInvoice: answer without invoice_id")
        return result

    async def get_invoices(self, invoice_ids: list[int]) -> "InvoiceRead":
        """The invoices with these ids that the provider still has (deleted ones are absent)."""
        read = InvoiceRead()
        if not invoice_ids:
            return read
        if len(invoice_ids) > MAX_IDS_PER_CALL:
            raise ValueError(f"at most {MAX_IDS_PER_CALL} invoice ids per call")
        result = await self._read("getInvoices", {"invoice_ids": ",".join(str(i) for i in invoice_ids),
                                                  "count": len(invoice_ids)})
        items = result.get("items") if isinstance(result, dict) else result
        for item in items if isinstance(items, list) else []:
            try:
                read.invoices.append(CryptoInvoice.model_validate(item))
            except ValidationError:
                invoice_id = item.get("invoice_id") if isinstance(item, dict) else None
                log.warning("Crypto Pay returned an invoice we cannot read", extra={"invoice_id": invoice_id})
                if isinstance(invoice_id, int):
                    read.unreadable.add(invoice_id)
        return read

    async def delete_invoice(self, invoice_id: int) -> bool:
        result = await self._once("deleteInvoice", {"invoice_id": invoice_id})
        return result is True
