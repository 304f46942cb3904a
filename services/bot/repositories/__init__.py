"""The bot's SQL, one module per concern. Functions take a connection (the caller owns the
transaction) except the FSM storage, which owns its short queries."""
