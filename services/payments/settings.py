"""Payments' settings: the sections it is built from, Crypto Pay's and its own."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import Field, field_validator, model_validator

from common.settings.base import EnvSettings
from common.settings.pricing import PricingSettings
from common.settings.service import ServiceSettings
from common.settings.shop import ShopSettings
from common.settings.telegram import TelegramSettings
from common.settings.traffic import TrafficSettings


class CryptoPaySettings(PricingSettings):
    """Crypto Pay as payments calls it: the shop's currency (PricingSettings) and the API's own settings."""
    cryptopay_api_url: str = Field("https://pay.crypt.bot", description="Crypto Pay API base URL")
    cryptopay_accepted_assets: str = Field("USDT,TON,BTC", description="crypto assets a payer may use")
    cryptopay_invoice_ttl: int = Field(3600, ge=60, le=2678400, description="seconds an invoice stays payable")
    cryptopay_timeout: float = Field(10.0, gt=0, le=60, description="seconds for one Crypto Pay API request")
    cryptopay_read_attempts: int = Field(3, ge=1, le=10, description="attempts of a Crypto Pay read (getInvoices) before giving up")
    cryptopay_underpay_tolerance: Decimal = Field(
        Decimal("0.01"), ge=0, le=Decimal("0.1"),
        description="fraction of a fiat invoice that rate rounding may leave unpaid before the payment is flagged")

    def accepted_assets(self) -> list[str]:
        return [a.strip().upper() for a in self.cryptopay_accepted_assets.split(",") if a.strip()]

    @field_validator("cryptopay_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")


class PaymentsSettings(EnvSettings):
    payments_host: str = Field("127.0.0.1", description="address the webhook server binds")
    payments_port: int = Field(8081, ge=1, le=65535, description="port of POST /webhooks/cryptobot")
    webhook_max_body: int = Field(65536, ge=1024, description="largest webhook body accepted, bytes")
    webhook_body_timeout: float = Field(5.0, gt=0, le=60, description="seconds a webhook request may take to send its body; a slower client is dropped")
    confirm_retry_base: float = Field(1.0, gt=0, le=600, description="first pause before asking Crypto Pay again about a webhook claim it did not answer for (doubles each time)")
    confirm_retry_max: float = Field(60.0, gt=0, le=3600, description="longest pause between confirmations of a webhook claim; also how often stored claims are scanned")
    confirm_batch: int = Field(1000, ge=1, le=1000, description="webhook claims confirmed with one getInvoices call (Crypto Pay takes at most 1000 ids)")
    reconcile_interval: float = Field(30.0, gt=0, description="seconds between reconciliation passes")
    reconcile_batch: int = Field(100, ge=1, le=1000, description="invoice ids per getInvoices call")
    reconcile_grace: float = Field(300.0, ge=0, description="seconds past an invoice's expiry before it is expired here")
    stars_invoice_ttl: int = Field(3600, ge=60, le=2678400, description="seconds a Stars invoice stays payable")
    topup_min: Decimal = Field(Decimal("1"), gt=0, description="smallest balance top-up, in ATCS_CRYPTOPAY_FIAT")
    topup_max: Decimal = Field(Decimal("1000"), gt=0, description="largest balance top-up, in ATCS_CRYPTOPAY_FIAT")
    nudge_timeout: float = Field(1.0, gt=0, le=10, description="seconds for a best-effort nudge of a peer service")
    telegram_retry_base: float = Field(5.0, gt=0, le=600, description="first pause before payments asks Telegram again to stop renewing a refunded Stars subscription it could not reach (doubles each time, up to 10 minutes)")

    @model_validator(mode="after")
    def _topup_range(self) -> "PaymentsSettings":
        if self.topup_min > self.topup_max:
            raise ValueError("ATCS_TOPUP_MIN is above ATCS_TOPUP_MAX")
        return self


@dataclass
class Settings(ServiceSettings):
    """What payments is built from: the Bot API (Stars), Crypto Pay, the shop's terms and its own."""
    telegram: TelegramSettings
    cryptopay: CryptoPaySettings
    shop: ShopSettings
    payments: PaymentsSettings
    traffic: TrafficSettings
