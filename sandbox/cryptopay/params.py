"""Reading and validating Crypto Pay method parameters.

The real API takes parameters from the query string (GET) or from the body
(POST as JSON, urlencoded or multipart form), so values arrive either as JSON
types or as strings ("true", "12", "1.50"). Limits follow the documentation:
description up to 1024 characters, hidden_message up to 2048, payload up to
4 kB, expires_in 1..2678400 seconds, getInvoices count 1..1000.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from aiohttp import web

from sandbox.cryptopay import rates
from sandbox.cryptopay.errors import ApiError
from sandbox.cryptopay.invoices import NewInvoice

PAID_BUTTON_NAMES = ("viewItem", "openChannel", "openBot", "callback")
MAX_EXPIRES_IN = 2678400
MAX_PAYLOAD_BYTES = 4096


async def read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "BAD_REQUEST") from None
            if not isinstance(body, dict):
                raise ApiError(400, "BAD_REQUEST")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _present(params: dict, name: str) -> bool:
    value = params.get(name)
    return value is not None and value != ""


def _string(params: dict, name: str, max_len: Optional[int], error: str) -> Optional[str]:
    if not _present(params, name):
        return None
    value = params[name]
    if not isinstance(value, str):
        value = str(value)
    if max_len is not None and len(value) > max_len:
        raise ApiError(400, error)
    return value


def _bool(params: dict, name: str, default: bool) -> bool:
    if not _present(params, name):
        return default
    value = params[name]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ApiError(400, f"{name.upper()}_INVALID")


def _int(value: Any, error: str) -> int:
    if isinstance(value, bool):
        raise ApiError(400, error)
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError(400, error) from None


def _decimal(value: Any, error: str) -> Decimal:
    if isinstance(value, bool):
        raise ApiError(400, error)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(400, error) from None
    if not number.is_finite():
        raise ApiError(400, error)
    return number


def _asset_list(value: Any, error: str) -> list[str]:
    if isinstance(value, list):
        # The real API answers a JSON array here with 500 APP_ERROR: the
        # parameter must be a comma-separated string (it is returned as an array).
        raise ApiError(500, "APP_ERROR")
    assets = [a.strip().upper() for a in str(value).split(",") if a.strip()]
    if not assets or any(a not in rates.ASSET_USD for a in assets):
        raise ApiError(400, error)
    return assets


def parse_new_invoice(params: dict, *, min_usd: Decimal, max_usd: Decimal) -> NewInvoice:
    currency_type = str(params.get("currency_type") or "crypto")
    if currency_type not in ("crypto", "fiat"):
        raise ApiError(400, "CURRENCY_TYPE_INVALID")

    asset = fiat = None
    accepted_assets = None
    if currency_type == "crypto":
        asset = str(params.get("asset") or "").upper()
        if asset not in rates.ASSET_USD:
            raise ApiError(400, "ASSET_INVALID")
    else:
        fiat = str(params.get("fiat") or "").upper()
        if fiat not in rates.FIAT_PER_USD:
            raise ApiError(400, "FIAT_INVALID")
        if _present(params, "accepted_assets"):
            accepted_assets = _asset_list(params["accepted_assets"], "ACCEPTED_ASSETS_INVALID")
        else:
            accepted_assets = [a for a in rates.ASSET_USD if a != "JET"]

    if not _present(params, "amount"):
        raise ApiError(400, "AMOUNT_INVALID")
    amount = _decimal(params["amount"], "AMOUNT_INVALID")
    if amount <= 0:
        raise ApiError(400, "AMOUNT_INVALID")
    in_usd = rates.usd_value(amount, asset=asset, fiat=fiat)
    if in_usd < min_usd:
        raise ApiError(400, "AMOUNT_TOO_SMALL")
    if in_usd > max_usd:
        raise ApiError(400, "AMOUNT_TOO_BIG")

    swap_to = _string(params, "swap_to", None, "SWAP_TO_INVALID")
    if swap_to is not None and swap_to not in rates.SWAP_TO:
        raise ApiError(400, "SWAP_TO_INVALID")

    description = _string(params, "description", 1024, "DESCRIPTION_TOO_LONG")
    hidden_message = _string(params, "hidden_message", 2048, "HIDDEN_MESSAGE_TOO_LONG")

    paid_btn_name = _string(params, "paid_btn_name", None, "PAID_BTN_NAME_INVALID")
    paid_btn_url = _string(params, "paid_btn_url", None, "PAID_BTN_URL_INVALID")
    if paid_btn_name is not None:
        if paid_btn_name not in PAID_BUTTON_NAMES:
            raise ApiError(400, "PAID_BTN_NAME_INVALID")
        if paid_btn_url is None or not paid_btn_url.startswith(("http://", "https://")):
            raise ApiError(400, "PAID_BTN_URL_INVALID")

    payload = _string(params, "payload", None, "PAYLOAD_TOO_LONG")
    if payload is not None and len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise ApiError(400, "PAYLOAD_TOO_LONG")

    expires_in = None
    if _present(params, "expires_in"):
        expires_in = _int(params["expires_in"], "EXPIRES_IN_INVALID")
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise ApiError(400, "EXPIRES_IN_INVALID")

    return NewInvoice(
        currency_type=currency_type,
        amount=amount,
        asset=asset,
        fiat=fiat,
        accepted_assets=accepted_assets,
        swap_to=swap_to,
        description=description,
        hidden_message=hidden_message,
        paid_btn_name=paid_btn_name,
        paid_btn_url=paid_btn_url,
        payload=payload,
        allow_comments=_bool(params, "allow_comments", True),
        allow_anonymous=_bool(params, "allow_anonymous", True),
        expires_in=expires_in,
    )


def parse_invoice_query(params: dict) -> dict:
    """getInvoices filters, ready for ``InvoiceStore.search``."""
    query: dict = {}
    if _present(params, "asset"):
        query["assets"] = set(_asset_list(params["asset"], "ASSET_INVALID"))
    if _present(params, "fiat"):
        fiats = {f.strip().upper() for f in str(params["fiat"]).split(",") if f.strip()}
        if not fiats or any(f not in rates.FIAT_PER_USD for f in fiats):
            raise ApiError(400, "FIAT_INVALID")
        query["fiats"] = fiats
    if _present(params, "invoice_ids"):
        raw = params["invoice_ids"]
        items = raw if isinstance(raw, list) else str(raw).split(",")
        query["invoice_ids"] = [_int(i, "INVOICE_IDS_INVALID") for i in items if str(i).strip()]
    if _present(params, "status"):
        status = str(params["status"])
        # The documentation lists only these two as filters.
        if status not in ("active", "paid"):
            raise ApiError(400, "STATUS_INVALID")
        query["status"] = status
    if _present(params, "offset"):
        offset = _int(params["offset"], "OFFSET_INVALID")
        if offset < 0:
            raise ApiError(400, "OFFSET_INVALID")
        query["offset"] = offset
    if _present(params, "count"):
        count = _int(params["count"], "COUNT_INVALID")
        if not 1 <= count <= 1000:
            raise ApiError(400, "COUNT_INVALID")
        query["count"] = count
    return query


def parse_invoice_id(params: dict) -> int:
    if not _present(params, "invoice_id"):
        raise ApiError(400, "INVOICE_ID_INVALID")
    return _int(params["invoice_id"], "INVOICE_ID_INVALID")
