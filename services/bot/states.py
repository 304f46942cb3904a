"""FSM states of the flows that span several taps (kept in PostgreSQL, so they survive a restart)."""
from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Buy(StatesGroup):
    plan = State()       # plans shown
    method = State()     # plan chosen, payment methods shown
    invoice = State()    # invoice created (or being created)
    promo = State()      # waiting for a promo code


class Topup(StatesGroup):
    amount = State()
    invoice = State()


class PlanSwitch(StatesGroup):
    choose = State()     # the other plans shown (nonce in FSM data)


class TrafficTopup(StatesGroup):
    choose = State()     # the packages shown (flow nonce in FSM data)


class Reissue(StatesGroup):
    confirm = State()


class Admin(StatesGroup):
    lookup = State()            # waiting for a user id or @username
    grant_days = State()        # waiting for a number of days (target user in FSM data)
    broadcast_text = State()    # waiting for the broadcast's text
    broadcast_confirm = State() # draft previewed: audience, send, edit or drop
    promo_code = State()        # waiting for a new promo code's text
    promo_value = State()       # waiting for its percent, amount or days (draft in FSM data)
    promo_uses = State()        # waiting for its total uses
    promo_dates = State()       # waiting for its period
    promo_draft = State()       # the draft shown: plans, limits, create
