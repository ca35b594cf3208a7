"""Removing what killed queries leave behind on a worker: the OUTFILEs of chunk queries
(`<queryId>-<hex>.tsv`) and the spool files of loads (`load-*.csv`, `contrib-*.csv`, a
bundle's `bundle-*.csv` and named pipes `bundle-*.fifo`), all
in the worker MariaDB's outfile directory, and statements still running for a daemon that
died.

At start, nothing of this daemon runs yet: every such file is a leftover of the daemon
before it (killed while MariaDB wrote for it), and every statement of the read-only query
account belongs to that dead daemon, so they are killed first (else they would keep
writing their files). Every `cleanup_interval_s` afterwards, an OUTFILE that no running
chunk query of this daemon follows (`Executor.outfiles`) is a leftover; load spools are
then left to their loads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Callable, Container

import asyncmy

log = logging.getLogger("worker.leftovers")
OUTFILE = re.compile(r"^[0-9a-f]{8}_\d+-[0-9a-f]{32}\.tsv$")
SPOOL = re.compile(r"^(load|contrib)-[0-9a-f]{32}\.csv$|^bundle-[0-9a-f]{32}\.(csv|fifo)$")


def remove_files(directory: Path, pattern: re.Pattern,
                 keep: Callable[[], Container[str]] = lambda: ()) -> int:
    """Delete the files of `directory` that match `pattern`, but those in `keep()`, which is
    read after the listing: a file registered before it is created is never taken."""
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    kept = keep()
    for name in names:
        if pattern.match(name) and name not in kept:
            try:
                os.unlink(directory / name)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


async def kill_statements_of(pool: asyncmy.Pool, user: str) -> int:
    """KILL every connection of `user` (the dead daemon's chunk queries)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
        ids = [row[0] for row in await cur.fetchall()]
        for thread in ids:
            try:
                await cur.execute(f"KILL CONNECTION {int(thread)}")
            except asyncmy.errors.MySQLError:   # it ended meanwhile
                pass
    return len(ids)


async def sweep_at_start(pool_factory, directory: Path, reader: str | None) -> None:
    """`pool_factory()`: the worker's root pool. Its MariaDB may be down (the daemon then
    starts all the same and reports it in Health): the files are removed anyway."""
    killed = 0
    if reader:
        try:
            killed = await kill_statements_of(await pool_factory(), reader)
        except Exception as e:  # noqa: BLE001
            log.warning("at start: could not look for statements of the daemon before: %s", e)
    files = remove_files(directory, OUTFILE) + remove_files(directory, SPOOL)
    if killed or files:
        log.info("at start: killed %d statements and removed %d files left by the daemon "
                 "before", killed, files)


async def sweep_periodically(directory: Path, followed: Callable[[], Container[str]],
                             interval_s: float) -> None:
    """Every `interval_s`: remove OUTFILEs that no running chunk query follows."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            removed = remove_files(directory, OUTFILE, followed)
            if removed:
                log.info("removed %d OUTFILEs of killed queries", removed)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            log.exception("leftover sweep failed")
