"""The bot's side of the notification outbox: rendering each kind, and the sender task."""
