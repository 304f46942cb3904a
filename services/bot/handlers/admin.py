"""The admin console's router (a later issue): filtered once here, so its handlers carry no guards."""
from __future__ import annotations

from aiogram import F, Router


def router(admin_ids: list[int]) -> Router:
    r = Router(name="admin")
    admins = set(admin_ids)
    r.message.filter(F.from_user.id.in_(admins))
    r.callback_query.filter(F.from_user.id.in_(admins))
    return r
