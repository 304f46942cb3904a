"""How a broadcast's progress message reads: state, counts, ETA, and the buttons that fit."""
from __future__ import annotations

from common.contract.scheduler import BroadcastState, broadcast_callback
from common.texts import duration, text

Keyboard = list[list[dict[str, str]]]
STARS_SHORT = "stars_balance_too_low"   # broadcast.run.STARS_SHORT (kept here: run imports this module)


def render(state: BroadcastState, locale: str) -> tuple[str, Keyboard | None]:
    lines = [
        text(locale, "broadcast.title", id=state.broadcast_id, state=text(locale, f"broadcast.state.{state.state}")),
        text(locale, "broadcast.counts", sent=state.sent, failed=state.failed, blocked=state.blocked,
             remaining=state.remaining, total=state.total),
    ]
    if state.paid:
        lines.insert(1, text(locale, "broadcast.paid"))
    if state.state == "running" and state.eta_seconds is not None:
        lines.append(text(locale, "broadcast.eta", eta=duration(state.eta_seconds, locale), rate=round(state.rate, 1)))
    if state.in_doubt:
        lines.append(text(locale, "broadcast.in_doubt", in_doubt=state.in_doubt))
    if state.error == STARS_SHORT:
        if state.state == "paused":
            lines.append(text(locale, "broadcast.stars_short"))
    elif state.error:
        lines.append(text(locale, "broadcast.error", error=state.error))
    return "\n".join(lines), _buttons(state, locale)


def _buttons(state: BroadcastState, locale: str) -> Keyboard | None:
    def button(action: str) -> dict[str, str]:
        return {"text": text(locale, f"broadcast.{action}"),
                "callback_data": broadcast_callback(action, state.broadcast_id)}  # type: ignore[arg-type]

    if state.state in ("queued", "running"):
        return [[button("pause"), button("cancel")]]
    if state.state == "paused":
        return [[button("resume"), button("cancel")]]
    return None
