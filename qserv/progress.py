"""Progress of long commands (`qserv partition`, `qserv ingest`, `qserv load`) where no terminal
shows it: plain lines, one per task every few seconds and one when it ends.

rich's bars redraw one line in place; written to a file or a pipe (a CI log, `| tee`) they come
out as fragments glued to the next output (`416/416loaded demo`) with a `?` rate before the
first sample. `PlainProgress` has the part of rich.progress.Progress's interface the commands
use (add_task, update, advance, context manager), so they pick one or the other with
`interactive()`:

    with (rich_progress() if interactive() else PlainProgress()) as bar:
        task = bar.add_task("partition Object", total=nbytes, rows=0)
        bar.update(task, advance=n, rows=rows)
    # -> partition Object: 40% (3.1 of 7.9 MB), 12,000 rows, 2.1 MB/s, 1.5 s
    #    partition Object: done (7.9 MB), 30,000 rows, 2.6 MB/s, 3.0 s
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO


def interactive(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default stdout) is a terminal, where bars redraw in place."""
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class _Task:
    description: str
    total: float | None
    unit: str
    fields: dict
    started: float = field(default_factory=time.monotonic)
    completed: float = 0.0
    last_line: float = 0.0
    finished: bool = False


def _amount(x: float, unit: str) -> str:
    if unit == "bytes":
        for size, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(x) >= size:
                return f"{x / size:.1f} {name}"
        return f"{x:.0f} B"
    return f"{x:,.0f}"


class PlainProgress:
    """Periodic plain lines instead of a redrawn bar; `unit` "bytes" shows sizes and a rate
    (once one is known: no `?`), anything else counts (e.g. transactions: `12/382`)."""

    def __init__(self, interval: float = 5.0, out: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.out = out or (lambda line: print(line, flush=True))
        self.clock = clock
        self.tasks: list[_Task] = []

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc) -> None:
        if exc and exc[0] is None:
            for task in self.tasks:
                self._finish(task)

    def add_task(self, description: str, total: float | None = None, unit: str = "bytes",
                 **fields) -> int:
        self.tasks.append(_Task(description, total, unit, fields, started=self.clock()))
        self.tasks[-1].last_line = self.tasks[-1].started
        return len(self.tasks) - 1

    def update(self, task_id: int, advance: float = 0, **fields) -> None:
        task = self.tasks[task_id]
        task.completed += advance
        task.fields.update(fields)
        now = self.clock()
        if task.total and task.completed >= task.total:
            self._finish(task)
        elif now - task.last_line >= self.interval and not task.finished:
            task.last_line = now
            self.out(self._line(task, now, done=False))

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _finish(self, task: _Task) -> None:
        if not task.finished:
            task.finished = True
            self.out(self._line(task, self.clock(), done=True))

    def _line(self, task: _Task, now: float, done: bool) -> str:
        seconds = max(now - task.started, 0.0)
        if task.unit == "bytes":
            amount = _amount(task.completed, "bytes")
            if done:
                parts = [f"done ({amount})"]
            elif task.total:
                parts = [f"{100 * task.completed / task.total:.0f}% ({amount} of "
                         f"{_amount(task.total, 'bytes')})"]
            else:
                parts = [amount]
        else:
            parts = [f"{task.completed:,.0f}" + (f"/{task.total:,.0f}" if task.total else "")
                     + (" done" if done else "")]
        parts += [f"{v:,} {k}" if isinstance(v, int) else f"{v} {k}" for k, v in task.fields.items()]
        if task.unit == "bytes" and seconds > 0 and task.completed > 0:
            parts.append(f"{_amount(task.completed / seconds, 'bytes')}/s")
        parts.append(f"{seconds:.1f} s")
        return f"{task.description}: " + ", ".join(parts)
