"""The scheduler's settings: the sections it is built from, and its own."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from common.paths import REPO_ROOT
from common.settings.base import EnvSettings
from common.settings.pricing import PricingSettings
from common.settings.service import ServiceSettings
from common.settings.shop import ShopSettings
from common.settings.telegram import TelegramSettings


class SchedulerSettings(EnvSettings):
    scheduler_tick: float = Field(60.0, gt=0, le=3600, description="seconds between passes of the timed jobs (reminders, trial notices, expiry, auto-renewal)")
    scheduler_batch: int = Field(200, ge=1, le=10000, description="subscriptions handled per transaction by a timed job")
    reminder_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [3, 1], description="comma-separated days before expiry at which a reminder is sent")
    trial_ending_hours: int = Field(24, ge=1, le=720, description="hours before a trial ends that its notice is sent")
    fsm_idle_days: int = Field(30, gt=0, description="days a bot conversation's unfinished flow (FSM state) is kept after its last step")
    leader_retry_interval: float = Field(2.0, gt=0, le=300, description="seconds a standby scheduler waits before trying the leader lock again")
    leader_check_interval: float = Field(2.0, gt=0, le=60, description="seconds between checks that the leader's lock connection is alive")
    scheduler_nudge_timeout: float = Field(0.5, gt=0, le=10, description="seconds for a best-effort nudge of bot or vpn_gateway")
    broadcast_rate: float = Field(25.0, gt=0, le=1000, description="broadcast messages per second, overall (Telegram allows about 30 per bot)")
    broadcast_chat_interval: float = Field(1.0, ge=0, le=60, description="seconds between two messages to one chat")
    broadcast_concurrency: int = Field(8, ge=1, le=256, description="broadcast requests in flight at once")
    broadcast_paid_rate: float = Field(1000.0, gt=0, le=1000, description="messages per second of a paid broadcast (Telegram's allow_paid_broadcast allows up to 1000; 0.1 Star per message beyond the free 30/s)")
    broadcast_paid_concurrency: int = Field(64, ge=1, le=512, description="paid broadcast requests in flight at once (the pace needs rate x round trip of them)")
    broadcast_progress_interval: float = Field(3.0, gt=0, le=600, description="seconds between edits of the admin's progress message")
    broadcast_max_attempts: int = Field(3, ge=1, le=20, description="attempts per recipient on transient errors (5xx, network) before it counts as failed")
    export_dir: Path = Field(REPO_ROOT / "var" / "exports", description="folder of CSV exports (mode 0700)")
    export_keep_hours: float = Field(24.0, gt=0, description="hours an export file is kept after it was made")
    export_timeout: float = Field(1800.0, gt=0, description="seconds one export may stream from the database")
    export_rate_mb: float = Field(8.0, ge=0, description="MB per second an export reads from the database (0 = as fast as it can): keeps PostgreSQL's CPU for the bot")
    export_max_upload_mb: int = Field(50, ge=1, le=2000, description="largest document the Bot API accepts, MB: bigger CSVs are gzipped first")
    export_upload_timeout: float = Field(300.0, gt=0, description="seconds to upload one export to Telegram")
    backup_enabled: bool = Field(True, description="make a daily pg_dump backup")
    backup_dir: Path = Field(REPO_ROOT / "var" / "backups", description="folder of pg_dump backups (mode 0700)")
    backup_keep: int = Field(7, ge=1, le=1000, description="backups kept: older ones are deleted")
    backup_hour: int = Field(3, ge=0, le=23, description="UTC hour from which the day's backup is made")
    backup_timeout: float = Field(1800.0, gt=0, description="seconds one pg_dump may run")
    scheduler_nice: int = Field(10, ge=0, le=19, description="OS niceness the scheduler process adds to itself: its batch work yields the CPU to the bot")

    @field_validator("reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("reminder_days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 60 for day in value):
            raise ValueError("each reminder must be 1..60 days before expiry")
        return sorted(set(value), reverse=True)


@dataclass
class Settings(ServiceSettings):
    """What the scheduler is built from: Telegram (broadcasts, exports), the shop's prices and
    terms (timed jobs), and its own."""
    telegram: TelegramSettings
    cryptopay: PricingSettings
    shop: ShopSettings
    scheduler: SchedulerSettings
