"""Calls to payments and vpn_gateway with the bot's short deadlines (DESIGN.md, rule 2).

Every method raises RpcError (RpcTimeout included); `transient` says whether trying again later
can help, which is what decides between "working on it" and "that did not work".
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.bot.settings import BotSettings
from common.contract.base import RpcErrorCode
from common.contract.payments import (
    BUY_TRAFFIC, CHANGE_PLAN, CLAIM_FREE_PLAN, CREATE_INVOICE, EDIT_STAR_SUBSCRIPTION, FreePlanClaim, FreePlanGiven,
    PlanChange, PlanChanged, PurchaseState, STARS_PAID, STARS_PRE_CHECKOUT, STARS_REFUNDED, CreateInvoice, Invoice,
    PreCheckoutVerdict, Settlement, StarSubscriptionEdit, StarSubscriptionState, StarsPaid, StarsPreCheckout,
    StarsRefunded, TrafficBought, TrafficPurchase,
)
from common.contract.vpn_gateway import (
    DEVICES, NUDGE_ACTIVATIONS, REISSUE, REMOVE_DEVICE, USAGE, DeviceRemoved, Devices, DevicesQuery, Enqueued,
    RemoveDevice, Usage, UsageQuery, UserAction,
)
from common.ipc import RpcClient, RpcError

T = TypeVar("T")
_TRANSIENT = {RpcErrorCode.DEADLINE_EXCEEDED, RpcErrorCode.UNAVAILABLE, RpcErrorCode.OVERLOADED}


def transient(exc: RpcError) -> bool:
    return exc.code in _TRANSIENT


class Peers:
    def __init__(self, client: Callable[[str], RpcClient], settings: BotSettings) -> None:
        self._client = client
        self.settings = settings

    async def create_invoice(self, request: CreateInvoice, timeout: float | None = None) -> Invoice:
        return await self._client("payments").call(CREATE_INVOICE, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def claim_free_plan(self, request: FreePlanClaim, timeout: float | None = None) -> FreePlanGiven:
        return await self._client("payments").call(CLAIM_FREE_PLAN, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def change_plan(self, request: PlanChange, timeout: float | None = None) -> PlanChanged:
        return await self._client("payments").call(CHANGE_PLAN, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def buy_traffic(self, request: TrafficPurchase, timeout: float | None = None) -> TrafficBought:
        return await self._client("payments").call(BUY_TRAFFIC, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def stars_pre_checkout(self, request: StarsPreCheckout) -> PreCheckoutVerdict:
        return await self._client("payments").call(STARS_PRE_CHECKOUT, request,
                                                    timeout=self.settings.bot_pre_checkout_deadline)

    async def stars_paid(self, request: StarsPaid, timeout: float | None = None) -> Settlement:
        return await self._client("payments").call(STARS_PAID, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def stars_refunded(self, request: StarsRefunded, timeout: float | None = None) -> PurchaseState:
        return await self._client("payments").call(STARS_REFUNDED, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def edit_star_subscription(self, request: StarSubscriptionEdit,
                                     timeout: float | None = None) -> StarSubscriptionState:
        return await self._client("payments").call(EDIT_STAR_SUBSCRIPTION, request,
                                                    timeout=timeout or self.settings.bot_rpc_deadline)

    async def nudge_activations(self) -> bool:
        """Best effort "look now" to vpn_gateway; False when it did not answer in time."""
        try:
            await self._client("vpn_gateway").call(NUDGE_ACTIVATIONS, timeout=self.settings.bot_nudge_deadline)
            return True
        except RpcError:
            return False

    async def usage(self, user_id: int) -> Usage:
        return await self._client("vpn_gateway").call(USAGE, UsageQuery(user_id=user_id),
                                                       timeout=self.settings.bot_usage_deadline)

    async def reissue(self, request: UserAction, timeout: float | None = None) -> Enqueued:
        return await self._client("vpn_gateway").call(REISSUE, request,
                                                       timeout=timeout or self.settings.bot_rpc_deadline)


    async def devices(self, user_id: int) -> Devices:
        return await self._client("vpn_gateway").call(DEVICES, DevicesQuery(user_id=user_id),
                                                       timeout=self.settings.bot_rpc_deadline)

    async def remove_device(self, user_id: int, device_id: str) -> DeviceRemoved:
        return await self._client("vpn_gateway").call(REMOVE_DEVICE, RemoveDevice(user_id=user_id, device_id=device_id),
                                                       timeout=self.settings.bot_rpc_deadline)


async def retry_until(call: Callable[[float], Awaitable[T]], total: float, attempt: float) -> T:
    """Calls `call(timeout)` until it succeeds, fails for good, or `total` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    pause = 0.25
    while True:
        remaining = deadline - loop.time()
        try:
            return await call(max(0.05, min(attempt, remaining)))
        except RpcError as exc:
            if not transient(exc) or loop.time() + pause >= deadline:
                raise
        await asyncio.sleep(pause)  # a backoff between attempts, not synchronisation
        pause = min(pause * 2, 3.0)
