"""TelegramStandIn: the stand-in as an object a test (or the demo) starts on a loopback port.

Its async methods mirror the control API one to one, so a test can switch between an in-process
stand-in and TelegramControl pointed at another process without changing its body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.webchat import PATH as WEB_CHAT_PATH
from sandbox.webchat import WebChatConfig, add_web_chat_routes

from . import subscriptions
from .actions import MessagePredicate, UserActions
from .botapi import add_bot_api_routes
from .config import Limits, StandInConfig
from .control_api import add_control_routes
from .control_paid_broadcast import add_paid_broadcast_routes, balance_view, set_balance
from .errors import ControlError
from .faults import Fault
from .keys import ACTIONS, WORLD
from .state import World

# Above Telegram's 50 MB upload limit, so oversized files get Telegram's answer rather than aiohttp's.
CLIENT_MAX_SIZE = 52 * 1024 * 1024
DEFAULT_TOKEN = StandInConfig.token


def create_app(world: World, actions: UserActions, web_chat: WebChatConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app[WORLD] = world
    app[ACTIONS] = actions
    add_bot_api_routes(app)
    add_control_routes(app)
    add_paid_broadcast_routes(app)
    if web_chat is not None:
        add_web_chat_routes(app, web_chat)
    return app


class TelegramStandIn:
    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: Limits | dict[str, Any] | None = None,
        bot_username: str = StandInConfig.bot_username,
        bot_first_name: str = StandInConfig.bot_first_name,
        strict_chats: bool = False,
        web_chat: WebChatConfig | bool = False,
    ) -> None:
        """web_chat: also serve the web chat page at /chat (True for the default config)."""
        if isinstance(limits, dict):
            limits = Limits().updated(limits)
        self.config = StandInConfig(
            token=token, bot_username=bot_username, bot_first_name=bot_first_name, strict_chats=strict_chats
        )
        self.world = World(self.config, limits or Limits())
        self.actions = UserActions(self.world)
        self.host = host
        self.port = port
        self.url: str | None = None
        self.web_chat = WebChatConfig() if web_chat is True else (web_chat or None)
        self._runner: web.AppRunner | None = None

    @property
    def token(self) -> str:
        return self.config.token

    async def start(self) -> str:
        """Listen and return the base URL (what ATCS_TELEGRAM_API_URL should be set to)."""
        if self._runner is not None:
            raise RuntimeError("already started")
        self.world.closing = False
        app = create_app(self.world, self.actions, self.web_chat)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        # Long polls are released on stop, so a short shutdown timeout is never actually waited out.
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    @property
    def web_chat_url(self) -> str | None:
        """Where a person opens the web chat (None when it is not served)."""
        if self.url is None or self.web_chat is None:
            return None
        return f"{self.url}{WEB_CHAT_PATH}"

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.world.close()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> TelegramStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- acting as users --------------------------------------------------------------------------

    async def user_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        return self.actions.message(
            user_id, text, first_name=first_name, last_name=last_name, username=username, language_code=language_code
        )

    async def tap(
        self, user_id: int, label: str | None = None, *, data: str | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        return self.actions.tap(user_id, label=label, data=data, message_id=message_id)

    async def pay_invoice(
        self, user_id: int, *, message_id: int | None = None, drop_update: bool = False, timeout: float | None = None
    ) -> dict[str, Any]:
        return await self.actions.pay_invoice(user_id, message_id=message_id, drop_update=drop_update, timeout=timeout)

    async def pay_link(
        self, user_id: int, url: str, *, copies: int = 1, timeout: float | None = None
    ) -> dict[str, Any]:
        return await self.actions.pay_link(user_id, url, copies=copies, timeout=timeout)

    async def chargeback(self, user_id: int, charge_id: str, *, silent: bool = False) -> dict[str, Any]:
        return self.actions.chargeback(user_id, charge_id, silent=silent)

    async def set_stars(self, user_id: int, stars: int) -> dict[str, Any]:
        return self.actions.set_stars(user_id, stars)

    async def renew_now(self, user_id: int, *, copies: int = 1) -> dict[str, Any]:
        return subscriptions.advance_to_renewal(self.world, user_id, copies=copies)

    async def advance_clock(self, seconds: int, *, copies: int = 1) -> dict[str, Any]:
        return subscriptions.advance(self.world, seconds, copies=copies)

    async def star_subscriptions(self, user_id: int | None = None) -> list[dict[str, Any]]:
        return [
            {**s.to_json(), "user_stars": self.world.user(s.user_id).stars}
            for s in self.world.subscriptions.values()
            if user_id is None or s.user_id == user_id
        ]

    async def block(self, user_id: int) -> dict[str, Any]:
        return self.actions.block(user_id)

    async def unblock(self, user_id: int) -> dict[str, Any]:
        return self.actions.unblock(user_id)

    # --- reading what happened --------------------------------------------------------------------

    async def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        return self.world.transcript(chat_id)

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: MessagePredicate | None = None,
        timeout: float = 5.0,
        *,
        after: int = 0,
        from_bot: bool = True,
    ) -> dict[str, Any]:
        return await self.actions.wait_for_message(chat_id, predicate, timeout, after=after, from_bot=from_bot)

    async def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        wanted = (method or "").lower()
        return [c.to_json() for c in self.world.calls if not wanted or c.method.lower() == wanted]

    async def callback_queries(self) -> list[dict[str, Any]]:
        return [record.summary() for record in self.world.callbacks.values()]

    async def star_transactions(self) -> list[dict[str, Any]]:
        return [{**t.api(self.world.user(t.user_id).api()), "refund": t.refund} for t in self.world.transactions]

    async def pending_updates(self) -> list[dict[str, Any]]:
        return list(self.world.updates)

    async def file_bytes(self, file_id: str) -> bytes:
        record = self.world.files.get(file_id)
        if record is None:
            raise ControlError(404, "no such file_id")
        return record.data

    # --- faults, limits, reset --------------------------------------------------------------------

    async def add_fault(
        self,
        method: str = "*",
        *,
        latency: float | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        count: int | None = None,
        outage: bool = False,
        description: str | None = None,
        raw_body: str | None = None,
    ) -> dict[str, Any]:
        fault = Fault.from_json(
            {
                "method": method,
                "latency": latency,
                "status": status,
                "retry_after": retry_after,
                "count": count,
                "outage": outage,
                "description": description,
                "raw_body": raw_body,
            }
        )
        self.world.faults.add(fault)
        return fault.to_json()

    async def faults(self) -> list[dict[str, Any]]:
        return self.world.faults.to_json()

    async def clear_faults(self) -> None:
        self.world.faults.clear()

    async def set_limits(self, **changes: Any) -> dict[str, Any]:
        self.world.set_limits(self.world.limits.updated(changes))
        return self.world.limits.to_json()

    async def limits(self) -> dict[str, Any]:
        return self.world.limits.to_json()

    async def reset(self) -> None:
        self.world.reset()

    async def set_star_balance(self, amount: int, nanostar_amount: int = 0) -> dict[str, Any]:
        """The bot's Stars balance from now on (paid broadcasts draw on it)."""
        return set_balance(self.world, {"amount": amount, "nanostar_amount": nanostar_amount})

    async def star_balance(self) -> dict[str, Any]:
        """The balance as StarAmount, plus billed_messages and billed (what paid broadcasts cost)."""
        return balance_view(self.world)
