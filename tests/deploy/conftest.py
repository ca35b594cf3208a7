"""Deploy tests: `slow` ones (building and running the container image: minutes, and root
with podman) run only when QSERV_RUN_SLOW=1; the default run (CI's ~15 minute budget) skips
them with that reason."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("QSERV_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow (builds and runs the container image, minutes): "
                                   "set QSERV_RUN_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
