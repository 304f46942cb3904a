"""``python -m sandbox.cryptopay`` runs the stand-in as a process."""

from __future__ import annotations

import json

import aiohttp

from sandbox.kit.process import StandInProcess
from sandbox.kit.sink import HttpSink


async def test_entry_point_serves_the_api_and_sends_webhooks():
    async with HttpSink("/hook") as sink:
        process = StandInProcess(
            "sandbox.cryptopay", "--port", "0", "--token", "cli-token", "--webhook-url", sink.endpoint,
            "--retry-delay", "0.01",
        )
        async with process:
            info = process.info
            assert info["service"] == "cryptopay" and info["webhook_url"] == sink.endpoint
            async with aiohttp.ClientSession(headers={"Crypto-Pay-API-Token": "cli-token"}) as http:
                async with http.post(f"{info['api_url']}/createInvoice", json={"asset": "TON", "amount": "1"}) as r:
                    invoice = (await r.json())["result"]
                assert invoice["bot_invoice_url"].startswith(info["url"])
                async with http.post(f"{info['url']}/_control/invoices/{invoice['invoice_id']}/pay") as r:
                    assert r.status == 200
                assert await sink.wait_for_requests(1, timeout=10)
        assert process.proc.returncode == 0  # SIGTERM ends it cleanly
    assert json.loads(sink.received[0].body)["payload"]["invoice_id"] == invoice["invoice_id"]
