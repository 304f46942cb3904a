"""Assets, fiat currencies and fixed exchange rates of the Crypto Pay stand-in.

Rates are fixed (not live) so that amounts in tests are predictable. They only
matter for fiat invoices (how much crypto pays them), for the USD-equivalent
amount limits and for ``getExchangeRates``.
"""

from __future__ import annotations

from decimal import Decimal

# Crypto assets the real API accepts for invoices (docs: "USDT", "TON", "BTC",
# "ETH", "LTC", "BNB", "TRX", "USDC"; "JET" on testnet), priced in USD.
ASSET_USD = {
    "USDT": Decimal("1"),
    "TON": Decimal("5"),
    "BTC": Decimal("60000"),
    "ETH": Decimal("3000"),
    "LTC": Decimal("80"),
    "BNB": Decimal("600"),
    "TRX": Decimal("0.125"),
    "USDC": Decimal("1"),
    "JET": Decimal("0.01"),
}

# Fiat currencies the real API accepts, as units per 1 USD.
FIAT_PER_USD = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "RUB": Decimal("90"),
    "BYN": Decimal("3.25"),
    "UAH": Decimal("40"),
    "GBP": Decimal("0.8"),
    "CNY": Decimal("7.2"),
    "KZT": Decimal("480"),
    "UZS": Decimal("12500"),
    "GEL": Decimal("2.7"),
    "TRY": Decimal("32"),
    "AMD": Decimal("390"),
    "THB": Decimal("36"),
    "INR": Decimal("83"),
    "BRL": Decimal("5"),
    "IDR": Decimal("16000"),
    "AZN": Decimal("1.7"),
    "AED": Decimal("3.67"),
    "PLN": Decimal("4"),
    "ILS": Decimal("3.7"),
}

# Assets an invoice may be swapped to on payment (createInvoice ``swap_to``).
SWAP_TO = ("USDT", "TON", "BTC", "ETH", "LTC", "BNB", "TRX", "USDC")

# The real service charges 3% on received payments.
FEE_RATE = Decimal("0.03")

_EIGHT_PLACES = Decimal("0.00000001")


def usd_value(amount: Decimal, *, asset: str | None = None, fiat: str | None = None) -> Decimal:
    if asset is not None:
        return amount * ASSET_USD[asset]
    assert fiat is not None
    return amount / FIAT_PER_USD[fiat]


def asset_price_in_fiat(asset: str, fiat: str) -> Decimal:
    return ASSET_USD[asset] * FIAT_PER_USD[fiat]


def money(value: Decimal) -> str:
    """Decimal string as the API prints amounts: no exponent, no trailing zeros."""
    value = value.quantize(_EIGHT_PLACES)
    text = format(value.normalize(), "f")
    return text


def exchange_rates() -> list[dict]:
    """``getExchangeRates`` result: every crypto asset against every fiat."""
    rows = []
    for asset in ASSET_USD:
        for fiat in FIAT_PER_USD:
            rows.append(
                {
                    "is_valid": True,
                    "is_crypto": True,
                    "is_fiat": False,
                    "source": asset,
                    "target": fiat,
                    "rate": money(asset_price_in_fiat(asset, fiat)),
                }
            )
    return rows
