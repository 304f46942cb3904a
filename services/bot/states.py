"""FSM states of the flows that span several taps (kept in PostgreSQL, so they survive a restart)."""
from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Buy(StatesGroup):
    plan = State()       # plans shown
    method = State()     # plan chosen, payment methods shown
    invoice = State()    # invoice created (or being created)


class Topup(StatesGroup):
    amount = State()
    invoice = State()


class Reissue(StatesGroup):
    confirm = State()


class Admin(StatesGroup):
    lookup = State()            # waiting for a user id or @username
    grant_days = State()        # waiting for a number of days (target user in FSM data)
    broadcast_text = State()    # waiting for the broadcast's text
    broadcast_confirm = State() # draft previewed: audience, send, edit or drop
