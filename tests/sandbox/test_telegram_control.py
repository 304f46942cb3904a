"""Raw Bot API encodings (form, multipart, JSON, query string), the HTTP control client, and the
`python -m sandbox.telegram` entry point."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from sandbox.telegram import ControlRequestError, TelegramControl, TelegramStandIn

USER = 4004
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def control(standin):
    async with TelegramControl(standin.url) as client:
        yield client


def api(standin: TelegramStandIn, method: str) -> str:
    return f"{standin.url}/bot{standin.token}/{method}"


# --- raw encodings -----------------------------------------------------------------------------


async def test_form_urlencoded_with_nested_json_strings(standin, http):
    markup = {"inline_keyboard": [[{"text": "Buy", "callback_data": "buy"}]]}
    form = {"chat_id": str(USER), "text": "<i>hi</i>", "parse_mode": "HTML", "reply_markup": json.dumps(markup)}
    async with http.post(api(standin, "sendMessage"), data=form) as response:
        body = await response.json()
    assert response.status == 200 and body["ok"] is True
    assert body["result"]["text"] == "hi" and body["result"]["reply_markup"] == markup
    assert body["result"]["entities"] == [{"offset": 0, "length": 2, "type": "italic"}]


async def test_json_body_and_query_string(standin, http):
    async with http.post(api(standin, "sendMessage"), json={"chat_id": USER, "text": "json"}) as response:
        assert (await response.json())["result"]["text"] == "json"
    async with http.get(api(standin, "sendMessage"), params={"chat_id": str(USER), "text": "query"}) as response:
        assert (await response.json())["result"]["text"] == "query"


async def test_multipart_with_the_file_in_the_named_field(standin, http):
    form = aiohttp.FormData()
    form.add_field("chat_id", str(USER))
    form.add_field("document", b"\x00\x01binary\xff", filename="backup.bin", content_type="application/octet-stream")
    async with http.post(api(standin, "sendDocument"), data=form) as response:
        document = (await response.json())["result"]["document"]
    assert document["file_name"] == "backup.bin" and document["file_size"] == 9
    assert await standin.file_bytes(document["file_id"]) == b"\x00\x01binary\xff"


async def test_error_envelope_for_bad_markup_and_missing_chat(standin, http):
    async with http.post(api(standin, "sendMessage"), data={"chat_id": str(USER), "text": "x", "reply_markup": "{oops"}) as response:
        assert response.status == 400
        assert await response.json() == {
            "ok": False, "error_code": 400, "description": "Bad Request: can't parse reply keyboard markup JSON object"}
    async with http.post(api(standin, "sendMessage"), data={"chat_id": "@someone", "text": "x"}) as response:
        assert (await response.json())["description"] == "Bad Request: chat not found"


async def test_strict_chats_refuse_users_who_never_wrote(http):
    async with TelegramStandIn(strict_chats=True) as strict:
        async with http.post(api(strict, "sendMessage"), json={"chat_id": USER, "text": "hi"}) as response:
            assert response.status == 400 and (await response.json())["description"] == "Bad Request: chat not found"
        await strict.user_message(USER, "/start")
        async with http.post(api(strict, "sendMessage"), json={"chat_id": USER, "text": "hi"}) as response:
            assert response.status == 200


# --- control client over HTTP ------------------------------------------------------------------


async def bot_call(http: aiohttp.ClientSession, standin: TelegramStandIn, method: str, **params):
    async with http.post(api(standin, method), json=params) as response:
        return response.status, await response.json()


async def test_control_client_acts_as_user_and_reads_back(standin, http, control):
    update = await control.user_message(USER, "/start", first_name="Bo", username="bo", language_code="ru")
    assert update["message"]["from"] == {"id": USER, "is_bot": False, "first_name": "Bo", "username": "bo", "language_code": "ru"}
    markup = {"inline_keyboard": [[{"text": "Trial", "callback_data": "trial"}]]}
    status, sent = await bot_call(http, standin, "sendMessage", chat_id=USER, text="menu", reply_markup=markup)
    assert status == 200

    tapped = await control.tap(USER, "Trial")
    assert tapped["message_id"] == sent["result"]["message_id"]
    with pytest.raises(ControlRequestError) as missing:
        await control.tap(USER, data="nope")
    assert missing.value.status == 404

    status, _ = await bot_call(http, standin, "answerCallbackQuery", callback_query_id=tapped["callback_query_id"])
    assert status == 200
    [query] = await control.callback_queries()
    assert query["answered"] == 1 and query["data"] == "trial"

    transcript = await control.transcript(USER)
    assert [(m["from"], m["text"]) for m in transcript] == [("user", "/start"), ("bot", "menu")]
    assert [u["update_id"] for u in await control.pending_updates()] == [update["update_id"], tapped["update_id"]]
    calls = await control.calls("answercallbackquery")
    assert [c["method"] for c in calls] == ["answerCallbackQuery"]

    await control.block(USER)
    status, body = await bot_call(http, standin, "sendMessage", chat_id=USER, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    await control.unblock(USER)
    assert (await bot_call(http, standin, "sendMessage", chat_id=USER, text="x"))[0] == 200

    await control.reset()
    assert await control.transcript(USER) == [] and await control.calls() == []


async def test_control_client_faults_limits_and_files(standin, http, control):
    await control.add_fault("getMe", status=503, count=2)
    assert [f["method"] for f in await control.faults()] == ["getMe"]
    assert (await bot_call(http, standin, "getMe"))[0] == 503
    await control.clear_faults()
    assert (await bot_call(http, standin, "getMe"))[0] == 200
    with pytest.raises(ControlRequestError) as bad:
        await control.add_fault("getMe")
    assert bad.value.status == 400

    limits = await control.set_limits(chat_burst=1, callback_answer_window=2)
    assert (limits["chat_burst"], limits["callback_answer_window"]) == (1, 2)
    assert (await control.limits())["chat_burst"] == 1
    assert (await bot_call(http, standin, "sendMessage", chat_id=USER, text="1"))[0] == 200
    status, body = await bot_call(http, standin, "sendMessage", chat_id=USER, text="2")
    assert status == 429 and body["parameters"]["retry_after"] >= 1

    form = aiohttp.FormData({"chat_id": str(USER + 1)})
    form.add_field("document", b"a,b\n", filename="x.csv")
    async with http.post(api(standin, "sendDocument"), data=form) as response:
        file_id = (await response.json())["result"]["document"]["file_id"]
    assert await control.file_bytes(file_id) == b"a,b\n"


async def test_control_client_pays_an_invoice(standin, http, control):
    status, _ = await bot_call(http, standin, "sendInvoice", chat_id=USER, title="t", description="d", payload="p:1",
                               currency="XTR", prices=[{"label": "x", "amount": 5}])
    assert status == 200
    paying = asyncio.create_task(control.pay_invoice(USER, drop_update=True))
    status, updates = await bot_call(http, standin, "getUpdates", timeout=5)
    query = updates["result"][0]["pre_checkout_query"]
    await bot_call(http, standin, "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True)
    result = await asyncio.wait_for(paying, 5)
    assert result["status"] == "paid"
    [tx] = await control.star_transactions()
    assert (tx["id"], tx["amount"], tx["refund"]) == (result["charge_id"], 5, False)


async def test_control_client_waits_for_a_message_without_polling(standin, http, control):
    await control.user_message(USER, "hi")
    waiter = asyncio.create_task(control.wait_for_message(USER, lambda m: "later" in (m["text"] or ""), timeout=5))
    await bot_call(http, standin, "sendMessage", chat_id=USER, text="first")
    await bot_call(http, standin, "sendMessage", chat_id=USER, text="later on")
    found = await asyncio.wait_for(waiter, 5)
    assert found["text"] == "later on"
    with pytest.raises(TimeoutError):
        await control.wait_for_message(USER, lambda m: m["text"] == "never", timeout=0.2)


async def test_in_process_wait_for_message_times_out_with_the_transcript(standin):
    await standin.user_message(USER, "hi")
    with pytest.raises(TimeoutError, match="transcript"):
        await standin.wait_for_message(USER, timeout=0.1)
    # from_bot=False lets a test wait for the user's own (e.g. payment) messages too.
    assert (await standin.wait_for_message(USER, from_bot=False, timeout=0.1))["text"] == "hi"


async def test_control_api_allows_browser_pages(standin, http):
    async with http.options(f"{standin.url}/_control/users/1/message") as response:
        assert response.status == 204 and response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
    async with http.get(f"{standin.url}/_control/chats/1/messages") as response:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    async with http.get(api(standin, "getMe")) as response:
        assert "Access-Control-Allow-Origin" not in response.headers


# --- entry point -------------------------------------------------------------------------------


async def test_module_entry_point_serves_until_terminated(http):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.telegram", "--port", "0", "--token", "42:ENTRY",
        "--limits", '{"chat_rate": 5}',
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 15))
        assert (ready["service"], ready["token"]) == ("telegram", "42:ENTRY")
        url = ready["api_url"]
        assert url.startswith("http://127.0.0.1:") and ready["control_url"] == f"{url}/_control"
        async with http.get(f"{url}/bot42:ENTRY/getMe") as response:
            assert (await response.json())["result"]["id"] == 42
        async with TelegramControl(url) as remote:
            assert (await remote.limits())["chat_rate"] == 5
            assert (await remote.health())["ok"] is True
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
