"""Local stand-in for the Remnawave panel's user API (v3.2.3). See ``standin.py``."""

from sandbox.panels.remnawave.standin import RemnawaveStandIn

__all__ = ["RemnawaveStandIn"]
