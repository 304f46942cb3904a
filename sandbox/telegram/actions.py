"""What a person does in a Telegram client, turned into updates for the bot: type a message, tap an
inline button, pay a Stars invoice, block or restart the bot. Shared by the control API and the
in-process class so both behave identically.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import ControlError
from .formatting import bot_command_entities
from .markup import inline_buttons
from .models import CallbackRecord, MessageRecord, PreCheckoutRecord
from . import star_payments, subscriptions
from .state import World

MessagePredicate = Callable[[dict[str, Any]], bool]


class UserActions:
    def __init__(self, world: World) -> None:
        self.world = world

    # --- messages ---------------------------------------------------------------------------------

    def message(self, user_id: int, text: str, **profile: Any) -> dict[str, Any]:
        if not text:
            raise ControlError(400, "text is required")
        user = self.world.user(user_id, **profile)
        if user.blocked:
            # A user can only write again after pressing "Restart", which unblocks the bot.
            self.unblock(user_id)
        message = self.world.add_message(user_id, from_bot=False, text=text, entities=bot_command_entities(text))
        api = self.world.message_api(message)
        return self.world.enqueue("message", api) or {"update_id": None, "message": api, "filtered": True}

    # --- buttons ----------------------------------------------------------------------------------

    def _find_button(
        self, chat_id: int, label: str | None, data: str | None, message_id: int | None
    ) -> tuple[MessageRecord, dict[str, Any]]:
        log = self.world.chats.get(chat_id)
        for message in reversed(log.messages if log else []):
            if not message.from_bot or message.deleted:
                continue
            if message_id is not None and message.message_id != message_id:
                continue
            for button in inline_buttons(message.reply_markup):
                if (label is not None and button.get("text") == label) or (
                    data is not None and button.get("callback_data") == data
                ):
                    return message, button
        wanted = f"label {label!r}" if label is not None else f"data {data!r}"
        where = f" on message {message_id}" if message_id is not None else ""
        raise ControlError(404, f"no inline button with {wanted}{where} in chat {chat_id}")

    def _reply_keyboard_has(self, chat_id: int, label: str) -> bool:
        """Whether the reply keyboard the user currently sees (the bot's latest one) has this label."""
        log = self.world.chats.get(chat_id)
        for message in reversed(log.messages if log else []):
            markup = message.reply_markup if message.from_bot else None
            if not markup or "inline_keyboard" in markup:
                continue
            if markup.get("remove_keyboard"):
                return False
            if "keyboard" in markup:
                labels = [b if isinstance(b, str) else b.get("text") for row in markup["keyboard"] for b in row]
                return label in labels
        return False

    def tap(
        self, user_id: int, *, label: str | None = None, data: str | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        """Tap an inline button (-> callback_query); a reply-keyboard button just sends its label."""
        if (label is None) == (data is None):
            raise ControlError(400, "give exactly one of label or data")
        try:
            message, button = self._find_button(user_id, label, data, message_id)
        except ControlError:
            if label is None or message_id is not None or not self._reply_keyboard_has(user_id, label):
                raise
            update = self.message(user_id, label)
            return {
                "callback_query_id": None,
                "message_id": update["message"]["message_id"],
                "update_id": update["update_id"],
                "kind": "message",
            }
        if "callback_data" not in button:
            raise ControlError(400, "that button has no callback_data; tapping it sends the bot nothing")
        user = self.world.user(user_id)
        record = CallbackRecord(
            id=self.world.new_query_id(),
            user_id=user_id,
            chat_id=user_id,
            message_id=message.message_id,
            data=button["callback_data"],
            created_at=time.time(),
            created_mono=time.monotonic(),
        )
        self.world.callbacks[record.id] = record
        payload = {
            "id": record.id,
            "from": user.api(),
            "message": self.world.message_api(message),
            "chat_instance": str(user_id * 1_000_003 + self.world.config.bot_id),
            "data": record.data,
        }
        update = self.world.enqueue("callback_query", payload)
        return {
            "callback_query_id": record.id,
            "message_id": message.message_id,
            "update_id": update["update_id"] if update else None,
            "kind": "callback_query",
        }

    # --- payments ---------------------------------------------------------------------------------

    def _find_invoice(self, chat_id: int, message_id: int | None) -> MessageRecord:
        log = self.world.chats.get(chat_id)
        for message in reversed(log.messages if log else []):
            if message.invoice is None or message.deleted:
                continue
            if message_id is None or message.message_id == message_id:
                return message
        raise ControlError(404, f"no invoice message in chat {chat_id}")

    async def _pre_checkout(
        self, user_id: int, *, currency: str, amount: int, payload: str, invoice_message_id: int, timeout: float | None
    ) -> dict[str, Any]:
        """Sends the pre_checkout_query and waits for the bot's answer: status "ok", "declined" or "timeout"."""
        world = self.world
        user = world.user(user_id)
        query = PreCheckoutRecord(
            id=world.new_query_id(),
            user_id=user_id,
            chat_id=user_id,
            invoice_message_id=invoice_message_id,
            currency=currency,
            total_amount=amount,
            payload=payload,
            created_mono=time.monotonic(),
        )
        world.pre_checkouts[query.id] = query
        result: dict[str, Any] = {
            "status": "timeout",
            "charge_id": None,
            "error_message": None,
            "pre_checkout_query_id": query.id,
        }
        world.enqueue("pre_checkout_query", query.api(user.api()))
        wait = world.limits.pre_checkout_window if timeout is None else timeout
        answered = await world.wakeup.wait_for(lambda: True if query.ok is not None or world.closing else None, wait)
        if not answered or query.ok is None:
            query.expired = True  # a late answer is refused, as Telegram does
            return result
        if not query.ok:
            result.update(status="declined", error_message=query.error_message)
            return result
        result["status"] = "ok"
        return result

    async def pay_invoice(
        self, user_id: int, *, message_id: int | None = None, drop_update: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        """Pre-checkout, wait for the bot's answer, then settle. With drop_update the payment is
        recorded (and visible in getStarTransactions) but the successful_payment update is lost."""
        world = self.world
        invoice_message = self._find_invoice(user_id, message_id)
        invoice = invoice_message.invoice
        assert invoice is not None
        if invoice.paid_charge_id is not None:
            raise ControlError(409, f"invoice message {invoice_message.message_id} is already paid")
        result = await self._pre_checkout(
            user_id,
            currency=invoice.currency,
            amount=invoice.total_amount,
            payload=invoice.payload,
            invoice_message_id=invoice_message.message_id,
            timeout=timeout,
        )
        result["invoice_message_id"] = invoice_message.message_id
        if result["status"] != "ok":
            return result
        charge_id = world.new_charge_id()
        invoice.paid_charge_id = charge_id
        world.touch(user_id)
        world.record_star_transaction(user_id, invoice.total_amount, invoice.payload, charge_id)
        payment = star_payments.successful_payment(invoice.currency, invoice.total_amount, invoice.payload, charge_id)
        service = world.add_message(user_id, from_bot=False, successful_payment=payment)
        if drop_update:
            service.update_dropped = True
        else:
            world.enqueue("message", world.message_api(service))
        result.update(status="paid", charge_id=charge_id, message_id=service.message_id)
        return result

    async def pay_link(
        self, user_id: int, url: str, *, copies: int = 1, timeout: float | None = None
    ) -> dict[str, Any]:
        """The user opens an invoice link (createInvoiceLink) and pays it. A subscription link
        starts a Stars subscription, renewed on the stand-in's clock (see subscriptions.py)."""
        world = self.world
        slug = url.rsplit("$", 1)[-1] if "$" in url else url
        link = world.invoice_links.get(slug)
        if link is None:
            raise ControlError(404, "no such invoice link")
        if link.subscription_period and subscriptions.active_for(world, user_id, link.payload) is not None:
            raise ControlError(409, "the user already has this subscription")
        if world.user(user_id).stars < link.total_amount:
            return {"status": "insufficient_stars", "charge_id": None, "error_message": None}
        result = await self._pre_checkout(
            user_id,
            currency=link.currency,
            amount=link.total_amount,
            payload=link.payload,
            invoice_message_id=0,
            timeout=timeout,
        )
        if result["status"] != "ok":
            return result
        charge_id = world.new_charge_id()
        world.record_star_transaction(
            user_id, link.total_amount, link.payload, charge_id, subscription_period=link.subscription_period
        )
        if link.subscription_period:
            sub = subscriptions.start(world, user_id, link, charge_id)
            payment = subscriptions.payment_message(world, sub, charge_id, first=True)
            result["subscription_id"] = sub.id
            result["expires_at"] = sub.expires_at
        else:
            payment = star_payments.successful_payment(link.currency, link.total_amount, link.payload, charge_id)
        message_id = subscriptions.deliver(world, user_id, payment, copies)
        result.update(status="paid", charge_id=charge_id, message_id=message_id)
        return result

    def chargeback(self, user_id: int, charge_id: str, *, silent: bool = False) -> dict[str, Any]:
        """The user disputes a payment and gets the Stars back. Telegram shows it in
        getStarTransactions as a refund; with silent the bot receives no refunded_payment update."""
        world = self.world
        payment = world.star_payment(charge_id)
        if payment is None or payment.user_id != user_id:
            raise ControlError(404, f"user {user_id} made no payment {charge_id}")
        if world.is_refunded(charge_id):
            raise ControlError(409, f"payment {charge_id} is already refunded")
        message = star_payments.refund(world, payment, tell_bot=not silent)
        return {"status": "refunded", "charge_id": charge_id, "message_id": message.message_id}

    def set_stars(self, user_id: int, stars: int) -> dict[str, Any]:
        if not isinstance(stars, int) or isinstance(stars, bool) or stars < 0:
            raise ControlError(400, "stars must be a non-negative integer")
        self.world.user(user_id).stars = stars
        self.world.touch(user_id)
        return {"user_id": user_id, "stars": stars}

    # --- blocking ---------------------------------------------------------------------------------

    def _member_update(self, user_id: int, old: str, new: str) -> None:
        user = self.world.user(user_id)

        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.world.bot_user}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self.world.enqueue(
            "my_chat_member",
            {
                "chat": user.private_chat(),
                "from": user.api(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def block(self, user_id: int) -> dict[str, Any]:
        user = self.world.user(user_id)
        if not user.blocked:
            user.blocked = True
            self._member_update(user_id, "member", "kicked")
        return {"user_id": user_id, "blocked": True}

    def unblock(self, user_id: int) -> dict[str, Any]:
        user = self.world.user(user_id)
        if user.blocked:
            user.blocked = False
            self._member_update(user_id, "kicked", "member")
        return {"user_id": user_id, "blocked": False}

    # --- waiting ----------------------------------------------------------------------------------

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
        from_bot: bool = True,
    ) -> dict[str, Any]:
        """First transcript entry with message_id > after (from the bot, unless from_bot=False)
        that satisfies predicate; raises TimeoutError with the transcript if none shows up."""

        def probe() -> dict[str, Any] | None:
            for entry in self.world.transcript(chat_id):
                if entry["message_id"] <= after or (from_bot and entry["from"] != "bot"):
                    continue
                if predicate is None or predicate(entry):
                    return entry
            return None

        found = await self.world.wakeup.wait_for(probe, timeout)
        if found is None:
            raise TimeoutError(
                f"no matching message in chat {chat_id} within {timeout}s; transcript: {self.world.transcript(chat_id)}"
            )
        return found
