from common.lifecycle import run_service
from services.bot.app import setup

run_service("bot", setup)
