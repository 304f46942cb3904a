"""`python -m services.payments`: the shared start-up, given this service's settings and setup."""
from common.lifecycle.entry import main


def read_settings():
    from services.payments.settings import Settings
    return Settings.read()


def load_setup():
    # Imported only once the settings, endpoints and locks are known good: this is the heavy part.
    from services.payments.app import setup
    return setup


main("payments", read_settings, load_setup)
