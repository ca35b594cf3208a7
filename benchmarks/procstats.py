"""What /proc says about a process: CPU seconds so far and peak resident memory (VmHWM).

Per-worker busy time is the CPU a worker's daemon and its mariadbd used during a query: on
one shared machine wall time mixes the workers together, their CPU time does not, which is
what the projection to N hosts needs.
"""

from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of every thread (0 if the process is gone)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class CpuMeter:
    """CPU seconds of named groups of pids between start() and stop()."""

    def __init__(self, groups: dict[str, list[int | None]]):
        self.groups = groups
        self.before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {g: sum(cpu_seconds(p) for p in pids) for g, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict[str, float]:
        now = self._now()
        return {g: round(now[g] - self.before.get(g, 0.0), 3) for g in now}
