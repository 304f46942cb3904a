"""A person in Telegram, as the bot's tests drive one through the stand-in."""
from __future__ import annotations

from typing import Any

from sandbox.telegram.server import TelegramStandIn

# How long a person waits for the bot: a bound against a hang, not a speed claim (speed is shown
# by bench/), wide enough for a busy 2-core machine where the bot and the stand-in share the CPUs.
WAIT = 15.0


class Person:
    def __init__(self, standin: TelegramStandIn, user_id: int, language: str = "en", first_name: str = "Ann") -> None:
        self.standin = standin
        self.id = user_id
        self.language = language
        self.first_name = first_name

    async def last_id(self) -> int:
        transcript = await self.standin.transcript(self.id)
        return transcript[-1]["message_id"] if transcript else 0

    async def say(self, text: str, timeout: float = WAIT, *, expect: str | None = None) -> dict[str, Any]:
        """Sends a message and returns the bot's first reply after it (containing `expect`)."""
        after = await self.last_id()
        await self.standin.user_message(self.id, text, first_name=self.first_name, language_code=self.language)
        return await self.reply(after, expect, timeout)

    async def reply(self, after: int, expect: str | None = None, timeout: float = WAIT) -> dict[str, Any]:
        return await self.standin.wait_for_message(
            self.id, (lambda m: expect in (m["text"] or "")) if expect else None, timeout, after=after)

    async def tap(self, label: str | None = None, *, data: str | None = None,
                  message_id: int | None = None) -> dict[str, Any]:
        return await self.standin.tap(self.id, label, data=data, message_id=message_id)

    async def shown_after(self, since: float, expect: str) -> float:
        """Seconds from `since` (time.time()) until the bot's first call showing `expect` to this person
        reached Telegram, by the stand-in's clock: what the person waited, not when a test noticed it."""
        for call in await self.standin.calls():
            params = call["params"]
            if (call["time"] >= since and str(params.get("chat_id")) == str(self.id)
                    and call["method"] in ("sendMessage", "editMessageText") and expect in str(params.get("text", ""))):
                return call["time"] - since
        raise AssertionError(f"the bot never showed {expect!r} to {self.id} after {since}")

    async def answer_of(self, tap: dict[str, Any], timeout: float = WAIT) -> dict[str, Any]:
        """The answerCallbackQuery a tap got (waits for it)."""
        query_id = tap["callback_query_id"]

        async def answered() -> dict[str, Any] | None:
            for query in await self.standin.callback_queries():
                if query["id"] == query_id and query["answers"]:
                    return query
            return None

        from tests.support.wait import wait_for
        return await wait_for(answered, timeout=timeout, message=f"answer to {query_id}")

    async def screen(self, message_id: int) -> dict[str, Any]:
        for entry in await self.standin.transcript(self.id):
            if entry["message_id"] == message_id:
                return entry
        raise AssertionError(f"no message {message_id}")

    async def wait_screen(self, message_id: int, expect: str, timeout: float = WAIT) -> dict[str, Any]:
        from tests.support.wait import wait_for

        async def shows() -> dict[str, Any] | None:
            entry = await self.screen(message_id)
            return entry if expect in (entry["text"] or "") else None
        try:
            return await wait_for(shows, timeout=timeout, message=f"message {message_id} to show {expect!r}")
        except AssertionError as exc:
            shown = (await self.screen(message_id))["text"]
            raise AssertionError(f"{exc}; it shows {shown!r}") from None

    async def wait_buttons(self, message_id: int, expect: list[str], *, by: str = "text",
                           timeout: float = WAIT) -> dict[str, Any]:
        """Waits for `message_id` to carry exactly these buttons (labels, or `by="callback_data"`).

        Text and keyboard may arrive in separate edits, so seeing the text is no sign the buttons are there."""
        from tests.support.wait import wait_for

        async def carries() -> dict[str, Any] | None:
            entry = await self.screen(message_id)
            return entry if [b.get(by) for b in buttons(entry)] == expect else None
        try:
            return await wait_for(carries, timeout=timeout, message=f"message {message_id} to carry {expect!r}")
        except AssertionError as exc:
            shown = [b.get(by) for b in buttons(await self.screen(message_id))]
            raise AssertionError(f"{exc}; it carries {shown!r}") from None


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in buttons(message)]


async def forged_tap(standin: TelegramStandIn, user_id: int, message_id: int, data: str) -> dict[str, Any]:
    """A callback query with data no button carries (a modified client, a replayed old tap).

    The stand-in's tap() only presses buttons that are on screen, as a real client does; this
    builds the same query through its world, the way actions.tap does (workaround, see report).
    """
    import time

    from sandbox.telegram.models import CallbackRecord

    world = standin.world
    user = world.user(user_id)
    message = world.find_message(user_id, message_id)
    assert message is not None, f"no message {message_id}"
    record = CallbackRecord(id=world.new_query_id(), user_id=user_id, chat_id=user_id, message_id=message_id,
                            data=data, created_at=time.time(), created_mono=time.monotonic())
    world.callbacks[record.id] = record
    world.enqueue("callback_query", {"id": record.id, "from": user.api(), "message": world.message_api(message),
                                     "chat_instance": str(user_id), "data": data})
    return {"callback_query_id": record.id, "message_id": message_id}
