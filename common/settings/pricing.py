"""What every amount the shop shows is in, and whether Crypto Bot is offered at all: read by each
service that shows a price or a balance. Crypto Pay's own settings (API, timeouts) extend this in
payments, the only service that calls it."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from common.settings.base import EnvSettings


class PricingSettings(EnvSettings):
    # Only whether it is set matters here; payments is the one that uses it.
    cryptopay_token: SecretStr | None = Field(None, description="Crypto Pay API app token; empty = Crypto Bot disabled")
    cryptopay_fiat: str = Field("USD", description="fiat currency of invoices")
    cryptopay_currency_type: Literal["fiat", "crypto"] = Field(
        "fiat", description="fiat: invoices priced in ATCS_CRYPTOPAY_FIAT; crypto: in ATCS_CRYPTOPAY_ASSET")
    cryptopay_asset: str = Field("USDT", description="asset of crypto-priced invoices (a stablecoin: the plan price is used as is)")

    @field_validator("cryptopay_fiat", "cryptopay_asset")
    @classmethod
    def _code(cls, value: str) -> str:
        value = value.strip().upper()
        if not value.isalnum() or len(value) > 16:
            raise ValueError("expected a currency code such as USD or USDT")
        return value

    @property
    def shop_currency(self) -> str:
        """The currency of plan prices, invoices and balances: what every amount the shop shows is in."""
        return self.cryptopay_fiat if self.cryptopay_currency_type == "fiat" else self.cryptopay_asset

    @property
    def cryptobot_enabled(self) -> bool:
        return bool(self.cryptopay_token and self.cryptopay_token.get_secret_value())
