"""My devices: the plan's device limit and, where the user's panel lists them (Remnawave), the
devices it has seen, each with a button that removes it (freeing its place under the limit).

The list comes from vpn_gateway with the bot's short deadline; a slow or absent panel is a "try
again" line, never a wait. The screen's buttons carry an index into the device ids it showed
(kept in the FSM with the screen's nonce): Telegram's 64 bytes cannot hold a HWID, and a button
of an older screen is refused as stale.
"""
from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.contract.vpn_gateway import DeviceInfo, Devices
from common.ipc import RpcError
from services.bot.callbacks import DeviceCb, MenuCb, Screen, SubAction, SubCb, new_nonce
from services.bot.formatting import date
from services.bot.i18n import Translator
from services.bot.middlewares.callback_answer import Answer
from services.bot.peers.shop import Peers
from services.bot.repositories.users import UserRow
from services.bot.telegram.safe_edit import show

log = logging.getLogger(__name__)
NAME_LENGTH = 40


def router() -> Router:
    r = Router(name="devices")
    r.callback_query.register(devices_screen, SubCb.filter(F.action == SubAction.DEVICES))
    r.callback_query.register(remove, DeviceCb.filter())
    return r


def name_of(device: DeviceInfo, t: Translator, index: int) -> str:
    parts = [part for part in (device.model, device.platform, device.os_version) if part]
    return (" · ".join(parts) or t("devices.unnamed", n=index + 1))[:NAME_LENGTH]


def render(t: Translator, devices: Devices, nonce: str) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    limit = t("devices.limit", limit=devices.limit) if devices.limit else t("devices.no_limit")
    lines = [t("devices.title"), limit, ""]
    if devices.support == "listed":
        if not devices.devices:
            lines.append(t("devices.none_yet"))
        for index, device in enumerate(devices.devices[:100]):
            name = name_of(device, t, index)
            seen = date(device.last_seen) if device.last_seen else "—"
            lines.append(t("devices.line", name=name, date=seen))
            kb.button(text=t("devices.remove_button", name=name), callback_data=DeviceCb(nonce=nonce, index=index))
        if devices.devices:
            lines.append("")
            lines.append(t("devices.remove_hint"))
    elif devices.support == "limit_only":
        lines.append(t("devices.limit_only"))
    elif devices.support == "none":
        lines.append(t("devices.not_limited"))
    else:
        lines.append(t("devices.no_account"))
    kb.button(text=t("sub.refresh_button"), callback_data=SubCb(action=SubAction.DEVICES))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return "\n".join(lines), kb.as_markup()


def unavailable(t: Translator) -> tuple[str, InlineKeyboardMarkup]:
    kb = InlineKeyboardBuilder()
    kb.button(text=t("sub.refresh_button"), callback_data=SubCb(action=SubAction.DEVICES))
    kb.button(text=t("nav.subscription"), callback_data=MenuCb(to=Screen.SUBSCRIPTION))
    kb.adjust(1)
    return t("devices.unavailable"), kb.as_markup()


async def _show(query: CallbackQuery, bot: Bot, t: Translator, state: FSMContext, devices: Devices) -> None:
    nonce = new_nonce()
    await state.set_state(None)
    await state.set_data({"devices": nonce, "device_ids": [d.device_id for d in devices.devices[:100]]})
    text, markup = render(t, devices, nonce)
    await show(bot, query.from_user.id, query.message, text, markup)


async def devices_screen(query: CallbackQuery, bot: Bot, user: UserRow, t: Translator, peers: Peers,
                         state: FSMContext, answer: Answer) -> None:
    await answer.now()       # the list comes from the panel, which may take the whole deadline
    try:
        devices = await peers.devices(user.id)
    except RpcError as exc:
        log.info("device list unavailable", extra={"user_id": user.id, "code": str(exc.code)})
        text, markup = unavailable(t)
        await show(bot, query.from_user.id, query.message, text, markup)
        return
    await _show(query, bot, t, state, devices)


async def remove(query: CallbackQuery, callback_data: DeviceCb, bot: Bot, user: UserRow, t: Translator,
                 peers: Peers, state: FSMContext, answer: Answer) -> None:
    data = await state.get_data()
    ids = data.get("device_ids") or []
    if data.get("devices") != callback_data.nonce or callback_data.index >= len(ids):
        answer.set(t("stale"))
        return
    try:
        result = await peers.remove_device(user.id, ids[callback_data.index])
    except RpcError as exc:
        log.info("device removal failed", extra={"user_id": user.id, "code": str(exc.code)})
        answer.set(t("devices.unavailable"), alert=True)
        return
    answer.set(t("devices.removed") if result.removed else t("devices.gone"))
    await _show(query, bot, t, state, result.devices)
