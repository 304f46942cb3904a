from common.lifecycle import run_service
from services.vpn_gateway.app import setup

run_service("vpn_gateway", setup)
