"""Small building blocks shared by the HTTP stand-ins in ``sandbox``.

Each module holds one idea: the in-process server lifecycle, a controllable
clock, fault injection, request counting, waiting on conditions with a
deadline, the command-line runner and OpenAPI response checking.
"""

from sandbox.kit.clock import Clock
from sandbox.kit.counters import RequestCounters
from sandbox.kit.faults import Fault, FaultRegistry
from sandbox.kit.server import StandInServer
from sandbox.kit.waiting import Notifier

__all__ = [
    "Clock",
    "Fault",
    "FaultRegistry",
    "Notifier",
    "RequestCounters",
    "StandInServer",
]
