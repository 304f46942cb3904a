"""The admin's chart: drawn with matplotlib in the scheduler (the bot never loads it), in a worker
thread, and kept for a minute (renderer.py); the picture itself is figure.py."""
