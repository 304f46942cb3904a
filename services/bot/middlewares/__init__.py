"""Update middlewares, each written once and registered once, outermost first (see dispatcher.py)."""
