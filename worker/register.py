"""A worker registering with its czar: at start, then every `register_interval_s`, it posts
its name, address and health to the czar's `POST /workers` (czar/membership.py), so a czar
learns of workers added after it started, and the registry shows when each was last seen.

The czar may be down or not started yet (a local cluster starts workers first): the worker
serves all the same and tries again, sooner at first (1, 2, 4 ... s up to the interval).
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import aiohttp

from qserv.config import ClusterConfig

log = logging.getLogger("worker.register")


def czar_url(config: ClusterConfig) -> str:
    return f"{'https' if config.tls_cert else 'http'}://{config.host}:{config.http_port}/workers"


async def register_once(config: ClusterConfig, name: str, healthy: bool, detail: str,
                        session: aiohttp.ClientSession) -> dict:
    w = config.worker(name)
    body = {"name": w.name, "host": w.host, "grpc_port": w.grpc_port, "mariadb_port": w.mariadb_port,
            "healthy": healthy, "detail": detail}
    ctx = ssl._create_unverified_context() if config.tls_cert else None   # the czar's own cert
    async with session.post(czar_url(config), json=body, ssl=ctx,
                            headers={"Authorization": f"Bearer {config.admin_token}"}) as r:
        reply = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"the czar refused the registration: {r.status} {reply}")
        return reply


async def keep_registered(config: ClusterConfig, name: str, health) -> None:
    """Forever: register, wait, register again. `health()` → (healthy, detail)."""
    wait = 1.0
    registered = False
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        while True:
            try:
                healthy, detail = await health()
                reply = await register_once(config, name, healthy, detail, session)
                if not registered:
                    log.info("registered with the czar at %s (%s)", czar_url(config), reply)
                registered, wait = True, config.register_interval_s
            except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ValueError) as e:
                if registered:
                    log.warning("registration with the czar failed: %s", e)
                registered = False
                wait = min(wait * 2, config.register_interval_s)
            await asyncio.sleep(wait)
