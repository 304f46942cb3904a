"""What the stand-in remembers, and how each record looks as a Bot API object.

Records keep more than Telegram shows (raw HTML, invoice payload, deleted flag) so the transcript
can answer questions a test asks; `*_api` functions produce exactly the documented shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any


@dataclass
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    blocked: bool = False
    stars: int = 1_000_000  # the payer's Stars balance: a renewal fails when it cannot cover the price

    def api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    def private_chat(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class FileRecord:
    file_id: str
    file_unique_id: str
    kind: str  # "document" | "photo"
    filename: str | None
    mime_type: str | None
    data: bytes
    width: int = 0
    height: int = 0

    @property
    def file_path(self) -> str:
        # Shaped like Telegram's ("documents/file_12.csv"); the user's filename stays out of the URL.
        folder = "photos" if self.kind == "photo" else "documents"
        suffix = PurePosixPath(self.filename or "").suffix
        return f"{folder}/file_{self.file_unique_id}{suffix if suffix.isascii() else ''}"

    def document_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.filename:
            data["file_name"] = self.filename
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data

    def photo_api(self) -> list[dict[str, Any]]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "width": self.width,
                "height": self.height,
                "file_size": len(self.data),
            }
        ]

    def file_api(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }

    def info(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size": len(self.data),
        }


@dataclass
class InvoiceRecord:
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    start_parameter: str = ""
    paid_charge_id: str | None = None

    def api(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass
class MessageRecord:
    chat_id: int
    message_id: int
    sender_id: int
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None  # the text as the bot sent it, before parse_mode was applied
    reply_markup: dict[str, Any] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    document: FileRecord | None = None
    photo: FileRecord | None = None
    invoice: InvoiceRecord | None = None
    successful_payment: dict[str, Any] | None = None
    refunded_payment: dict[str, Any] | None = None
    edit_date: int | None = None
    edits: int = 0
    deleted: bool = False
    update_dropped: bool = False

    def has_inline_keyboard(self) -> bool:
        return bool(self.reply_markup and "inline_keyboard" in self.reply_markup)

    def api(self, sender: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": sender,
            "chat": chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.caption:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.document is not None:
            data["document"] = self.document.document_api()
        if self.photo is not None:
            data["photo"] = self.photo.photo_api()
        if self.invoice is not None:
            data["invoice"] = self.invoice.api()
        if self.successful_payment is not None:
            data["successful_payment"] = self.successful_payment
        if self.refunded_payment is not None:
            data["refunded_payment"] = self.refunded_payment
        # Message.reply_markup only ever carries inline keyboards; reply keyboards live on the client.
        if self.has_inline_keyboard():
            data["reply_markup"] = self.reply_markup
        return data

    def transcript(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "from": "bot" if self.from_bot else "user",
            "from_id": self.sender_id,
            "date": self.date,
            "text": self.text,
            "html": self.html,
            "entities": self.entities,
            "caption": self.caption,
            "reply_markup": self.reply_markup,
            "document": self.document.info() if self.document else None,
            "photo": self.photo.info() if self.photo else None,
            "invoice": (
                {**self.invoice.api(), "payload": self.invoice.payload, "paid_charge_id": self.invoice.paid_charge_id}
                if self.invoice
                else None
            ),
            "successful_payment": self.successful_payment,
            "refunded_payment": self.refunded_payment,
            "edited": self.edits,
            "deleted": self.deleted,
            "update_dropped": self.update_dropped,
        }


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: float  # wall clock, for reports
    created_mono: float  # monotonic, for the answer window
    answers: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        accepted = [a for a in self.answers if a["accepted"]]
        return {
            "id": self.id,
            "user_id": self.user_id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "data": self.data,
            "time": self.created_at,
            "answer_attempts": len(self.answers),
            "answered": len(accepted),
            "answered_within_window": bool(accepted),
            "answer_latency": accepted[0]["latency"] if accepted else None,
            "answers": self.answers,
        }


@dataclass
class PreCheckoutRecord:
    id: str
    user_id: int
    chat_id: int
    invoice_message_id: int
    currency: str
    total_amount: int
    payload: str
    created_mono: float
    ok: bool | None = None
    error_message: str | None = None
    expired: bool = False

    def api(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": user,
            "currency": self.currency,
            "total_amount": self.total_amount,
            "invoice_payload": self.payload,
        }


@dataclass
class StarTransactionRecord:
    id: str  # telegram_payment_charge_id; a refund repeats the id of the payment it refunds
    amount: int
    date: int
    user_id: int
    payload: str
    refund: bool = False
    subscription_period: int | None = None  # set on the payments of a subscription

    def api(self, user: dict[str, Any]) -> dict[str, Any]:
        # StarTransaction with a TransactionPartnerUser: `source` for money in, `receiver` for a refund.
        partner: dict[str, Any] = {
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": user,
            "invoice_payload": self.payload,
        }
        if self.subscription_period:
            partner["subscription_period"] = self.subscription_period
        side = "receiver" if self.refund else "source"
        return {"id": self.id, "amount": self.amount, "date": self.date, side: partner}


@dataclass
class InvoiceLinkRecord:
    """An invoice made by createInvoiceLink: paid by opening its link, any number of times
    (a subscription link: once per user while the subscription lives)."""
    slug: str
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    subscription_period: int | None = None

    @property
    def url(self) -> str:
        return f"https://t.me/${self.slug}"

    def api(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": "",
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass
class StarSubscriptionRecord:
    """A user's Stars subscription to the bot: Telegram charges `amount` every `period` seconds
    on its own clock until the user or the bot cancels it or the user's Stars run out."""
    id: str
    user_id: int
    payload: str
    title: str
    amount: int
    period: int
    charge_ids: list[str]  # the first payment's first; the bot names the subscription by any of them
    expires_at: int  # end of the paid period, on the stand-in's clock
    canceled_by_bot: bool = False
    state: str = "active"  # active | expired (not renewed: canceled, or the Stars ran out)
    ended_for: str | None = None  # canceled | missing_balance

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "payload": self.payload,
            "title": self.title,
            "amount": self.amount,
            "period": self.period,
            "charge_ids": list(self.charge_ids),
            "expires_at": self.expires_at,
            "canceled_by_bot": self.canceled_by_bot,
            "state": self.state,
            "ended_for": self.ended_for,
        }


@dataclass
class CallRecord:
    method: str
    params: dict[str, Any]
    time: float
    status: int = 0
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "params": self.params,
            "time": self.time,
            "status": self.status,
            "description": self.description,
        }
