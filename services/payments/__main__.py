from common.lifecycle import run_service
from services.payments.app import setup

run_service("payments", setup)
