"""Stars subscriptions on the stand-in's clock: a subscription link paid once starts one; every
`period` seconds of that clock Telegram charges the payer again (a successful_payment with the
recurring fields), unless the bot cancelled the renewal or the payer's Stars are too few, in which
case the subscription ends at the close of its paid period. A test moves the clock forward."""

from __future__ import annotations

from typing import Any

from .errors import ControlError
from .models import InvoiceLinkRecord, StarSubscriptionRecord
from .star_payments import successful_payment
from .state import World

MAX_ADVANCE = 10 * 365 * 86400


def start(world: World, user_id: int, link: InvoiceLinkRecord, charge_id: str) -> StarSubscriptionRecord:
    assert link.subscription_period is not None
    record = StarSubscriptionRecord(
        id=f"sub{world.serial()}",
        user_id=user_id,
        payload=link.payload,
        title=link.title,
        amount=link.total_amount,
        period=link.subscription_period,
        charge_ids=[charge_id],
        expires_at=world.now() + link.subscription_period,
    )
    world.subscriptions[record.id] = record
    return record


def active_for(world: World, user_id: int, payload: str) -> StarSubscriptionRecord | None:
    return next(
        (s for s in world.subscriptions.values() if s.user_id == user_id and s.payload == payload and s.state == "active"),
        None,
    )


def payment_message(world: World, sub: StarSubscriptionRecord, charge_id: str, *, first: bool) -> dict[str, Any]:
    """The successful_payment of one charge of a subscription (Bot API SuccessfulPayment)."""
    recurring: dict[str, Any] = {"subscription_expiration_date": sub.expires_at, "is_recurring": True}
    if first:
        recurring["is_first_recurring"] = True
    return successful_payment("XTR", sub.amount, sub.payload, charge_id, **recurring)


def deliver(world: World, user_id: int, payment: dict[str, Any], copies: int) -> int:
    """The service message in the chat, and `copies` updates of it to the bot (0: the update is
    lost; 2: Telegram delivered it again, as it may after a bot restart)."""
    message = world.add_message(user_id, from_bot=False, successful_payment=payment)
    if copies <= 0:
        message.update_dropped = True
    for _ in range(copies):
        world.enqueue("message", world.message_api(message))
    return message.message_id


def advance(world: World, seconds: int, *, copies: int = 1) -> dict[str, Any]:
    """Moves Telegram's clock forward and settles every subscription period that ended meanwhile:
    a renewal charged, or the subscription ended (cancelled, or the payer's Stars ran out)."""
    if not 0 <= seconds <= MAX_ADVANCE:
        raise ControlError(400, f"seconds must be between 0 and {MAX_ADVANCE}")
    world.clock_offset += seconds
    events: list[dict[str, Any]] = []
    for sub in list(world.subscriptions.values()):
        while sub.state == "active" and sub.expires_at <= world.now():
            events.append(_renew(world, sub, copies))
    world.wakeup.fire()
    return {"now": world.now(), "events": events}


def advance_to_renewal(world: World, user_id: int, *, copies: int = 1) -> dict[str, Any]:
    """"Renew now": the clock moves to the end of the user's earliest active period."""
    due = [s.expires_at for s in world.subscriptions.values() if s.user_id == user_id and s.state == "active"]
    if not due:
        raise ControlError(404, f"user {user_id} has no active Stars subscription")
    return advance(world, max(min(due) - world.now(), 0), copies=copies)


def _renew(world: World, sub: StarSubscriptionRecord, copies: int) -> dict[str, Any]:
    user = world.user(sub.user_id)
    if sub.canceled_by_bot:
        sub.state, sub.ended_for = "expired", "canceled"
        return {"subscription_id": sub.id, "user_id": sub.user_id, "status": "ended", "reason": "canceled"}
    if user.stars < sub.amount:
        sub.state, sub.ended_for = "expired", "missing_balance"
        return {"subscription_id": sub.id, "user_id": sub.user_id, "status": "ended", "reason": "missing_balance"}
    charge_id = world.new_charge_id()
    sub.expires_at += sub.period
    sub.charge_ids.append(charge_id)
    world.record_star_transaction(sub.user_id, sub.amount, sub.payload, charge_id, subscription_period=sub.period)
    message_id = deliver(world, sub.user_id, payment_message(world, sub, charge_id, first=False), copies)
    return {
        "subscription_id": sub.id,
        "user_id": sub.user_id,
        "status": "renewed",
        "charge_id": charge_id,
        "message_id": message_id,
        "expires_at": sub.expires_at,
    }
