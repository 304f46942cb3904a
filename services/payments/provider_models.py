"""Crypto Pay's objects as we accept them: the Invoice and the webhook update around it.

Everything from outside is validated before use. Amounts are decimal strings (never floats) with
bounded size and precision, so no later arithmetic can overflow; strings are bounded and free of
NUL, which PostgreSQL refuses in text and jsonb.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints

_MAX_MONEY = Decimal(10) ** 15
_MAX_MONEY_CHARS = 48


def _money(value: object) -> Decimal:
    # bool is an int in Python; a float has already lost precision: both are refused.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("amount must be a decimal string")
    if isinstance(value, str) and len(value) > _MAX_MONEY_CHARS:
        raise ValueError("amount too long")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError, TypeError, ArithmeticError):
        raise ValueError("amount is not a number") from None
    if not amount.is_finite() or amount < 0 or amount >= _MAX_MONEY:
        raise ValueError("amount out of range")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -18:
        raise ValueError("amount has too many decimal places")
    return amount


def _clean(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8") from None
    return value


Money = Annotated[Decimal, BeforeValidator(_money)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,16}$")]
Text = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_clean)]
Id64 = Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]


class CryptoInvoice(BaseModel):
    """The fields of Crypto Pay's Invoice that settlement reads; others are ignored."""
    model_config = ConfigDict(extra="ignore", frozen=True)

    invoice_id: Annotated[StrictInt, Field(gt=0, lt=2**63)]
    status: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
    currency_type: Literal["crypto", "fiat"] = "crypto"   # invoices before API 1.2 were crypto only
    asset: Code | None = None
    fiat: Code | None = None
    amount: Money
    paid_asset: Code | None = None
    paid_amount: Money | None = None
    paid_fiat_rate: Money | None = None
    accepted_assets: Annotated[list[Code], Field(max_length=64)] | None = None
    payload: Text | None = None
    bot_invoice_url: Annotated[Text, StringConstraints(max_length=2048)] | None = None

    def summary(self) -> dict[str, object]:
        """What we keep of it in payment_events.detail."""
        return self.model_dump(mode="json", exclude={"bot_invoice_url"}, exclude_none=True)


class WebhookUpdate(BaseModel):
    """`{update_id, update_type, request_date, payload}`; payload is checked once the type is known."""
    model_config = ConfigDict(extra="ignore", frozen=True)

    update_id: Id64            # documented as non-unique: logged, never used as a key
    update_type: Annotated[str, StringConstraints(max_length=64), AfterValidator(_clean)]
    request_date: Annotated[str, StringConstraints(max_length=64), AfterValidator(_clean)] | None = None
    payload: dict
