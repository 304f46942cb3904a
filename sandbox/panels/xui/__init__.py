"""Local stand-in for the 3x-ui panel's API (v3.6.0: login, inbounds, clients). See ``standin.py``."""

from sandbox.panels.xui.standin import XuiStandIn

__all__ = ["XuiStandIn"]
