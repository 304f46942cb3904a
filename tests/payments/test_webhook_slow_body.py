"""The webhook bounds how long it waits for a request body (issue 16.6): a client that sends its
headers and then stalls or trickles the body is dropped after ATCS_WEBHOOK_BODY_TIMEOUT, while
Crypto Pay's deliveries beside it are answered as fast as ever. Real sockets, a real listener."""
from __future__ import annotations

import asyncio
import contextlib
import time

from services.payments.settings import PaymentsSettings
from tests.payments.conftest import WEBHOOK_PATH, start_harness, stop_harness
from tests.support.wait import wait_for

BOUND = 1.0
HEAD = (f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 400\r\n\r\n").encode()


async def slow_client(port: int, trickle: bool) -> tuple[bytes, float]:
    """Sends the headers and part of the body, then stalls (or sends one byte every 0.2 s); returns
    what the server answered before closing the connection, and after how long. A trickler's bytes
    that arrive after the close make the server's kernel reset the connection, which may discard
    the answer: then the answer is empty."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD + b'{"update_id": 1, ')
    await writer.drain()
    started = time.monotonic()

    async def dribble() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await asyncio.sleep(0.2)  # the client's own slowness, not synchronisation
                writer.write(b" ")
                await writer.drain()

    dribbling = asyncio.create_task(dribble()) if trickle else None
    try:
        try:
            answer = await asyncio.wait_for(reader.read(), timeout=BOUND + 4)  # until the server closes
        except ConnectionResetError:
            answer = b""
        return answer, time.monotonic() - started
    finally:
        if dribbling is not None:
            dribbling.cancel()
            await asyncio.gather(dribbling, return_exceptions=True)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_stalled_or_trickled_body_is_dropped_without_slowing_other_requests(
        database_url, database, cryptopay, telegram):
    payments, workers = await start_harness(database_url, database, cryptopay, telegram,
                                            payments={"webhook_body_timeout": BOUND})
    try:
        port = payments.app.server.port
        slow = [asyncio.create_task(slow_client(port, trickle)) for trickle in (False, True, False, True)]

        # Meanwhile Crypto Pay delivers a real payment: answered at once and settled.
        user = await payments.user()
        invoice = await payments.invoice(user)
        await cryptopay.pay(await payments.provider_invoice_id(invoice.purchase_id))
        assert await cryptopay.wait_for_deliveries(1, timeout=BOUND)
        [delivery] = cryptopay.deliveries()
        assert [a["status"] for a in delivery["attempts"]] == [200]
        assert delivery["attempts"][0]["duration_ms"] < 500

        async def settled() -> bool:
            return await payments.status(invoice.purchase_id) == "paid"
        await wait_for(settled, message="the payment settled beside the slow clients")
        assert not any(task.done() for task in slow)  # the slow ones are still being waited for

        for (answer, seconds), trickled in zip(await asyncio.gather(*slow), (False, True, False, True)):
            if answer or not trickled:
                assert answer.startswith(b"HTTP/1.1 408 ") and b"too_slow" in answer, answer[:100]
            assert BOUND * 0.9 <= seconds < BOUND + 2
        assert payments.app.webhook.counts["too_slow"] == 4
        assert (await payments.counts())["events"] == 1
    finally:
        await stop_harness(payments, workers)


def test_the_bound_is_a_setting_with_a_few_seconds_by_default(monkeypatch):
    assert PaymentsSettings().webhook_body_timeout == 5.0
    monkeypatch.setenv("ATCS_WEBHOOK_BODY_TIMEOUT", "2.5")
    assert PaymentsSettings().webhook_body_timeout == 2.5
