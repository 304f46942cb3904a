"""The paid-broadcast lines of the broadcast preview: recipients, pace, the expected cost in Stars
and the bot's Stars balance, as the scheduler quotes them (QUOTE_BROADCAST) — and whether the
balance covers the estimate, which decides if the draft may be sent."""
from __future__ import annotations

from decimal import Decimal
from html import escape

from common.contract.scheduler import QuoteBroadcast
from common.ipc import RpcError
from common.texts import duration
from services.bot.handlers.admin.shared import rpc_problem, scheduler_locale
from services.bot.i18n import Translator
from services.bot.peers.admin import AdminPeers


def stars(amount: Decimal) -> str:
    """0.1-Star precision as Telegram bills it: 485 ⭐, 12.5 ⭐, 0 ⭐."""
    return f"{amount.quantize(Decimal('0.1')).normalize():f} ⭐"


def _rate(rate: float) -> str:
    return f"{rate:g}"


async def paid_quote(t: Translator, admin_id: int, audience: str, admin_peers: AdminPeers) -> tuple[str, bool]:
    """(the lines to show, whether the broadcast may be sent). Without an answer from the scheduler
    it may not: the cost must be shown before a paid broadcast starts."""
    try:
        quote = await admin_peers.quote_broadcast(QuoteBroadcast(admin_id=admin_id, audience=audience))  # type: ignore[arg-type]
    except RpcError as exc:
        return rpc_problem(t, "scheduler", exc), False
    locale = scheduler_locale(t)
    lines = [t("admin.broadcast_paid_quote", paid_rate=_rate(quote.paid_rate), free_rate=_rate(quote.free_rate),
               recipients=quote.recipients, paid_time=duration(quote.recipients / quote.paid_rate, locale),
               free_time=duration(quote.recipients / quote.free_rate, locale),
               estimate=stars(quote.stars_estimate), ceiling=stars(quote.stars_max))]
    if quote.balance is None:
        # Telegram did not say: sending is allowed; if the Stars run out, the broadcast pauses.
        lines.append(t("admin.broadcast_balance_unknown", error=escape(quote.balance_error or "?")))
        return "\n".join(lines), True
    lines.append(t("admin.broadcast_balance", balance=stars(quote.balance)))
    if quote.balance < quote.stars_estimate:
        lines.append(t("admin.broadcast_stars_short"))
        return "\n".join(lines), False
    return "\n".join(lines), True
