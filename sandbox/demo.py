"""python -m sandbox.demo: every stand-in the offline demo needs, in one process.

`atcs up` runs it as the supervisord program `sandbox` when ATCS_BOT_TOKEN is not set, with the
environment ops/demo.py writes (the services get the same one, so both sides agree):

    ATCS_SANDBOX_PORT (8090)            Telegram Bot API stand-in, its control API, the web chat at /chat
    ATCS_SANDBOX_CRYPTOPAY_PORT (8091)  Crypto Pay stand-in (API under /api, pay pages under /pay)
    ATCS_SANDBOX_OUTLINE_PORT (8092)    Outline stand-in, API under /<ATCS_SANDBOX_OUTLINE_API_PREFIX>
    ATCS_SANDBOX_REMNAWAVE_PORT (8093)  Remnawave stand-in, Bearer ATCS_SANDBOX_REMNAWAVE_TOKEN
    ATCS_SANDBOX_MARZBAN_PORT (8094)    Marzban stand-in, admin ATCS_SANDBOX_MARZBAN_USERNAME / _PASSWORD
    ATCS_SANDBOX_XUI_PORT (8095)        3x-ui stand-in, login ATCS_SANDBOX_XUI_USERNAME / _PASSWORD;
                                        its VLESS Reality inbound has ops/demo.py's DEMO_XUI_INBOUND_ID
    ATCS_BOT_TOKEN, ATCS_CRYPTOPAY_TOKEN the tokens the Telegram and Crypto Pay stand-ins accept
    ATCS_SANDBOX_CRYPTOPAY_WEBHOOK_URL  where invoice_paid goes (default: the payments service,
                                        http://127.0.0.1:<ATCS_PAYMENTS_PORT>/webhooks/cryptobot)
    ATCS_SANDBOX_ADMIN_IDS              user ids the web chat's switch offers as admins

Missing variables fall back to ops/demo.py's constants, so `python -m sandbox.demo` alone runs the
same sandbox. Once everything listens it prints one JSON line with every URL; SIGTERM or SIGINT
stops all stand-ins and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import environ as os_environ
from typing import Any

from ops import demo as defaults
from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.cryptopay.webhooks import DeliveryPolicy
from sandbox.panels.marzban.standin import MarzbanStandIn
from sandbox.panels.outline.standin import OutlineStandIn
from sandbox.panels.remnawave.standin import RemnawaveStandIn
from sandbox.panels.xui.standin import XuiStandIn
from sandbox.telegram import TelegramStandIn
from sandbox.webchat import Persona, WebChatConfig

DEMO_USER = Persona(id=100_001, first_name="Demo", language_code="en", label="Demo user")
# The payments service may start after the sandbox or restart: keep re-delivering for ~2.5 minutes
# (reconciliation finds anything still missed).
DELIVERY = DeliveryPolicy(max_attempts=10, base_delay=1.0, max_delay=30.0)


def _ids(raw: str) -> list[int]:
    ids = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if part.isdigit() and int(part) > 0:
            ids.append(int(part))
    return ids


@dataclass(frozen=True)
class DemoConfig:
    host: str = defaults.SANDBOX_HOST
    ports: dict[str, int] = field(default_factory=lambda: dict(defaults.PORT_DEFAULTS))
    bot_token: str = defaults.DEMO_BOT_TOKEN
    cryptopay_token: str = defaults.DEMO_CRYPTOPAY_TOKEN
    cryptopay_webhook_url: str = "http://127.0.0.1:8081/webhooks/cryptobot"
    outline_api_prefix: str = defaults.DEMO_OUTLINE_API_PREFIX
    remnawave_token: str = defaults.DEMO_REMNAWAVE_TOKEN
    marzban_username: str = defaults.DEMO_MARZBAN_USERNAME
    marzban_password: str = defaults.DEMO_MARZBAN_PASSWORD
    xui_username: str = defaults.DEMO_XUI_USERNAME
    xui_password: str = defaults.DEMO_XUI_PASSWORD
    admin_ids: tuple[int, ...] = (defaults.DEMO_ADMIN_ID,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DemoConfig:
        def get(name: str, default: str) -> str:
            return (environ.get(name) or "").strip() or default

        payments_port = get("ATCS_PAYMENTS_PORT", "8081")
        admins = _ids(environ.get("ATCS_SANDBOX_ADMIN_IDS") or environ.get("ATCS_ADMIN_IDS") or "")
        return cls(
            ports=defaults.ports(environ),
            bot_token=get("ATCS_BOT_TOKEN", defaults.DEMO_BOT_TOKEN),
            cryptopay_token=get("ATCS_CRYPTOPAY_TOKEN", defaults.DEMO_CRYPTOPAY_TOKEN),
            cryptopay_webhook_url=get(
                "ATCS_SANDBOX_CRYPTOPAY_WEBHOOK_URL", f"http://127.0.0.1:{payments_port}/webhooks/cryptobot"
            ),
            outline_api_prefix=get("ATCS_SANDBOX_OUTLINE_API_PREFIX", defaults.DEMO_OUTLINE_API_PREFIX),
            remnawave_token=get("ATCS_SANDBOX_REMNAWAVE_TOKEN", defaults.DEMO_REMNAWAVE_TOKEN),
            marzban_username=get("ATCS_SANDBOX_MARZBAN_USERNAME", defaults.DEMO_MARZBAN_USERNAME),
            marzban_password=get("ATCS_SANDBOX_MARZBAN_PASSWORD", defaults.DEMO_MARZBAN_PASSWORD),
            xui_username=get("ATCS_SANDBOX_XUI_USERNAME", defaults.DEMO_XUI_USERNAME),
            xui_password=get("ATCS_SANDBOX_XUI_PASSWORD", defaults.DEMO_XUI_PASSWORD),
            admin_ids=tuple(admins) or (defaults.DEMO_ADMIN_ID,),
        )

    def web_chat(self) -> WebChatConfig:
        admins = tuple(
            Persona(id=i, first_name="Admin", language_code="en", label=f"Admin {i}") for i in self.admin_ids
        )
        return WebChatConfig(default_user=DEMO_USER, personas=admins, title="ATCS demo")


class Sandbox:
    """Every stand-in (Telegram, Crypto Pay and the four VPN panels), started and stopped together."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        ports = config.ports
        self.telegram = TelegramStandIn(
            token=config.bot_token,
            host=config.host,
            port=ports["ATCS_SANDBOX_PORT"],
            bot_username=defaults.DEMO_BOT_USERNAME,
            bot_first_name=defaults.DEMO_BOT_NAME,
            web_chat=config.web_chat(),
        )
        self.cryptopay = CryptoPayStandIn(
            token=config.cryptopay_token,
            webhook_url=config.cryptopay_webhook_url,
            host=config.host,
            port=ports["ATCS_SANDBOX_CRYPTOPAY_PORT"],
            app_name="ATCS demo",
            delivery=DELIVERY,
        )
        self.outline = OutlineStandIn(
            api_prefix=config.outline_api_prefix,
            host=config.host,
            port=ports["ATCS_SANDBOX_OUTLINE_PORT"],
            name="ATCS demo Outline",
        )
        self.remnawave = RemnawaveStandIn(
            token=config.remnawave_token, host=config.host, port=ports["ATCS_SANDBOX_REMNAWAVE_PORT"]
        )
        self.marzban = MarzbanStandIn(
            admin_username=config.marzban_username,
            admin_password=config.marzban_password,
            host=config.host,
            port=ports["ATCS_SANDBOX_MARZBAN_PORT"],
        )
        self.xui = XuiStandIn(
            username=config.xui_username,
            password=config.xui_password,
            host=config.host,
            port=ports["ATCS_SANDBOX_XUI_PORT"],
            inbound_id=defaults.DEMO_XUI_INBOUND_ID,
        )
        self._started: list[Any] = []

    async def start(self) -> dict[str, Any]:
        try:
            for standin in (self.telegram, self.cryptopay, self.outline, self.remnawave, self.marzban, self.xui):
                await standin.start()
                self._started.append(standin)
        except BaseException:
            await self.stop()
            raise
        return self.describe()

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()

    def describe(self) -> dict[str, Any]:
        return {
            "service": "sandbox",
            "event": "listening",
            "web_chat": self.telegram.web_chat_url,
            "telegram": self.telegram.url,
            "telegram_control": f"{self.telegram.url}/_control",
            "cryptopay": self.cryptopay.url,
            "cryptopay_webhook": self.cryptopay.webhooks.url,
            "outline": self.outline.url,
            "outline_api": self.outline.api_url,
            "remnawave": self.remnawave.url,
            "marzban": self.marzban.url,
            "xui": self.xui.url,
            "admin_ids": list(self.config.admin_ids),
        }


def _log(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def serve(config: DemoConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sandbox = Sandbox(config)
    try:
        _log(await sandbox.start())
    except OSError as exc:
        # Typically a port already taken; supervisord retries, the log says which.
        _log({"service": "sandbox", "event": "start_failed", "error": str(exc), "ports": config.ports})
        return 1
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
    _log({"service": "sandbox", "event": "stopped"})
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(__doc__, file=sys.stdout if argv[0] in ("-h", "--help") else sys.stderr)
        return 0 if argv[0] in ("-h", "--help") else 2
    try:
        config = DemoConfig.from_env(os_environ)
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
