"""What a Stars subscriber reads (issue 13.1/13.2): before Telegram's charge, that the subscription
renews by itself (when, for how many Stars, how to stop it), never "renew it"; after a refund of one
of its charges, that the subscription will not renew."""
from __future__ import annotations

from common.contract.outbox import Notice
from common.shop.outbox import enqueue_notification
from tests.bot.test_notifications import conn, sender  # noqa: F401  (the fixtures)


async def test_a_renewing_stars_subscription_is_told_when_and_for_how_much_in_each_language(sender, conn, standin):  # noqa: F811
    params = {"renews_at": "2031-05-06T07:08:00+00:00", "amount": 150}
    await enqueue_notification(conn, 5001, Notice.STARS_RENEWS, params)
    await enqueue_notification(conn, 5003, Notice.STARS_RENEWS, params)
    await sender.drain_once()
    english = (await standin.transcript(5001))[0]["text"]
    assert "renews by itself on 2031-05-06 07:08 UTC" in english and "150" in english
    assert "cancel it in My subscription" in english and "Renew it" not in english
    russian = (await standin.transcript(5003))[0]["text"]
    assert "продлится сама 2031-05-06 07:08 UTC" in russian and "150" in russian
    assert await conn.fetchval("SELECT state FROM notifications WHERE user_id = 5001") == "sent"


async def test_a_refund_that_cancelled_the_renewal_says_so(sender, conn, standin):  # noqa: F811
    await enqueue_notification(conn, 5001, Notice.REFUNDED, {
        "amount": 150, "currency": "XTR", "days": 30, "expires_at": "2031-05-06T07:08:00+00:00", "revoked": False,
        "renewal_canceled": True})
    await enqueue_notification(conn, 5002, Notice.REFUNDED, {
        "amount": "3.00", "currency": "USD", "days": 30, "expires_at": "2031-05-06T07:08:00+00:00", "revoked": False,
        "renewal_canceled": False})
    await sender.drain_once()
    told = (await standin.transcript(5001))[0]["text"]
    assert "the 30 days it paid for came off" in told and "will not charge you again" in told
    assert "will not charge you again" not in (await standin.transcript(5002))[0]["text"]
