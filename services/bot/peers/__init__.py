"""The bot's calls to the other services: shop.py for users' flows, admin.py for the admin console."""
