"""`python -m services.bot`: the shared start-up, given the bot's settings, setup and token lock."""
from common.lifecycle.entry import main


def read_settings():
    from services.bot.settings import Settings
    return Settings.read()


def token_lock(settings):
    # Two processes polling one token steal each other's updates: only one may (a second bot with
    # another endpoint or run dir setting would pass the endpoint's lock). Taken here, before
    # aiogram's seconds of imports, so that a second bot refuses at once.
    token = settings.telegram.bot_token
    if token is not None and token.get_secret_value():
        yield "telegram", token.get_secret_value(), "long polling of this bot token"


def load_setup():
    # Imported only once the settings, endpoints and locks are known good: this is the heavy part.
    from services.bot.app import setup
    return setup


main("bot", read_settings, load_setup, exclusive=token_lock)
