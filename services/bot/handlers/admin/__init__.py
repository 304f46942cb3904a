"""The admin console (issue 7): one router, filtered once here by ATCS_ADMIN_IDS, so every
message and callback handler of every screen below carries no guard of its own. An update from
anyone else matches nothing here and goes on to the other routers: /admin gets the ordinary
"not understood" reply and a forged admin button the fallback's "out of date" toast.

One module per screen; each builds its own sub-router.
"""
from __future__ import annotations

from aiogram import F, Router

from services.bot.handlers.admin import audit, broadcast, bulk_reissue, export, home, promos, stats, status, users


def router(admin_ids: list[int]) -> Router:
    r = Router(name="admin")
    admins = set(admin_ids)
    r.message.filter(F.from_user.id.in_(admins))
    r.callback_query.filter(F.from_user.id.in_(admins))
    r.include_routers(home.router(), stats.router(), users.router(), broadcast.router(), export.router(),
                      bulk_reissue.router(), status.router(), audit.router(), promos.router())
    return r
