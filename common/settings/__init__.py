"""Settings, one pydantic-settings class per concern (base.py says how they are read).

Here are the sections several services share; a section only one service reads lives in that
service's `settings.py`, which also declares the sections the service is built from
(`ServiceSettings`, service.py). A process validates only what it declares, so a bad value stops
only the services that read it.
"""
