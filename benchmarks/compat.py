"""Imports of the admin layer wherever it lives (qserv/admin/ or, before the move, qserv/):
the harness uses only the public entry points, `up`/`down`, the pid helpers, the `qserv` CLI."""

from __future__ import annotations

import importlib


def _module(name: str):
    for candidate in (f"qserv.admin.{name}", f"qserv.{name}"):
        try:
            return importlib.import_module(candidate)
        except ModuleNotFoundError as e:
            if e.name is None or not candidate.startswith(e.name):
                raise      # the module exists but something it imports is missing
    raise ModuleNotFoundError(f"neither qserv.admin.{name} nor qserv.{name}")


def cluster():
    return _module("cluster")


def cli_main(argv: list[str]) -> int:
    return _module("cli").main(argv)
