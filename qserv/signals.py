"""The end of a daemon's life: SIGTERM (`qserv down`, Kubernetes) or SIGINT (Ctrl-C)."""

from __future__ import annotations

import asyncio
import signal


async def until_stopped() -> None:
    """Return when the process is asked to stop, so the daemon can close what it holds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
