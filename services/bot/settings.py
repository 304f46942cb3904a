"""The bot's settings: the sections it is built from, and its own (ATCS_BOT_*)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from common.paths import REPO_ROOT
from common.settings.base import EnvSettings
from common.settings.pricing import PricingSettings
from common.settings.service import ServiceSettings
from common.settings.shop import ShopSettings
from common.settings.telegram import TelegramSettings
from common.settings.traffic import TrafficSettings


class BotSettings(EnvSettings):
    bot_concurrency: int = Field(32, ge=1, le=1000, description="updates the bot handles at once (more wait in Telegram)")
    bot_throttle_rate: float = Field(2.0, gt=0, le=100, description="updates per second one user may send on average")
    bot_throttle_burst: int = Field(8, ge=1, le=1000, description="updates one user may send in a burst")
    bot_rpc_deadline: float = Field(0.6, gt=0, le=10, description="seconds a handler waits on payments/vpn_gateway before 'working on it' (the rest of the 1 s promise is for the update's own work)")
    bot_usage_deadline: float = Field(0.5, gt=0, le=10, description="seconds to wait for live traffic figures")
    bot_nudge_deadline: float = Field(0.3, gt=0, le=10, description="seconds for a best-effort nudge")
    bot_followup_timeout: float = Field(30.0, gt=0, le=600, description="seconds a deferred request keeps retrying before 'try again'")
    bot_pre_checkout_deadline: float = Field(6.0, gt=0, le=9, description="seconds to wait for payments on a Stars pre-checkout (Telegram allows 10)")
    bot_notify_interval: float = Field(2.0, gt=0, le=60, description="seconds between scans of the notification outbox")
    bot_notify_concurrency: int = Field(8, ge=1, le=100, description="notifications sent at once")
    bot_retry_after_max: float = Field(30.0, ge=0, le=600, description="longest 429 retry_after a request waits out before giving up")
    bot_admin_deadline: float = Field(2.0, gt=0, le=30, description="seconds an admin screen waits on a service (status, refund, broadcast, export, bulk reissue)")
    bot_webhook_url: str | None = Field(None, description="public https URL Telegram posts updates to (webhook mode, any number of hosts behind it); empty = long polling (docs/scaling.md)")
    bot_webhook_secret: SecretStr | None = Field(None, validate_default=True, description="secret_token Telegram sends with each webhook update (1-256 of A-Z a-z 0-9 _ -); required in webhook mode")
    bot_webhook_host: str = Field("0.0.0.0", description="address the bot's webhook listener binds")
    bot_webhook_port: int = Field(8443, ge=1, le=65535, description="port the bot's webhook listener binds (your proxy forwards the public URL to it)")
    supervisor_socket: Path = Field(REPO_ROOT / "var" / "run" / "supervisor.sock", description="supervisord's unix socket, read by the admin status screen")

    @field_validator("bot_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("expected the https URL Telegram posts updates to")
        return value or None

    @field_validator("bot_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("bot_webhook_url"):
            secret = value.get_secret_value() if value else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise ValueError("webhook mode (ATCS_BOT_WEBHOOK_URL) needs a secret of 1-256 characters A-Z a-z 0-9 _ -")
        return value


@dataclass
class Settings(ServiceSettings):
    """What the bot is built from: Telegram, the shop's prices and terms, and its own."""
    telegram: TelegramSettings
    cryptopay: PricingSettings
    shop: ShopSettings
    bot: BotSettings
    traffic: TrafficSettings
