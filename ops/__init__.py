"""Operating the system: the `atcs` command, the embedded database start, supervisord helpers."""
