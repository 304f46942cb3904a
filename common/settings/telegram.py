"""The bot's token, the Bot API and who the admins are: read by every service that talks to Telegram."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from common.settings.base import EnvSettings


class TelegramSettings(EnvSettings):
    bot_token: SecretStr | None = Field(None, description="Bot API token from @BotFather; empty = demo mode")
    telegram_api_url: str = Field("https://api.telegram.org", description="Bot API base URL")
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, description="comma-separated Telegram user ids of admins")
    polling_timeout: int = Field(10, ge=0, le=50, description="getUpdates long-poll seconds")
    request_timeout: float = Field(15.0, gt=0, le=120, description="seconds for one Bot API request")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")
