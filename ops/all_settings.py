"""Every service's settings in one view, for the operator's tools only (`atcs config`, the README's
table, `atcs up`): the services themselves each read just the sections they declare."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from common.settings.base import app_env
from common.settings.service import ServiceSettings
from common.settings.shop import ShopSettings
from common.settings.telegram import TelegramSettings
from common.settings.traffic import TrafficSettings
from services.bot import settings as bot
from services.bot.settings import BotSettings
from services.payments import settings as payments
from services.payments.settings import CryptoPaySettings, PaymentsSettings
from services.scheduler import settings as scheduler
from services.scheduler.settings import SchedulerSettings
from services.vpn_gateway import settings as vpn_gateway
from services.vpn_gateway.settings import VpnSettings

# What each service reads: the README's "read by" column.
SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {
    "bot": bot.Settings, "payments": payments.Settings, "scheduler": scheduler.Settings,
    "vpn_gateway": vpn_gateway.Settings}


@dataclass
class AllSettings(ServiceSettings):
    """The union of the four services' sections (Crypto Pay's includes the pricing every service reads)."""
    telegram: TelegramSettings
    cryptopay: CryptoPaySettings
    payments: PaymentsSettings
    shop: ShopSettings
    bot: BotSettings
    scheduler: SchedulerSettings
    vpn: VpnSettings
    traffic: TrafficSettings


@dataclass
class LaunchSettings(ServiceSettings):
    """What `atcs up` needs to start supervisord: whether the database is embedded, whether the demo
    sandbox runs (no bot token) and where payments' webhook listens. A bad value in a section only
    one service reads does not stop the launch: that service refuses to start, the others run."""
    telegram: TelegramSettings
    payments: PaymentsSettings


def effective_config() -> dict[str, dict[str, Any]]:
    """What `atcs config` prints: every value in force, secrets masked; any bad value raises ConfigError."""
    settings = AllSettings.read()
    result: dict[str, dict[str, Any]] = {"app": {"APP_ENV": app_env()}}
    for name, section in settings.sections().items():
        shown: dict[str, Any] = {}
        for field in type(section).model_fields:
            value = getattr(section, field)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif isinstance(value, (Path, Decimal)):
                value = str(value)
            elif isinstance(value, tuple):   # a list of models (ATCS_TRAFFIC_PACKAGES): as it is written
                value = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
            shown[f"ATCS_{field.upper()}"] = value
        result[name] = shown
    db = settings.database
    result["database"]["effective_url"] = _mask_url(db.url())
    result["database"]["connection"] = db.connection()
    return result


def _mask_url(url: str) -> str:
    # postgresql://user:password@host/db -> postgresql://user:****@host/db
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":****"
        return f"{scheme}://{creds}@{host}"
    return url
