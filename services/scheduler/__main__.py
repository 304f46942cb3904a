from common.lifecycle import run_service
from services.scheduler.app import setup

run_service("scheduler", setup)
