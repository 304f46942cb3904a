"""Code shared by the four services: config, logging, database, IPC, lifecycle. Imports no service."""
