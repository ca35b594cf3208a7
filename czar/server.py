"""The czar daemon: MySQL frontend + query engine over the czar's private MariaDB."""

from __future__ import annotations

import argparse
import asyncio
import logging

from czar.async_queries import AsyncQueries
from czar.engine import QueryEngine
from czar.frontend import start_frontend
from czar.http import start_http
from czar.ingest import IngestController
from czar.login import LoginThrottle, QservIdentityProvider, tls_context, users_of
from czar.membership import Membership
from czar.registry import Registry
from czar.sessions import SessionLimits
from qserv.config import ClusterConfig
from qserv.signals import until_stopped

log = logging.getLogger("czar")


async def serve(config: ClusterConfig) -> None:
    engine = await QueryEngine.connect(config)
    await engine.leftovers.sweep()   # what queries of an earlier run (a crash) left behind
    sweeper = asyncio.create_task(engine.leftovers.run(config.cleanup_interval_s))
    tls = tls_context(config.tls_cert, config.tls_key)
    sessions = SessionLimits(config.max_connections, config.max_user_connections,
                             config.reserved_admin_connections, config.admin_user or config.user)
    logins = QservIdentityProvider(users_of(config), LoginThrottle(config.login_max_failures,
                                                                   config.login_max_wait_s),
                                   sessions)
    registry = Registry(engine.pool)
    await registry.start()
    queries = AsyncQueries(engine, registry, config.admin_user or config.user)
    engine.registry, engine.queries = registry, queries
    await queries.start()   # after a restart: queued and interrupted async queries run
    server = await start_frontend(engine, config.listen_host(config.host), config.frontend_port, logins, ssl=tls)
    log.info("czar listening on %s:%d", config.host, config.frontend_port)
    ingest = IngestController(config)
    await ingest.start()
    membership = Membership(config, ingest.sql, engine.dispatcher.add_worker)
    joined = await membership.load()   # workers that registered before this start
    if joined:
        log.info("registered workers beyond the config file: %s", ", ".join(joined))
    http = await start_http(ingest, config.listen_host(config.host), config.http_port, config.admin_token, ssl=tls,
                            max_json_bytes=config.http_max_json_bytes, queries=queries,
                            membership=membership)
    log.info("HTTP API (ingest) on %s:%d", config.host, config.http_port)
    await until_stopped()
    sweeper.cancel()
    server.close()
    await http.cleanup()
    await ingest.close()
    await queries.close()
    await registry.close()
    await engine.close()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m czar",
                                     description="Qserv czar daemon (MySQL protocol frontend).")
    parser.add_argument("--config", required=True, help="cluster dir or its qserv.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s czar %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(ClusterConfig.load(args.config)))
