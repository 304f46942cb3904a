"""`python -m services.bot`: the shared start-up, given the bot's settings, setup and token lock."""
from common.lifecycle.entry import main


def read_settings():
    from services.bot.settings import Settings
    return Settings.read()


def token_lock(settings):
    # A second bot on this host with the same token is a mistake (a second supervisord, a manual
    # start): it refuses at once, before aiogram's seconds of imports (a second bot with another
    # endpoint would pass the endpoint's lock). Bots on other hosts share the token on purpose: which
    # one polls is decided by the database-held lease (services/bot/telegram/polling.py).
    token = settings.telegram.bot_token
    if token is not None and token.get_secret_value():
        yield "telegram", token.get_secret_value(), "long polling of this bot token"


def load_setup():
    # Imported only once the settings, endpoints and locks are known good: this is the heavy part.
    from services.bot.app import setup
    return setup


main("bot", read_settings, load_setup, exclusive=token_lock)
