"""Inline keyboards, one module per screen family; labels come from translations."""
