"""Traffic packages (issue 12.3): the extra traffic a user on a plan with a limit can buy. The bot
shows them and payments prices them, from this one section."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pydantic_settings import NoDecode

from common.settings.base import EnvSettings

# The id travels in callback data (64 bytes in all) and in a request_id: short and plain.
PACKAGE_ID = re.compile(r"[a-z0-9_]{1,12}")
MAX_PACKAGES = 8
MAX_GB = 100_000           # 100 TB: anything larger is a typo, and bytes stay far inside bigint
MAX_PRICE = Decimal("100000")
MAX_STARS = 100_000


class TrafficPackage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="short id: a-z, 0-9, _ (up to 12)")
    gb: int = Field(ge=1, le=MAX_GB)
    price: Decimal = Field(gt=0, le=MAX_PRICE, description="in the shop's currency")
    stars: int = Field(ge=1, le=MAX_STARS)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not PACKAGE_ID.fullmatch(value):
            raise ValueError("a package id is 1-12 of a-z, 0-9, _")
        return value

    @field_validator("price")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value != value.quantize(Decimal("0.01")):
            raise ValueError("a price is a whole number of cents")
        return value

    @property
    def bytes(self) -> int:
        return self.gb * 1024 ** 3


class TrafficSettings(EnvSettings):
    # NoDecode: parsed by _json below, so that malformed JSON gets the one-line error naming the variable.
    traffic_packages: Annotated[tuple[TrafficPackage, ...], NoDecode] = Field(
        (), description='extra traffic for sale, JSON: [{"id": "10gb", "gb": 10, "price": "2.50", "stars": 120}]; '
                        'empty = not offered')

    @field_validator("traffic_packages", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return ()
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError('expected a JSON list such as [{"id": "10gb", "gb": 10, "price": "2.50", "stars": 120}]') from None
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON list of packages")
        return parsed

    @field_validator("traffic_packages")
    @classmethod
    def _distinct(cls, value: tuple[TrafficPackage, ...]) -> tuple[TrafficPackage, ...]:
        if len(value) > MAX_PACKAGES:
            raise ValueError(f"at most {MAX_PACKAGES} packages")
        ids = [package.id for package in value]
        if len(set(ids)) != len(ids):
            raise ValueError("package ids must be distinct")
        return value

    def package(self, package_id: str) -> TrafficPackage | None:
        return next((p for p in self.traffic_packages if p.id == package_id), None)
