"""Small things every admin screen uses: the language of scheduler texts, and how
a refused or unanswered call to another service is told to the admin."""
from __future__ import annotations

from common.contract.scheduler import Locale
from common.ipc import RpcError
from services.bot.i18n import Translator
from services.bot.peers.shop import transient


def scheduler_locale(t: Translator) -> Locale:
    return "ru" if t.locale == "ru" else "en"


def rpc_problem(t: Translator, service: str, exc: RpcError) -> str:
    """Admins see what went wrong (the service's own words), never a traceback."""
    if transient(exc):
        return t("admin.service_unavailable", service=service)
    return t("admin.service_refused", service=service, error=f"{exc.code}: {exc.message}"[:500])
