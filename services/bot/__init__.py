"""The bot process: the only one people talk to, and it never waits on anything slow.

app.py (composition root) → dispatcher.py (FSM storage, middlewares in order, routers) →
handlers/ (one router factory per feature, thin) over repositories/ (the bot's SQL), keyboards/,
i18n/ (the catalogue of common/texts, HTML-escaped), peers/ (calls to the other services: shop.py for
users' flows with short deadlines, admin.py for the admin console),
invoices.py and followups.py (slow answers finished later as edits), notifications/ (the outbox
sender), telegram/ (Bot object, 429 retries, safe edits, polling), middlewares/.
"""
