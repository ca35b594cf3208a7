"""The local cluster's supervisor: restarts whichever process of the cluster crashed (a
worker daemon, the czar, a MariaDB server), with back-off, and records what it did for
`qserv status`.

`qserv up` starts it (`python -m qserv.admin.supervisor --config DIR`) after the cluster; `qserv
down` stops it first. It is not the processes' parent (they run in sessions of their own
and outlive a `qserv up`), so it watches their pid files: a process whose pid is gone, or a
zombie, has crashed. In containers the orchestrator plays this part.

Back-off: the first restart of a component comes at once; if it crashes again before it ran
`STABLE_S` seconds, the next one waits 1 s, then 2, 4, ... up to `MAX_BACKOFF_S`, so a
process that cannot start (a full disk, a broken config) does not spin the CPU. Components
are looked at in start order, so a worker's MariaDB is back before its daemon is.

What it did goes to `DIR/run/supervisor.json` (per component: restarts, time of the last
crash and restart, the next attempt, the last error) and to `DIR/logs/supervisor.log`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass

from qserv.admin.cluster import (SUPERVISOR_STATE, component_names, component_running,
                           start_component, start_lock)
from qserv.config import ClusterConfig

log = logging.getLogger("supervisor")
POLL_S = 0.5
STABLE_S = 60.0
MAX_BACKOFF_S = 60.0


def backoff(failures_in_row: int) -> float:
    """Seconds to wait before the restart that follows `failures_in_row` quick crashes."""
    if failures_in_row <= 0:
        return 0.0
    return min(MAX_BACKOFF_S, 2.0 ** (failures_in_row - 1))


@dataclass
class Watch:
    """What the supervisor knows of one component."""
    restarts: int = 0
    last_crash: float = 0.0       # wall clock (for people), when the crash was seen
    last_restart: float = 0.0
    next_try: float = 0.0         # wall clock of the next attempt; 0: none pending
    last_error: str = ""
    quick_crashes: int = 0        # crashes in a row, each within STABLE_S of its start
    started_mono: float = 0.0


class Supervisor:
    def __init__(self, config: ClusterConfig, clock=time.time, mono=time.monotonic):
        self.config = config
        self.clock, self.mono = clock, mono
        self.watches = {name: Watch() for name in component_names(config)}
        self._load()
        self.children: list[subprocess.Popen] = []   # Popen objects of what we started: polled, so none stays a zombie
        self.stopping = False

    def step(self) -> bool:
        """One look at every component; restarts what is due. True when the state changed."""
        changed = False
        self.children = [p for p in self.children if p is not None and p.poll() is None]
        for name, w in self.watches.items():
            if self.stopping:
                break
            if component_running(self.config, name):
                if w.quick_crashes and self.mono() - w.started_mono >= STABLE_S:
                    w.quick_crashes = 0
                continue
            now = self.clock()
            if not w.next_try:   # a crash we did not see yet
                if w.started_mono and self.mono() - w.started_mono < STABLE_S:
                    w.quick_crashes += 1
                w.last_crash = now
                w.next_try = now + backoff(w.quick_crashes)
                log.warning("%s is not running; restart in %.0f s", name, w.next_try - now)
                changed = True
            if now < w.next_try:
                continue
            changed = True
            self._restart(name, w)
        return changed

    def _restart(self, name: str, w: Watch) -> None:
        with start_lock(self.config):
            if component_running(self.config, name):   # `qserv up` was quicker
                w.next_try = 0.0
                return
            w.started_mono = self.mono()
            try:
                self.children.append(start_component(self.config, name))
            except Exception as e:  # noqa: BLE001 - any failure to start is retried later
                w.quick_crashes += 1
                w.last_error = str(e)[:300]
                w.next_try = self.clock() + backoff(w.quick_crashes)
                log.error("restart of %s failed (%s); next try in %.0f s", name, e,
                          w.next_try - self.clock())
                return
        w.restarts += 1
        w.last_restart = self.clock()
        w.next_try = 0.0
        w.last_error = ""
        log.warning("restarted %s (restart %d)", name, w.restarts)
        self.save()   # `qserv status` tells it as soon as the process runs

    def _load(self) -> None:
        """Keep the record of an earlier supervisor of this run (one that crashed, or was
        stopped, and `qserv up` replaced)."""
        try:
            state = json.loads(self.config.pid_file(SUPERVISOR_STATE).read_text())
        except (FileNotFoundError, ValueError):
            return
        for name, s in state.get("components", {}).items():
            if name in self.watches:
                w = self.watches[name]
                w.restarts, w.last_crash = s.get("restarts", 0), s.get("last_crash", 0.0)
                w.last_restart = s.get("last_restart", 0.0)

    def save(self) -> None:
        path = self.config.pid_file(SUPERVISOR_STATE)
        state = {"pid": os.getpid(), "components": {
            name: {k: v for k, v in asdict(w).items() if k not in ("started_mono", "quick_crashes")}
            for name, w in self.watches.items()}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        tmp.replace(path)

    def run(self) -> None:
        def stop(*_):
            self.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.save()
        log.info("supervising %s", ", ".join(self.watches))
        while not self.stopping:
            try:
                if self.step():
                    self.save()
            except Exception:  # noqa: BLE001 - the supervisor must outlive its own errors
                log.exception("supervisor step failed")
            time.sleep(POLL_S)
        log.info("stopped")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m qserv.admin.supervisor",
                                     description="Restart crashed processes of a local cluster.")
    parser.add_argument("--config", required=True, help="cluster dir or its qserv.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s supervisor %(levelname)s: %(message)s")
    Supervisor(ClusterConfig.load(args.config)).run()


if __name__ == "__main__":
    main()
