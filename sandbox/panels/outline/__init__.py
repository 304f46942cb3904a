"""Local stand-in for the Outline server management API. See ``standin.py``."""

from sandbox.panels.outline.access_url import access_url, parse_access_url
from sandbox.panels.outline.standin import OutlineStandIn

__all__ = ["OutlineStandIn", "access_url", "parse_access_url"]
