"""Pictures for the admin console, drawn without a plotting library (no heavy import in the bot)."""
