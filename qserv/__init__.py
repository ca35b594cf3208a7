"""Qserv in Python: shared core (config, errors, geometry, metadata, MariaDB management, CLI)."""

__version__ = "0.1.0"
