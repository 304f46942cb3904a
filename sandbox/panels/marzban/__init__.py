"""Local stand-in for the Marzban panel's admin and user API (0.8.4). See ``standin.py``."""

from sandbox.panels.marzban.standin import MarzbanStandIn

__all__ = ["MarzbanStandIn"]
