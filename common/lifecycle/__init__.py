from common.lifecycle.context import ServiceContext
from common.lifecycle.runner import run_service

__all__ = ["ServiceContext", "run_service"]
