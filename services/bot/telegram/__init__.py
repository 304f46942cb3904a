"""Talking to the Bot API: the Bot object, 429 handling, safe edits, the polling runner."""
