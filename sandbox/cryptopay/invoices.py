"""Invoices of the Crypto Pay stand-in: the object, its life cycle and the store.

An invoice is ``active`` until it is paid or its ``expires_in`` runs out
(``expired``); expiry is evaluated against the stand-in's clock whenever the
invoice is read, so advancing the clock expires invoices without waiting.
"""

from __future__ import annotations

import itertools
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable, Optional

from sandbox.cryptopay import rates
from sandbox.kit.clock import Clock, iso_ms


@dataclass
class NewInvoice:
    """Validated createInvoice parameters."""

    currency_type: str
    amount: Decimal
    asset: Optional[str] = None
    fiat: Optional[str] = None
    accepted_assets: Optional[list[str]] = None
    swap_to: Optional[str] = None
    description: Optional[str] = None
    hidden_message: Optional[str] = None
    paid_btn_name: Optional[str] = None
    paid_btn_url: Optional[str] = None
    payload: Optional[str] = None
    allow_comments: bool = True
    allow_anonymous: bool = True
    expires_in: Optional[int] = None


@dataclass
class Invoice:
    invoice_id: int
    hash: str
    spec: NewInvoice
    created_at: datetime
    expiration_date: Optional[datetime]
    status: str = "active"
    paid_at: Optional[datetime] = None
    paid_asset: Optional[str] = None
    paid_amount: Optional[Decimal] = None
    paid_fiat_rate: Optional[Decimal] = None
    paid_usd_rate: Optional[Decimal] = None
    fee_asset: Optional[str] = None
    fee_amount: Optional[Decimal] = None
    paid_anonymously: Optional[bool] = None
    comment: Optional[str] = None
    deleted: bool = field(default=False, repr=False)

    def refresh(self, now: datetime) -> None:
        if self.status == "active" and self.expiration_date is not None and now >= self.expiration_date:
            self.status = "expired"

    def to_api(self, base_url: str) -> dict:
        """The Invoice object as the API returns it. Optional fields that do not
        apply are left out, as the real API does; amounts are decimal strings."""
        spec = self.spec
        pay_url = f"{base_url}/pay/{self.hash}"
        data: dict = {
            "invoice_id": self.invoice_id,
            "hash": self.hash,
            "currency_type": spec.currency_type,
        }
        if spec.currency_type == "crypto":
            data["asset"] = spec.asset
        else:
            data["fiat"] = spec.fiat
            data["accepted_assets"] = list(spec.accepted_assets or [])
        data["amount"] = rates.money(spec.amount)
        data["bot_invoice_url"] = pay_url
        data["mini_app_invoice_url"] = f"{pay_url}?mode=mini_app"
        data["web_app_invoice_url"] = f"{pay_url}?mode=web_app"
        # Deprecated since API 1.2 but still sent; some clients read it.
        data["pay_url"] = pay_url
        optional = {
            "description": spec.description,
            "hidden_message": spec.hidden_message,
            "paid_btn_name": spec.paid_btn_name,
            "paid_btn_url": spec.paid_btn_url,
            "payload": spec.payload,
            "swap_to": spec.swap_to,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        data["status"] = self.status
        data["created_at"] = iso_ms(self.created_at)
        data["allow_comments"] = spec.allow_comments
        data["allow_anonymous"] = spec.allow_anonymous
        if self.expiration_date is not None:
            data["expiration_date"] = iso_ms(self.expiration_date)
        if self.status == "paid":
            data["paid_at"] = iso_ms(self.paid_at)
            data["paid_asset"] = self.paid_asset
            data["paid_amount"] = rates.money(self.paid_amount)
            if self.paid_fiat_rate is not None:
                data["paid_fiat_rate"] = rates.money(self.paid_fiat_rate)
            data["paid_usd_rate"] = rates.money(self.paid_usd_rate)
            data["fee_asset"] = self.fee_asset
            data["fee_amount"] = rates.money(self.fee_amount)
            data["fee_in_usd"] = rates.money(self.fee_amount * self.paid_usd_rate)
            data["paid_anonymously"] = self.paid_anonymously
            if self.comment is not None:
                data["comment"] = self.comment
        return data


class PayError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_HASH_ALPHABET = string.ascii_letters + string.digits


def _new_hash() -> str:
    # Real hashes look like "IVzdBGlxHjvX".
    return "IV" + "".join(secrets.choice(_HASH_ALPHABET) for _ in range(10))


class InvoiceStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._invoices: dict[int, Invoice] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self._invoices.clear()
        self._ids = itertools.count(1)

    def create(self, spec: NewInvoice) -> Invoice:
        now = self._clock.now()
        expiration = now + timedelta(seconds=spec.expires_in) if spec.expires_in else None
        invoice = Invoice(
            invoice_id=next(self._ids),
            hash=_new_hash(),
            spec=spec,
            created_at=now,
            expiration_date=expiration,
        )
        self._invoices[invoice.invoice_id] = invoice
        return invoice

    def _live(self) -> Iterable[Invoice]:
        now = self._clock.now()
        for invoice in self._invoices.values():
            if not invoice.deleted:
                invoice.refresh(now)
                yield invoice

    def get(self, invoice_id: int) -> Optional[Invoice]:
        invoice = self._invoices.get(invoice_id)
        if invoice is None or invoice.deleted:
            return None
        invoice.refresh(self._clock.now())
        return invoice

    def by_hash(self, invoice_hash: str) -> Optional[Invoice]:
        return next((i for i in self._live() if i.hash == invoice_hash), None)

    def count(self) -> int:
        return sum(1 for _ in self._live())

    def search(
        self,
        *,
        assets: Optional[set[str]] = None,
        fiats: Optional[set[str]] = None,
        invoice_ids: Optional[list[int]] = None,
        status: Optional[str] = None,
        offset: int = 0,
        count: int = 100,
    ) -> list[Invoice]:
        if invoice_ids is not None:
            # By id, not by a scan: a receiver confirming a burst of webhooks asks about many ids
            # at once, many times a second, and the store may hold tens of thousands of invoices.
            found = [i for i in map(self.get, set(invoice_ids)) if i is not None]
        else:
            found = list(self._live())
        if assets is not None:
            found = [i for i in found if i.spec.asset in assets]
        if fiats is not None:
            found = [i for i in found if i.spec.fiat in fiats]
        if status is not None:
            found = [i for i in found if i.status == status]
        # Newest first, like the real listing.
        found.sort(key=lambda i: i.invoice_id, reverse=True)
        return found[offset : offset + count]

    def delete(self, invoice_id: int) -> bool:
        invoice = self.get(invoice_id)
        if invoice is None:
            return False
        invoice.deleted = True
        return True

    def pay(
        self,
        invoice_id: int,
        *,
        paid_asset: Optional[str] = None,
        paid_amount: Optional[Decimal] = None,
        paid_anonymously: Optional[bool] = None,
        comment: Optional[str] = None,
    ) -> Invoice:
        """Mark an active invoice paid, as if a user paid it in Crypto Bot.

        ``paid_asset``/``paid_amount`` override what was paid, to simulate a
        payment that does not match the invoice (the payments service must
        notice). Without them the payment is exact: the invoice's asset and
        amount, or for a fiat invoice the first accepted asset at the fixed rate.
        """
        invoice = self.get(invoice_id)
        if invoice is None:
            raise PayError(404, "invoice not found")
        if invoice.status != "active":
            raise PayError(409, f"invoice is {invoice.status}")
        self._record_payment(invoice, paid_asset, paid_amount, paid_anonymously, comment)
        return invoice

    def as_if_paid(
        self, invoice_id: int, *, paid_asset: Optional[str] = None, paid_amount: Optional[Decimal] = None
    ) -> Invoice:
        """What the invoice would look like had it been paid, leaving it as it is: the body of a
        forged or replayed ``invoice_paid``. A paid invoice is returned as paid."""
        invoice = self.get(invoice_id)
        if invoice is None:
            raise PayError(404, "invoice not found")
        if invoice.status == "paid":
            return replace(invoice)
        view = replace(invoice)
        self._record_payment(view, paid_asset, paid_amount, None, None)
        return view

    def _record_payment(
        self,
        invoice: Invoice,
        paid_asset: Optional[str],
        paid_amount: Optional[Decimal],
        paid_anonymously: Optional[bool],
        comment: Optional[str],
    ) -> None:
        spec = invoice.spec
        if paid_asset is not None and paid_asset not in rates.ASSET_USD:
            raise PayError(400, f"unknown asset {paid_asset}")
        if paid_amount is not None and not (paid_amount.is_finite() and paid_amount > 0):
            raise PayError(400, "paid_amount must be a positive decimal")
        if spec.currency_type == "crypto":
            asset = paid_asset or spec.asset
            if paid_amount is not None:
                amount = paid_amount
            elif asset == spec.asset:
                amount = spec.amount
            else:
                amount = spec.amount * rates.ASSET_USD[spec.asset] / rates.ASSET_USD[asset]
            fiat_rate = None
        else:
            accepted = spec.accepted_assets or list(rates.ASSET_USD)
            asset = paid_asset or ("USDT" if "USDT" in accepted else accepted[0])
            fiat_rate = rates.asset_price_in_fiat(asset, spec.fiat)
            amount = paid_amount if paid_amount is not None else spec.amount / fiat_rate
        invoice.status = "paid"
        invoice.paid_at = self._clock.now()
        invoice.paid_asset = asset
        invoice.paid_amount = amount
        invoice.paid_fiat_rate = fiat_rate
        invoice.paid_usd_rate = rates.ASSET_USD[asset]
        invoice.fee_asset = asset
        invoice.fee_amount = amount * rates.FEE_RATE
        invoice.paid_anonymously = bool(paid_anonymously) if spec.allow_anonymous else False
        invoice.comment = comment if spec.allow_comments else None
