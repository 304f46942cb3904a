"""The shop's terms: trial, referral bonus, auto-renewal, gift links, support contact."""
from __future__ import annotations

from pydantic import Field

from common.settings.base import EnvSettings


class ShopSettings(EnvSettings):
    trial_days: int = Field(3, ge=0, le=60, description="length of the free trial, days")
    trial_traffic_gb: int = Field(10, ge=0, description="traffic limit of the trial, GB (0 = unlimited)")
    referral_bonus_days: int = Field(7, ge=0, le=365, description="days credited to a referrer on the invitee's first payment")
    auto_renew_days_before: int = Field(1, ge=0, le=30, description="auto-renew this many days before expiry")
    gift_valid_days: int = Field(180, ge=1, le=3650, description="days a paid gift link can be redeemed (an admin can refund it after)")
    trial_devices: int = Field(1, ge=0, le=100, description="devices the trial allows at once (0 = no limit; plans carry their own)")
    freeze_days_per_year: int = Field(30, ge=0, le=365, description="days a paid subscription may be paused in any 365 days (0 = no pauses)")
    support_contact: str = Field("@support", description="who users contact for help")
